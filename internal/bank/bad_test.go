package bank_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dockerbank/dockerbank/internal/bank"
)

// TestBadEntriesExactLine complements TestLoadDirBad: a mistake in a compose
// file (not entry.yaml) is reported at its exact file and line, with a fix.
func TestBadEntriesExactLine(t *testing.T) {
	type want struct {
		file    string // base name
		line    int
		message string // substring
	}
	tests := []struct {
		dir  string
		want []want
	}{
		{"compose-yaml-error", []want{{"compose.yaml", 7, "YAML error"}}},
		// The host-exposure rules of `dockerbank lint` (DB013 here) run
		// on every entry too.
		{"host-root-mount", []want{{"compose.yaml", 9, "mounts the host's root filesystem"}}},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			e, err := bank.LoadDir(t.Context(), filepath.Join("testdata", "bad", tt.dir))
			if e != nil {
				t.Fatalf("LoadDir returned an entry for a bad input")
			}
			var ps bank.Problems
			if !errors.As(err, &ps) {
				t.Fatalf("LoadDir error = %v, want bank.Problems", err)
			}
			if len(ps) != len(tt.want) {
				t.Fatalf("got %d problems, want %d:\n%v", len(ps), len(tt.want), ps)
			}
			for i, w := range tt.want {
				p := ps[i]
				if filepath.Base(p.File) != w.file || p.Line != w.line {
					t.Errorf("problem %d at %s:%d, want %s:%d (%s)", i, p.File, p.Line, w.file, w.line, p)
				}
				if !strings.Contains(p.Message, w.message) {
					t.Errorf("problem %d message %q does not contain %q", i, p.Message, w.message)
				}
				if p.Fix == "" {
					t.Errorf("problem %d has no fix: %s", i, p)
				}
				if !strings.Contains(p.File, filepath.Join("bad", tt.dir)) {
					t.Errorf("problem %d names file %s, not one of the entry", i, p.File)
				}
			}
		})
	}
}
