package dicom_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dockerbank/dockerbank/internal/dicom"
	"github.com/dockerbank/dockerbank/internal/testenv"
)

func TestInstanceParsesBack(t *testing.T) {
	set := dicom.Set{Seed: 7, StudiesPerPatient: 2, SeriesPerStudy: 3, InstancesPerSeries: 4, Rows: 32, Columns: 48, Modality: "CT"}
	for _, i := range []int{0, 1, 4, 11, 12, 23, 24, 999} {
		in := set.Instance(i)
		f, err := dicom.Parse(in.Data)
		if err != nil {
			t.Fatalf("instance %d: %v", i, err)
		}
		want := map[dicom.Tag]string{
			dicom.TagTransferSyntax:   dicom.ExplicitVRLittleEndian,
			dicom.TagSOPClassUID:      dicom.SecondaryCaptureImageStorage,
			dicom.TagSOPInstanceUID:   in.SOPInstanceUID,
			dicom.TagStudyInstanceUID: in.StudyUID,
			dicom.TagSeriesUID:        in.SeriesUID,
			dicom.TagPatientID:        in.PatientID,
			dicom.TagPatientName:      in.PatientName,
			dicom.TagModality:         "CT",
		}
		for tag, w := range want {
			if got, ok := f.String(tag); !ok || got != w {
				t.Errorf("instance %d: %s = %q, want %q", i, tag, got, w)
			}
		}
		rows, _ := f.Uint16(dicom.TagRows)
		cols, _ := f.Uint16(dicom.TagColumns)
		bits, _ := f.Uint16(dicom.TagBitsAllocated)
		px, _ := f.Bytes(dicom.TagPixelData)
		if rows != 32 || cols != 48 || bits != 16 || len(px) != 32*48*2 {
			t.Errorf("instance %d: rows %d cols %d bits %d pixel bytes %d, want 32 48 16 %d", i, rows, cols, bits, len(px), 32*48*2)
		}
		for _, u := range []string{in.SOPInstanceUID, in.StudyUID, in.SeriesUID} {
			if !strings.HasPrefix(u, dicom.UIDRoot+".") || len(u) > 64 {
				t.Errorf("instance %d: UID %q not under %s or longer than 64", i, u, dicom.UIDRoot)
			}
		}
		if !bytes.Equal(f.Encode(), in.Data) {
			t.Errorf("instance %d: Encode(Parse(file)) differs from the file", i)
		}
	}
}

func TestSetHierarchyAndDeterminism(t *testing.T) {
	set := dicom.Set{Seed: 1, StudiesPerPatient: 2, SeriesPerStudy: 2, InstancesPerSeries: 3}
	a, b := set.Instance(0), set.Instance(2)
	if a.SeriesUID != b.SeriesUID || a.SOPInstanceUID == b.SOPInstanceUID {
		t.Errorf("instances 0 and 2 should share a series and differ in SOP instance UID")
	}
	c := set.Instance(3) // next series, same study
	if c.SeriesUID == a.SeriesUID || c.StudyUID != a.StudyUID {
		t.Errorf("instance 3 should start a new series in the same study")
	}
	d := set.Instance(6) // next study, same patient
	if d.StudyUID == a.StudyUID || d.PatientID != a.PatientID {
		t.Errorf("instance 6 should start a new study of the same patient")
	}
	e := set.Instance(12) // next patient
	if e.PatientID == a.PatientID {
		t.Errorf("instance 12 should belong to a new patient")
	}
	if again := set.Instance(6); !bytes.Equal(again.Data, d.Data) {
		t.Error("the same set and index gave different files")
	}
	other := dicom.Set{Seed: 2, StudiesPerPatient: 2, SeriesPerStudy: 2, InstancesPerSeries: 3}.Instance(0)
	if other.SOPInstanceUID == a.SOPInstanceUID || other.PatientID == a.PatientID {
		t.Error("another seed gave the same identifiers")
	}
	seen := map[string]bool{}
	for i := 0; i < 2000; i++ {
		u := set.Instance(i).SOPInstanceUID
		if seen[u] {
			t.Fatalf("SOP instance UID of instance %d repeats", i)
		}
		seen[u] = true
	}
}

