package deploy

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestSignatureOfArchiveAndDirAgree: the content of an image's VOLUME path
// (a tar from the archive API) and of a volume (its mountpoint) compare
// equal when they hold the same, and differ as soon as a file was written.
func TestSignatureOfArchiveAndDirAgree(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "sub"), 0o750)
	os.WriteFile(filepath.Join(dir, "sub", "f"), []byte("x"), 0o640)
	uid, gid := os.Getuid(), os.Getgid()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o700, Uid: uid, Gid: gid})
	tw.WriteHeader(&tar.Header{Name: "./sub/", Typeflag: tar.TypeDir, Mode: 0o750, Uid: uid, Gid: gid})
	tw.WriteHeader(&tar.Header{Name: "./sub/f", Typeflag: tar.TypeReg, Mode: 0o640, Size: 1, Uid: uid, Gid: gid})
	tw.Write([]byte("x"))
	tw.Close()
	fromTar, err := tarSignature(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	fromDir, err := dirSignature(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(fromTar, fromDir) {
		t.Fatalf("signatures differ:\n%q\n%q", fromTar, fromDir)
	}
	os.WriteFile(filepath.Join(dir, "patient.csv"), []byte("1,2"), 0o600)
	if after, _ := dirSignature(dir); slices.Equal(after, fromTar) {
		t.Error("a written file does not change the signature")
	}
	empty, _ := dirSignature(t.TempDir())
	if len(empty) != 0 {
		t.Errorf("empty directory: %q", empty)
	}
}
