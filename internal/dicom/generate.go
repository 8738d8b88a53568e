package dicom

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/big"
	"math/rand/v2"
	"time"
)

// UID roots and fixed identifiers of the files this package writes.
const (
	// UIDRoot is the root of every UID generated here: "2.25" is ISO/ITU-T's
	// arc for UIDs made from a 128-bit UUID integer (ITU-T X.667), which
	// needs no registration. The 128 bits come from SHA-256 of the set's
	// seed and the object's position, so the same seed gives the same UIDs.
	UIDRoot = "2.25"

	// SecondaryCaptureImageStorage is the SOP class of generated instances:
	// a single-frame image with the fewest mandatory attributes, which every
	// archive and viewer accepts.
	SecondaryCaptureImageStorage = "1.2.840.10008.5.1.4.1.1.7"
	// ExplicitVRLittleEndian is the transfer syntax of generated files.
	ExplicitVRLittleEndian = "1.2.840.10008.1.2.1"
	// ImplementationVersionName names the writer in the file meta group.
	ImplementationVersionName = "DOCKERBANK_1"
)

// ImplementationClassUID identifies this writer in the file meta group.
var ImplementationClassUID = uid("implementation-class", 0)

// Set describes a deterministic data set of synthetic DICOM instances:
// Patients x StudiesPerPatient x SeriesPerStudy x InstancesPerSeries
// instances, numbered from 0. The zero value of each count means 1; Rows
// and Columns default to 64; Modality to "OT". Noise adds deterministic
// noise to the low NoiseBits bits of every pixel (0: none), so that the
// pixel data compresses like a real scanner's (a noiseless gradient
// compresses to almost nothing, which flatters any backup benchmark).
type Set struct {
	Seed               int64
	StudiesPerPatient  int
	SeriesPerStudy     int
	InstancesPerSeries int
	Rows, Columns      int
	Modality           string
	NoiseBits          int
}

// Instance is one generated DICOM Part 10 file and the identifiers an
// archive indexes it by.
type Instance struct {
	Index          int
	PatientID      string
	PatientName    string
	StudyUID       string
	SeriesUID      string
	SOPInstanceUID string
	// Data is the whole Part 10 file: preamble, "DICM", file meta group,
	// data set in Explicit VR Little Endian.
	Data []byte
}

// OrthancID is the identifier Orthanc gives this instance (see OrthancID).
func (in Instance) OrthancID() string {
	return OrthancID(in.PatientID, in.StudyUID, in.SeriesUID, in.SOPInstanceUID)
}

func (s Set) norm() Set {
	one := func(n *int) {
		if *n <= 0 {
			*n = 1
		}
	}
	one(&s.StudiesPerPatient)
	one(&s.SeriesPerStudy)
	one(&s.InstancesPerSeries)
	if s.Rows <= 0 {
		s.Rows = 64
	}
	if s.Columns <= 0 {
		s.Columns = 64
	}
	if s.Modality == "" {
		s.Modality = "OT"
	}
	return s
}

