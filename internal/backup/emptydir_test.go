package backup_test

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/dockerbank/dockerbank/internal/backup"
)

// TestEmptyDir: a replaced volume's contents are gone, the directory kept
// (with its mode), and with background deletion nothing is left beside it
// once the restore waits, also what an earlier, killed run left there.
func TestEmptyDir(t *testing.T) {
	for _, bg := range []bool{false, true} {
		t.Run(map[bool]string{false: "in place", true: "background"}[bg], func(t *testing.T) {
			vol := filepath.Join(t.TempDir(), "vol")
			dir := filepath.Join(vol, "_data")
			for _, p := range []string{"ab/cd/f1", "ab/ce/f2", "ff/00/f3", "top"} {
				if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, p), []byte(p), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Chmod(dir, 0o751); err != nil {
				t.Fatal(err)
			}
			stale := filepath.Join(vol, ".dockerbank-trash-killed", "xx")
			if err := os.MkdirAll(stale, 0o755); err != nil {
				t.Fatal(err)
			}
			var trash *sync.WaitGroup
			if bg {
				trash = &sync.WaitGroup{}
			}
			if err := backup.EmptyDir(dir, trash); err != nil {
				t.Fatal(err)
			}
			if ents, err := os.ReadDir(dir); err != nil || len(ents) != 0 {
				t.Fatalf("after emptyDir: %v %v, want an empty directory", ents, err)
			}
			if trash != nil {
				trash.Wait()
			}
			fi, err := os.Stat(dir)
			if err != nil || fi.Mode().Perm() != 0o751 {
				t.Fatalf("the directory itself: %v %v, want it kept with mode 0751", fi, err)
			}
			left, _ := filepath.Glob(filepath.Join(vol, ".dockerbank-trash-*"))
			if bg && len(left) != 0 {
				t.Errorf("left beside the volume: %q", left)
			}
		})
	}
}
