package cli

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/dockerbank/dockerbank/internal/progress"
)

// loud runs dockerbank like harness.run, but without --quiet: progress
// shows on standard error.
func (h *harness) loud(args ...string) result {
	h.t.Helper()
	var out, errb bytes.Buffer
	all := append([]string{"--site", h.site}, h.extra...)
	code := Main(append(all, args...), Streams{In: strings.NewReader(""), Out: &out, Err: &errb})
	return result{out.String(), errb.String(), code}
}

// TestBackupProgressOnTheEngine backs up a demo instance twice, once with
// --json and once as text: with --json standard error holds only JSON
// events (the dump, the file captures and the group with their numbers)
// and standard output only the result; as text the same events are the
// lines users have seen so far.
func TestBackupProgressOnTheEngine(t *testing.T) {
	if testing.Short() {
		t.Skip("deploys and backs up a demo instance on the engine: not with -short (make unit)")
	}
	h := newHarness(t)
	name := uniqueName("pg")
	h.cleanup(name)
	h.ok("deploy", "demo", "--name", name, "--version", "1.0")

	r := h.loud("backup", name, "--json")
	if r.code != 0 {
		t.Fatalf("backup --json: exit %d\n%s\n%s", r.code, r.out, r.err)
	}
	var res []map[string]any
	if err := json.Unmarshal([]byte(r.out), &res); err != nil {
		var one map[string]any
		if err2 := json.Unmarshal([]byte(r.out), &one); err2 != nil {
			t.Fatalf("standard output is not the JSON result: %v\n%s", err, r.out)
		}
	}
	phases := map[string]progress.Event{}
	for _, l := range strings.Split(strings.TrimSpace(r.err), "\n") {
		var ev progress.Event
		if err := json.Unmarshal([]byte(l), &ev); err != nil || ev.Phase == "" {
			t.Fatalf("standard error line is not a progress event: %q (%v)", l, err)
		}
		phases[ev.Phase] = ev
	}
	for _, p := range []string{progress.Step, progress.Dumped, progress.Captured, progress.Group} {
		if _, ok := phases[p]; !ok {
			t.Errorf("no %s event on standard error:\n%s", p, r.err)
		}
	}
	if d := phases[progress.Dumped]; d.Instance != name || d.Volume == "" || d.Done <= 0 || d.Items <= 0 {
		t.Errorf("dumped event lacks its numbers: %+v", d)
	}
	if g := phases[progress.Group]; g.Target == "" || g.Done <= 0 || g.Items < 2 {
		t.Errorf("group event lacks its numbers: %+v", g)
	}

	r = h.loud("backup", name)
	if r.code != 0 {
		t.Fatalf("backup: exit %d\n%s\n%s", r.code, r.out, r.err)
	}
	for _, re := range []string{
		`(?m)^\d\d:\d\d:\d\d   pgdata: \d+ stream\(s\), [0-9.]+ [KMG]?i?B in \S+ \(\S+ \S+/s\), \S+ \S+ new in the repository$`,
		`(?m)^\d\d:\d\d:\d\d   \w+: \d+ entries, .* \([^)]*, (dir|tar)\), .* new in the repository$`,
		`(?m)^\d\d:\d\d:\d\d group \S+ complete: \d+ members, [0-9.]+ [KMG]?i?B$`,
	} {
		if !regexp.MustCompile(re).MatchString(r.err) {
			t.Errorf("text progress lacks %s:\n%s", re, r.err)
		}
	}
}
