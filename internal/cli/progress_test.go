package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/dockerbank/dockerbank/internal/progress"
)

func TestProgressLine(t *testing.T) {
	got := progressLine(progress.Event{Phase: progress.Capture, Volume: "data", Done: 512 << 20, Total: 1024 << 20, Seconds: 4})
	want := "  data [============>           ]  50% 512.0 MiB/1.0 GiB 128.0 MiB/s ETA 4s"
	if got != want {
		t.Errorf("progressLine:\n got %q\nwant %q", got, want)
	}
	if got := progressLine(progress.Event{Phase: progress.Capture, Volume: "x"}); got != "  x [>                       ]   0% 0 B/0 B - ETA -" {
		t.Errorf("progressLine before the first bytes: %q", got)
	}
}

// TestStepLines: the lines the jobs used to format themselves are
// rendered from structured events, unchanged.
func TestStepLines(t *testing.T) {
	tests := []struct {
		ev   progress.Event
		want string
	}{
		{progress.Event{Phase: progress.Step, Message: "dump db (postgres in service db)"}, "dump db (postgres in service db)"},
		{progress.Event{Phase: progress.Dumped, Volume: "db", Items: 3, Done: 3 << 20, Added: 1 << 20, Seconds: 1.5},
			"  db: 3 stream(s), 3.0 MiB in 1.5s (2.0 MiB/s), 1.0 MiB new in the repository"},
		{progress.Event{Phase: progress.Captured, Volume: "files", Items: 12, Done: 2048, Added: 0, Seconds: 0.25, Mode: "dir"},
			"  files: 12 entries, 2.0 KiB in 250ms (8.0 KiB/s, dir), 0 B new in the repository"},
		{progress.Event{Phase: progress.Group, Target: "20261207T050000Z-abcdef", Items: 3, Done: 5 << 30},
			"group 20261207T050000Z-abcdef complete: 3 members, 5.0 GiB"},
		{progress.Event{Phase: progress.RestoreVolume, Volume: "demo_files", Items: 4, Total: 100}, "restore volume demo_files (4 entries, 100 B)"},
		{progress.Event{Phase: progress.Load, Target: "app.dump", Service: "db", Total: 1536}, "load app.dump into db (1.5 KiB)"},
		{progress.Event{Phase: progress.Compose, Service: "Container demo-db-1", State: "Done", Message: "Healthy"}, "  Container demo-db-1" + strings.Repeat(" ", 14) + "Healthy"},
		{progress.Event{Phase: progress.Build, Message: "Step 1/3 : FROM scratch"}, "  Step 1/3 : FROM scratch"},
		{progress.Event{Phase: progress.Push, Target: "abc123", State: "Pushed"}, "  abc123 Pushed"},
		{progress.Event{Phase: progress.Copy, Target: "offsite", Done: 1 << 20, Read: 2 << 20, Seconds: 2}, "  copy to offsite: 1.0 MiB sent, 2.0 MiB read, 512.0 KiB/s"},
	}
	for _, tc := range tests {
		got := stepLine(tc.ev)
		if tc.ev.Phase == progress.Copy {
			got = transferLine(tc.ev)
		}
		if got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.ev.Phase, got, tc.want)
		}
	}
}

// TestProgressJSON: with --json every event is one JSON object a line on
// standard error; compose events once per state; nothing with --quiet.
func TestProgressJSON(t *testing.T) {
	var errb bytes.Buffer
	a := &app{streams: Streams{Err: &errb}, json: true}
	a.Report(progress.Event{Phase: progress.Step, Instance: "demo", Message: "stop demo-app-1 for the capture"})
	a.Report(progress.Event{Phase: progress.Compose, Service: "Container demo-db-1", State: "Done", Message: "Healthy"})
	a.Report(progress.Event{Phase: progress.Compose, Service: "Container demo-db-1", State: "Done", Message: "Healthy"})
	a.Report(progress.Event{Phase: progress.Compose, Service: "Container demo-db-1", State: "Working", Message: "Starting"})
	a.Report(progress.Event{Phase: progress.Capture, Instance: "demo", Volume: "files", Done: 10, Total: 20, Seconds: 1})
	a.Report(progress.Event{Phase: progress.Dumped, Instance: "demo", Volume: "db", Service: "db", Items: 2, Done: 4096, Added: 1024, Seconds: 0.5})
	lines := strings.Split(strings.TrimSpace(errb.String()), "\n")
	var phases []string
	for _, l := range lines {
		var ev struct {
			progress.Event
			Time string `json:"time"`
		}
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		if ev.Time == "" {
			t.Errorf("line %q has no time", l)
		}
		phases = append(phases, ev.Phase)
	}
	if got, want := strings.Join(phases, " "), "step compose capture dumped"; got != want {
		t.Errorf("phases %q, want %q:\n%s", got, want, errb.String())
	}
	if !strings.Contains(lines[3], `"bytesDone":4096`) || !strings.Contains(lines[3], `"bytesAdded":1024`) || !strings.Contains(lines[3], `"instance":"demo"`) {
		t.Errorf("dumped event lacks its numbers: %s", lines[3])
	}

	errb.Reset()
	q := &app{streams: Streams{Err: &errb}, json: true, quiet: true}
	q.Report(progress.Event{Phase: progress.Step, Message: "x"})
	if errb.Len() != 0 {
		t.Errorf("--quiet printed %q", errb.String())
	}
}