// TestDcmdumpReadsGenerated checks the files with an independent reader:
// dcmtk's dcmdump (Debian package dcmtk, installed by scripts/deps.sh).
func TestDcmdumpReadsGenerated(t *testing.T) {
	dcmdump := testenv.RequireCommand(t, "dcmdump")
	in := dicom.Set{Seed: 3, Rows: 16, Columns: 16}.Instance(5)
	p := filepath.Join(t.TempDir(), "x.dcm")
	if err := os.WriteFile(p, in.Data, 0o644); err != nil {
		t.Fatal(err)
	}
	// -E: refuse a damaged file instead of printing what it can.
	out, err := exec.Command(dcmdump, "-E", p).CombinedOutput()
	if err != nil {
		t.Fatalf("dcmdump refused the file: %v\n%s", err, out)
	}
	for _, want := range []string{
		"(0002,0010) UI =LittleEndianExplicit",
		"(0008,0018) UI [" + in.SOPInstanceUID + "]",
		"(0028,0004) CS [MONOCHROME2]",
		"(0028,0010) US 16",
		"(7fe0,0010) OW ",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("dcmdump output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "W: ") || strings.Contains(string(out), "E: ") {
		t.Errorf("dcmdump warned:\n%s", out)
	}
}

func TestParseRefuses(t *testing.T) {
	good := dicom.Set{Seed: 1, Rows: 4, Columns: 4}.Instance(0).Data
	cases := map[string]struct {
		data []byte
		want string
	}{
		"empty":     {nil, "not a DICOM Part 10 file"},
		"no DICM":   {append(make([]byte, 128), []byte("XXXX")...), "not a DICOM Part 10 file"},
		"truncated": {good[:len(good)-3], "runs past the end"},
		"implicit VR": {bytes.Replace(good, []byte(dicom.ExplicitVRLittleEndian+"\x00"), []byte("1.2.840.10008.1.2\x00\x00\x00\x00"), 1),
			"not supported"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := dicom.Parse(c.data)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Parse: %v, want an error containing %q", err, c.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add(dicom.Set{Seed: 1, Rows: 2, Columns: 2}.Instance(0).Data)
	f.Add(append(make([]byte, 128), []byte("DICM")...))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := dicom.Parse(data)
		if err != nil {
			return
		}
		again, err := dicom.Parse(file.Encode())
		if err != nil {
			t.Fatalf("a parsed file does not parse after Encode: %v", err)
		}
		if !bytes.Equal(again.Encode(), file.Encode()) {
			t.Fatal("Encode is not stable across a round trip")
		}
	})
}

// TestNoiseBits: noise replaces only the low bits of each pixel, the same
// way every time, and the zero value leaves the image as it was.
func TestNoiseBits(t *testing.T) {
	plain := dicom.Set{Seed: 5, Rows: 32, Columns: 32}
	noisy := plain
	noisy.NoiseBits = 8
	px := func(s dicom.Set) []byte {
		f, err := dicom.Parse(s.Instance(3).Data)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := f.Bytes(dicom.TagPixelData)
		return b
	}
	a, b := px(plain), px(noisy)
	if len(a) != len(b) || !bytes.Equal(b, px(noisy)) {
		t.Fatal("noisy pixels differ in size or from run to run")
	}
	differ := 0
	for i := 0; i < len(a); i += 2 {
		va, vb := uint16(a[i])|uint16(a[i+1])<<8, uint16(b[i])|uint16(b[i+1])<<8
		if va>>8 != vb>>8 {
			t.Fatalf("pixel %d: %#04x vs %#04x differ above the 8 noise bits", i/2, va, vb)
		}
		if va != vb {
			differ++
		}
	}
	if differ < len(a)/2/2 {
		t.Errorf("only %d of %d pixels changed by the noise", differ, len(a)/2)
	}
}
