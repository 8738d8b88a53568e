package backup

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// walkLess must agree with the order filepath.WalkDir visits entries in,
// including names that sort before "/" (".", "-") and nested directories.
func TestWalkLessFollowsWalkDir(t *testing.T) {
	root := t.TempDir()
	for _, p := range []string{"a/b/c.txt", "a/b.txt", "a.txt", "a-b/x", "a/a", "b", "a/b/c/d", "a.b/z", "A/q"} {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	files, _, err := walkDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for i := range files {
		for j := range files {
			if got, want := walkLess(files[i].Path, files[j].Path), i < j; got != want {
				t.Errorf("walkLess(%q, %q) = %v, want %v", files[i].Path, files[j].Path, got, want)
			}
		}
	}
}

// A digest is reused only while size, mtime, ctime and inode match; a
// rewritten file is hashed again even with its old size and mtime.
func TestPreviousIndexReusesOnlyUnchangedDigests(t *testing.T) {
	root := t.TempDir()
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(root, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("keep", "same")
	write("edit", "old!")
	var first bytes.Buffer
	w := &indexWriter{}
	w.enc = newLineEncoder(&first)
	if _, err := walkVolume(root, nil, w.add); err != nil {
		t.Fatal(err)
	}
	// Poison the recorded digests: whichever is reused shows up as such.
	recs, err := readIndex(&first)
	if err != nil || len(recs) != 2 {
		t.Fatalf("first index: %v %v", recs, err)
	}
	var poisoned bytes.Buffer
	pw := &indexWriter{enc: newLineEncoder(&poisoned)}
	for i := range recs {
		recs[i].SHA256 = "reused"
		pw.add(&recs[i])
	}
	st, _ := os.Stat(filepath.Join(root, "edit"))
	write("edit", "new!")
	os.Chtimes(filepath.Join(root, "edit"), st.ModTime(), st.ModTime()) // same size, same mtime: only ctime tells
	got := map[string]string{}
	if _, err := walkVolume(root, newIndexReader(&poisoned), func(r *FileRecord) error {
		got[r.Path] = r.SHA256
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got["keep"] != "reused" {
		t.Errorf("unchanged file: digest %q, want the recorded one", got["keep"])
	}
	if got["edit"] == "reused" || len(got["edit"]) != 64 {
		t.Errorf("rewritten file: digest %q, want a fresh sha256", got["edit"])
	}
}

func TestSettleIndexDropsDigestsOfChangedFiles(t *testing.T) {
	root := t.TempDir()
	for _, n := range []string{"a", "b"} {
		if err := os.WriteFile(filepath.Join(root, n), []byte(n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	idx := filepath.Join(t.TempDir(), "x.index.jsonl")
	w, err := createIndex(idx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := walkVolume(root, nil, w.add); err != nil {
		t.Fatal(err)
	}
	if err := w.close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "b"), []byte("bigger"), 0o644); err != nil {
		t.Fatal(err)
	}
	n, err := settleIndex(root, idx)
	if err != nil || n != 1 {
		t.Fatalf("settle: %d volatile, %v; want 1", n, err)
	}
	f, _ := os.Open(idx)
	defer f.Close()
	recs, err := readIndex(f)
	if err != nil || len(recs) != 2 || recs[0].SHA256 == "" || recs[1].SHA256 != "" {
		t.Fatalf("settled index: %+v, %v", recs, err)
	}
}
