package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/dockerbank/dockerbank/internal/progress"
)

// Progress goes to standard error, so that standard output stays
// parseable. Every job reports through one progress.Reporter: the app.
// With --quiet nothing is shown; with --json every event is one JSON
// object a line; otherwise steps are lines with the time, and the
// progress of a capture or copy is one bar redrawn in place on a terminal
// (a line every 10 s elsewhere).
var progressMu sync.Mutex

// renderer is the state of the progress output of one run.
type renderer struct {
	tty   bool
	last  time.Time       // of the last bar or throttled line
	drawn bool            // a bar is on screen
	seen  map[string]bool // compose events shown once per state
}

var _ progress.Reporter = (*app)(nil)

// Report renders one progress event.
func (a *app) Report(ev progress.Event) {
	if a.quiet {
		return
	}
	progressMu.Lock()
	defer progressMu.Unlock()
	r := a.renderer()
	if ev.Phase == progress.Compose && !r.firstCompose(ev) {
		return
	}
	if ev.Phase == progress.Capture || ev.Phase == progress.Copy {
		tty := 200 * time.Millisecond
		if ev.Phase == progress.Copy {
			tty = 500 * time.Millisecond
		}
		if !r.due(tty, a.json) {
			return
		}
	}
	if a.json {
		json.NewEncoder(a.streams.Err).Encode(struct {
			Time time.Time `json:"time"`
			progress.Event
		}{time.Now().UTC(), ev})
		return
	}
	if ev.Phase == progress.Capture || ev.Phase == progress.Copy {
		line := progressLine(ev)
		if ev.Phase == progress.Copy {
			line = transferLine(ev)
		}
		if r.tty {
			fmt.Fprintf(a.streams.Err, "\r\x1b[K%s", line)
			r.drawn = true
			return
		}
		fmt.Fprintf(a.streams.Err, "%s %s\n", time.Now().Format("15:04:05"), line)
		return
	}
	if r.drawn {
		fmt.Fprint(a.streams.Err, "\r\x1b[K")
		r.drawn = false
	}
	fmt.Fprintf(a.streams.Err, "%s %s\n", time.Now().Format("15:04:05"), stepLine(ev))
}

// Step reports a step of the CLI's own.
func (a *app) Step(msg string) {
	a.Report(progress.Event{Phase: progress.Step, Message: msg})
}

func (a *app) renderer() *renderer {
	if a.progress == nil {
		f, ok := a.streams.Err.(*os.File)
		a.progress = &renderer{tty: ok && term.IsTerminal(int(f.Fd())), seen: map[string]bool{}}
	}
	return a.progress
}

// firstCompose reports whether a compose event is shown: only final
// states and waits, each once.
func (r *renderer) firstCompose(ev progress.Event) bool {
	if ev.Message == "" {
		return false
	}
	if ev.State != "Done" && ev.State != "Error" && ev.State != "Warning" && ev.Message != "Waiting" {
		return false
	}
	key := ev.Service + "\x00" + ev.Message
	if r.seen[key] {
		return false
	}
	r.seen[key] = true
	return true
}

// due reports whether a bar or progress line is due: every tty interval
// on a terminal, every second as JSON, every 10 s otherwise; it records
// the time of the line. Captures and copies share it.
func (r *renderer) due(tty time.Duration, asJSON bool) bool {
	every := 10 * time.Second
	switch {
	case asJSON:
		every = time.Second
	case r.tty:
		every = tty
	}
	if time.Since(r.last) < every {
		return false
	}
	r.last = time.Now()
	return true
}

// stepLine is the text of an event that is not a bar.
func stepLine(ev progress.Event) string {
	el := (time.Duration(ev.Seconds * float64(time.Second))).Round(10 * time.Millisecond)
	switch ev.Phase {
	case progress.Compose:
		return fmt.Sprintf("  %-32s %s", ev.Service, ev.Message)
	case progress.Build:
		return "  " + ev.Message
	case progress.Push:
		return "  " + ev.Target + " " + ev.State
	case progress.Dumped:
		return fmt.Sprintf("  %s: %d stream(s), %s in %s (%s), %s new in the repository", ev.Volume, ev.Items,
			progress.Bytes(ev.Done), el, rate(ev.Done, ev.Seconds), progress.Bytes(ev.Added))
	case progress.Captured:
		return fmt.Sprintf("  %s: %d entries, %s in %s (%s, %s), %s new in the repository", ev.Volume, ev.Items,
			progress.Bytes(ev.Done), el, rate(ev.Done, ev.Seconds), ev.Mode, progress.Bytes(ev.Added))
	case progress.Group:
		return fmt.Sprintf("group %s complete: %d members, %s", ev.Target, ev.Items, progress.Bytes(ev.Done))
	case progress.RestoreVolume:
		return fmt.Sprintf("restore volume %s (%d entries, %s)", ev.Volume, ev.Items, progress.Bytes(ev.Total))
	case progress.Load:
		return fmt.Sprintf("load %s into %s (%s)", ev.Target, ev.Service, progress.Bytes(ev.Total))
	}
	return ev.Message
}

// rate is bytes per second, "-" before any time passed.
func rate(n int64, seconds float64) string {
	if seconds <= 0 {
		return "-"
	}
	return progress.Bytes(int64(float64(n)/seconds)) + "/s"
}

// progressLine is "  data [=======>      ] 52% 412.0 MiB/790.6 MiB 135.2 MiB/s ETA 3s".
func progressLine(ev progress.Event) string {
	const width = 24
	frac := 0.0
	if ev.Total > 0 {
		frac = min(float64(ev.Done)/float64(ev.Total), 1)
	}
	n := int(frac * width)
	bar := strings.Repeat("=", n)
	if n < width {
		bar += ">" + strings.Repeat(" ", width-n-1)
	}
	eta := "-"
	if ev.Seconds > 0 {
		r := float64(ev.Done) / ev.Seconds
		if r > 0 && ev.Total > ev.Done {
			eta = (time.Duration(float64(ev.Total-ev.Done)/r) * time.Second).Round(time.Second).String()
		}
	}
	return fmt.Sprintf("  %s [%s] %3.0f%% %s/%s %s ETA %s", ev.Volume, bar, frac*100,
		progress.Bytes(ev.Done), progress.Bytes(ev.Total), rate(ev.Done, ev.Seconds), eta)
}

// transferLine is the progress of a copy to an off-site repository:
// bytes sent and the throughput, like the backup bar.
func transferLine(ev progress.Event) string {
	return fmt.Sprintf("  copy to %s: %s sent, %s read, %s", ev.Target, progress.Bytes(ev.Done), progress.Bytes(ev.Read), rate(ev.Done, ev.Seconds))
}
