package backup

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/dockerbank/dockerbank/internal/site"
)

func TestPending(t *testing.T) {
	s, err := site.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []site.Record{
		{Command: "backup a", Instance: "a", Outcome: OutcomeStop, Op: "g1", Containers: []string{"c1", "c2"}},
		{Command: "backup a", Instance: "a", Outcome: OutcomeResumed, Op: "g1", Containers: []string{"c1", "c2"}},
		{Command: "backup b", Instance: "b", Outcome: OutcomePause, Op: "g2", Containers: []string{"c3"}},
		{Command: "backup c", Instance: "c", Outcome: OutcomeStop, Op: "g3", Containers: []string{"c4"}},
		{Command: "backup c", Instance: "c", Outcome: "failed", Op: "g3"},
	} {
		if err := s.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	got, err := Pending(s)
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, r := range got {
		ops = append(ops, r.Op)
	}
	if diff := cmp.Diff([]string{"g2", "g3"}, ops); diff != "" {
		t.Errorf("pending operations (-want +got):\n%s", diff)
	}
}

func TestLineWatcher(t *testing.T) {
	var lines []string
	w := &lineWatcher{fn: func(l string) { lines = append(lines, l) }}
	for _, chunk := range []string{"-- head", "er\n-- Current", " Database: `a`\nINSERT", "\n"} {
		w.Write([]byte(chunk))
	}
	if diff := cmp.Diff([]string{"-- header", "-- Current Database: `a`", "INSERT"}, lines); diff != "" {
		t.Error(diff)
	}
}

func TestCompareFiles(t *testing.T) {
	base := []FileRecord{{Path: "a", Type: "file", Mode: 0o640, UID: 1, GID: 2, SHA256: "x"}}
	for _, tc := range []struct {
		name string
		got  []FileRecord
		n    int
	}{
		{"identical", []FileRecord{{Path: "a", Type: "file", Mode: 0o640, UID: 1, GID: 2, SHA256: "x"}}, 0},
		{"content", []FileRecord{{Path: "a", Type: "file", Mode: 0o640, UID: 1, GID: 2, SHA256: "y"}}, 1},
		{"owner", []FileRecord{{Path: "a", Type: "file", Mode: 0o640, UID: 0, GID: 2, SHA256: "x"}}, 1},
		{"mode", []FileRecord{{Path: "a", Type: "file", Mode: 0o644, UID: 1, GID: 2, SHA256: "x"}}, 1},
		{"missing and extra", []FileRecord{{Path: "b", Type: "file"}}, 2},
		{"mtime", []FileRecord{{Path: "a", Type: "file", Mode: 0o640, UID: 1, GID: 2, SHA256: "x", MTime: time.Unix(5, 0)}}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if d := compareFiles(base, tc.got); len(d) != tc.n {
				t.Errorf("differences %q, want %d", d, tc.n)
			}
		})
	}
	// A file that changed while a live capture read it has no digest in
	// the index: its content and time are whatever restic read.
	volatile := []FileRecord{{Path: "log", Type: "file", Mode: 0o640, MTime: time.Unix(1, 0)}}
	if d := compareFiles(volatile, []FileRecord{{Path: "log", Type: "file", Mode: 0o640, MTime: time.Unix(2, 0), SHA256: "z"}}); len(d) != 0 {
		t.Errorf("volatile file: %q", d)
	}
	if d := compareFiles(volatile, []FileRecord{{Path: "log", Type: "file", Mode: 0o600}}); len(d) != 1 {
		t.Errorf("volatile file with another mode: %q, want one difference", d)
	}
}

// TestResumedNamesInterruptedPid: the "resumed" record names the pid of
// the command that was interrupted (from its quiesce record), and the
// resuming command's own pid apart from it.
func TestResumedNamesInterruptedPid(t *testing.T) {
	s, err := site.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// Written by another (killed) process, pid 4242.
	line := `{"time":"2026-01-01T00:00:00Z","user":"root","command":"backup a","instance":"a","outcome":"quiesce-stop","op":"g1","pid":4242}` + "\n"
	if err := os.WriteFile(filepath.Join(s.Dir, "journal.jsonl"), []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := resumePending(t.Context(), s, nil, "recover"); err != nil {
		t.Fatal(err)
	}
	recs, _ := s.Journal()
	last := recs[len(recs)-1]
	want := "pid 4242"
	if last.Outcome != OutcomeResumed || !strings.Contains(last.Detail, want) || strings.Contains(last.Detail, fmt.Sprintf("(pid %d)", os.Getpid())) {
		t.Errorf("resumed record %+v: want the interrupted pid 4242 named", last)
	}
	if last.PID != os.Getpid() {
		t.Errorf("the resumed record's own pid is %d, want %d", last.PID, os.Getpid())
	}
}
