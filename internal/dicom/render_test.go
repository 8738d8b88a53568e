package dicom_test

import (
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/dockerbank/dockerbank/internal/dicom"
	"github.com/dockerbank/dockerbank/internal/testenv"
)

// TestRenders proves a viewer can draw the pixel data: dcmtk's dcm2pnm
// turns the file into a PNG of the right size whose disc is brighter than
// its background.
func TestRenders(t *testing.T) {
	dcm2pnm := testenv.RequireCommand(t, "dcm2pnm")
	in := dicom.Set{Seed: 9, Rows: 40, Columns: 60}.Instance(2)
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "x.dcm"), filepath.Join(dir, "x.png")
	if err := os.WriteFile(src, in.Data, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(dcm2pnm, "--write-png", "--use-window", "1", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("dcm2pnm: %v\n%s", err, out)
	}
	fh, err := os.Open(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	img, err := png.Decode(fh)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 60 || b.Dy() != 40 {
		t.Fatalf("PNG is %dx%d, want 60x40", b.Dx(), b.Dy())
	}
	lo, hi := uint32(1<<32-1), uint32(0)
	for y := 0; y < 40; y++ {
		for x := 0; x < 60; x++ {
			r, _, _, _ := img.At(x, y).RGBA()
			lo, hi = min(lo, r), max(hi, r)
		}
	}
	if hi-lo < 0x4000 {
		t.Errorf("rendered image is nearly flat (grey %#x..%#x)", lo, hi)
	}
}
