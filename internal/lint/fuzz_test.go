package lint

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds arbitrary bytes through the compose loading path and the
// rules: Check must return a report or a typed error, never panic.
func FuzzLoad(f *testing.F) {
	if dir, err := findCorpus(); err == nil {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if filepath.Ext(e.Name()) == ".yml" || filepath.Ext(e.Name()) == ".yaml" {
				if data, err := os.ReadFile(filepath.Join(dir, e.Name())); err == nil {
					f.Add(data)
				}
			}
		}
	}
	f.Add([]byte("services: {a: {image: postgres, ports: ['5432']}}"))
	f.Add([]byte("a:\n  image: mysql\n  links: [b]\nb:\n  image: x\n"))
	f.Add([]byte("x-a: &a {image: redis}\nservices:\n  r:\n    <<: *a\n    environment: [A=${B:-c}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		file := filepath.Join(dir, "compose.yaml")
		if err := os.WriteFile(file, data, 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := Check(t.Context(), Options{Files: []string{file}, Now: testNow})
		if err != nil {
			var ae *AnalysisError
			var ue *UsageError
			if !errors.As(err, &ae) && !errors.As(err, &ue) {
				t.Fatalf("untyped error %T: %v", err, err)
			}
			return
		}
		for _, fd := range r.Findings {
			if fd.Rule == "" || fd.Severity == 0 || fd.File == "" {
				t.Fatalf("incomplete finding %+v", fd)
			}
		}
	})
}

// findCorpus is corpusDir without a testing.T, for fuzz seeding.
func findCorpus() (string, error) {
	dir, err := filepath.Abs(".")
	if err != nil {
		return "", err
	}
	for d := dir; filepath.Dir(d) != d; d = filepath.Dir(d) {
		c := filepath.Join(d, "shared", "corpus", "compose")
		if st, err := os.Stat(c); err == nil && st.IsDir() {
			return c, nil
		}
	}
	return "", os.ErrNotExist
}
