package cli

import (
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/dockerbank/dockerbank/internal/backup"
)

// backupProgress renders restic's progress of a volume capture: on a
// terminal one bar, redrawn in place; elsewhere a line every 10 s.
type backupProgress struct {
	a     *app
	tty   bool
	last  time.Time
	drawn bool
}

func (a *app) newBackupProgress() *backupProgress {
	f, ok := a.streams.Err.(*os.File)
	return &backupProgress{a: a, tty: ok && term.IsTerminal(int(f.Fd()))}
}

// due reports whether a progress line is due: every tty interval on a
// terminal, every 10 s otherwise; it records the time of the line.
func (p *backupProgress) due(tty time.Duration) bool {
	every := 10 * time.Second
	if p.tty {
		every = tty
	}
	if time.Since(p.last) < every {
		return false
	}
	p.last = time.Now()
	return true
}

func (p *backupProgress) status(volume string, s backup.Status) {
	if p.a.quiet {
		return
	}
	if !p.due(200 * time.Millisecond) {
		return
	}
	line := progressLine(volume, s)
	progressMu.Lock()
	defer progressMu.Unlock()
	if p.tty {
		fmt.Fprintf(p.a.streams.Err, "\r\x1b[K%s", line)
		p.drawn = true
		return
	}
	fmt.Fprintf(p.a.streams.Err, "%s %s\n", time.Now().Format("15:04:05"), line)
}

// clear removes a drawn bar before a normal line is printed.
func (p *backupProgress) clear() {
	if p.drawn {
		fmt.Fprint(p.a.streams.Err, "\r\x1b[K")
		p.drawn = false
	}
}

// progressLine is "  data [=======>      ] 52% 412.0 MiB/790.6 MiB 135.2 MiB/s ETA 3s".
func progressLine(volume string, s backup.Status) string {
	const width = 24
	frac := 0.0
	if s.TotalBytes > 0 {
		frac = min(float64(s.BytesDone)/float64(s.TotalBytes), 1)
	}
	n := int(frac * width)
	bar := strings.Repeat("=", n)
	if n < width {
		bar += ">" + strings.Repeat(" ", width-n-1)
	}
	rate, eta := "-", "-"
	if s.Seconds > 0 {
		r := float64(s.BytesDone) / s.Seconds
		rate = humanBytes(int64(r)) + "/s"
		if r > 0 && s.TotalBytes > s.BytesDone {
			eta = (time.Duration(float64(s.TotalBytes-s.BytesDone)/r) * time.Second).Round(time.Second).String()
		}
	}
	return fmt.Sprintf("  %s [%s] %3.0f%% %s/%s %s ETA %s", volume, bar, frac*100,
		humanBytes(s.BytesDone), humanBytes(s.TotalBytes), rate, eta)
}

// transfer renders the progress of a copy to an off-site repository:
// bytes sent and the throughput, like the backup bar.
func (p *backupProgress) transfer(copy string, t backup.Transfer) {
	if p.a.quiet || t.Op != "copy" {
		return
	}
	if !p.due(500 * time.Millisecond) {
		return
	}
	rate := "-"
	if t.Seconds > 0 {
		rate = humanBytes(int64(float64(t.Written)/t.Seconds)) + "/s"
	}
	line := fmt.Sprintf("  copy to %s: %s sent, %s read, %s", copy, humanBytes(t.Written), humanBytes(t.Read), rate)
	progressMu.Lock()
	defer progressMu.Unlock()
	if p.tty {
		fmt.Fprintf(p.a.streams.Err, "\r\x1b[K%s", line)
		p.drawn = true
		return
	}
	fmt.Fprintf(p.a.streams.Err, "%s %s\n", time.Now().Format("15:04:05"), line)
}