// Instance returns the i-th instance of the set (i >= 0). It depends only
// on the set and i, so instances can be made in any order, in parallel.
func (s Set) Instance(i int) Instance {
	s = s.norm()
	series := i / s.InstancesPerSeries
	study := series / s.SeriesPerStudy
	patient := study / s.StudiesPerPatient
	key := func(kind string, n int) string { return uid(fmt.Sprintf("%d/%s", s.Seed, kind), n) }
	in := Instance{
		Index:          i,
		PatientID:      fmt.Sprintf("DB%d-%06d", s.Seed, patient),
		PatientName:    fmt.Sprintf("Synthetic^Patient%06d", patient),
		StudyUID:       key("study", study),
		SeriesUID:      key("series", series),
		SOPInstanceUID: key("instance", i),
	}
	h := sha256.Sum256([]byte(fmt.Sprintf("%d/dates/%d", s.Seed, patient)))
	birth := time.Date(1930, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, int(binary.BigEndian.Uint32(h[:4])%(70*365)))
	studyDate := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, study%2000)
	sex := "MF"[patient%2 : patient%2+1]

	ds := []element{
		{0x0008, 0x0008, "CS", str("DERIVED\\SECONDARY")},
		{0x0008, 0x0016, "UI", uidValue(SecondaryCaptureImageStorage)},
		{0x0008, 0x0018, "UI", uidValue(in.SOPInstanceUID)},
		{0x0008, 0x0020, "DA", str(studyDate.Format("20060102"))},
		{0x0008, 0x0030, "TM", str(fmt.Sprintf("%02d%02d00", 8+study%10, series%60))},
		{0x0008, 0x0050, "SH", str(fmt.Sprintf("A%d", study))},
		{0x0008, 0x0060, "CS", str(s.Modality)},
		{0x0008, 0x0064, "CS", str("WSD")},
		{0x0008, 0x0090, "PN", nil},
		{0x0008, 0x1030, "LO", str("Dockerbank synthetic study")},
		{0x0008, 0x103E, "LO", str(fmt.Sprintf("Synthetic series %d", series%s.SeriesPerStudy+1))},
		{0x0010, 0x0010, "PN", str(in.PatientName)},
		{0x0010, 0x0020, "LO", str(in.PatientID)},
		{0x0010, 0x0030, "DA", str(birth.Format("20060102"))},
		{0x0010, 0x0040, "CS", str(sex)},
		{0x0020, 0x000D, "UI", uidValue(in.StudyUID)},
		{0x0020, 0x000E, "UI", uidValue(in.SeriesUID)},
		{0x0020, 0x0010, "SH", str(fmt.Sprintf("%d", study%100000))},
		{0x0020, 0x0011, "IS", str(fmt.Sprintf("%d", series%s.SeriesPerStudy+1))},
		{0x0020, 0x0013, "IS", str(fmt.Sprintf("%d", i%s.InstancesPerSeries+1))},
		{0x0020, 0x0020, "CS", nil},
		{0x0028, 0x0002, "US", u16(1)},
		{0x0028, 0x0004, "CS", str("MONOCHROME2")},
		{0x0028, 0x0010, "US", u16(uint16(s.Rows))},
		{0x0028, 0x0011, "US", u16(uint16(s.Columns))},
		{0x0028, 0x0100, "US", u16(16)},
		{0x0028, 0x0101, "US", u16(12)},
		{0x0028, 0x0102, "US", u16(11)},
		{0x0028, 0x0103, "US", u16(0)},
		{0x0028, 0x1050, "DS", str("2048")},
		{0x0028, 0x1051, "DS", str("4096")},
		{0x7FE0, 0x0010, "OW", pixels(s.Seed, i, s.Rows, s.Columns, s.NoiseBits)},
	}
	meta := []element{
		{0x0002, 0x0001, "OB", []byte{0, 1}},
		{0x0002, 0x0002, "UI", uidValue(SecondaryCaptureImageStorage)},
		{0x0002, 0x0003, "UI", uidValue(in.SOPInstanceUID)},
		{0x0002, 0x0010, "UI", uidValue(ExplicitVRLittleEndian)},
		{0x0002, 0x0012, "UI", uidValue(ImplementationClassUID)},
		{0x0002, 0x0013, "SH", str(ImplementationVersionName)},
	}
	in.Data = encodeFile(meta, ds)
	return in
}

// uid makes a 2.25 UID from SHA-256 of kind and n (128 bits, X.667).
func uid(kind string, n int) string {
	h := sha256.Sum256([]byte(fmt.Sprintf("dockerbank-dicom/%s/%d", kind, n)))
	return UIDRoot + "." + new(big.Int).SetBytes(h[:16]).String()
}

// pixels draws a 12-bit gradient with a bright disc whose place and size
// depend on the instance, so a viewer shows each image differently;
// noiseBits low bits of each pixel are replaced by deterministic noise.
func pixels(seed int64, i, rows, cols, noiseBits int) []byte {
	h := sha256.Sum256([]byte(fmt.Sprintf("%d/pixels/%d", seed, i)))
	rng := rand.New(rand.NewPCG(binary.LittleEndian.Uint64(h[8:16]), binary.LittleEndian.Uint64(h[16:24])))
	mask := 1<<min(max(noiseBits, 0), 12) - 1
	cx, cy := int(h[0])%cols, int(h[1])%rows
	r := rows/8 + int(h[2])%(rows/4+1)
	out := make([]byte, 2*rows*cols)
	for y := 0; y < rows; y++ {
		for x := 0; x < cols; x++ {
			v := (x + y) * 2047 / (rows + cols)
			if dx, dy := x-cx, y-cy; dx*dx+dy*dy <= r*r {
				v = 4000
			}
			if mask != 0 {
				v = v&^mask | int(rng.Uint32())&mask
			}
			binary.LittleEndian.PutUint16(out[2*(y*cols+x):], uint16(v))
		}
	}
	return out
}
