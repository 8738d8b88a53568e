package observe

import (
	"context"
	"io"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/dockerbank/dockerbank/internal/audit"
)

// Severities are the values of dockerbank_audit_findings' severity label.
var Severities = []string{"info", "low", "medium", "high", "critical"}

// ImageAudit is the cached result of auditing one image.
type ImageAudit struct {
	Image string
	ID    string
	Time  time.Time
	// Counts maps a severity name to the number of findings.
	Counts map[string]int
	// Err says why the image could not be audited.
	Err string
}

// High is the number of high and critical findings.
func (a ImageAudit) High() int { return a.Counts["high"] + a.Counts["critical"] }

// Auditor audits the images of the watched containers with the audit job
// at a slow cadence (when first seen, then every Every) and caches the
// finding counts; metrics and alerts read the cache, never the images.
type Auditor struct {
	Saver audit.ImageSaver
	// Every is the time between two audits of an image (default 6 h).
	Every time.Duration
	// Options are passed to audit.Image (suppressions, extra licence rules).
	Options audit.Options
	Log     *slog.Logger

	mu      sync.Mutex
	results map[string]ImageAudit
}

func (a *Auditor) every() time.Duration {
	if a.Every > 0 {
		return a.Every
	}
	return 6 * time.Hour
}

// Result returns the cached audit of an image.
func (a *Auditor) Result(image string) (ImageAudit, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	r, ok := a.results[image]
	return r, ok
}

// AuditDue audits, one after the other, every image whose result is missing
// or older than Every.
func (a *Auditor) AuditDue(ctx context.Context, images []string) {
	sort.Strings(images)
	for _, img := range images {
		if ctx.Err() != nil {
			return
		}
		if r, ok := a.Result(img); ok && time.Since(r.Time) < a.every() {
			continue
		}
		res := ImageAudit{Image: img, Time: time.Now(), Counts: map[string]int{}}
		rep, err := audit.Image(ctx, audit.FromEngine(a.Saver, img), a.Options)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			res.Err = err.Error()
			a.log().Warn("audit image", "image", img, "err", err)
		} else {
			res.ID = rep.Image.ID
			for _, f := range rep.Findings {
				res.Counts[f.Severity.String()]++
			}
		}
		a.mu.Lock()
		if a.results == nil {
			a.results = map[string]ImageAudit{}
		}
		a.results[img] = res
		a.mu.Unlock()
	}
}

// Run audits the images images() returns: new ones within a minute, known
// ones every Every. While images() lists none (serve's first collection is
// not done yet), it asks again after a few seconds.
func (a *Auditor) Run(ctx context.Context, images func() []string) {
	for {
		imgs := images()
		a.AuditDue(ctx, imgs)
		wait := time.Minute
		if len(imgs) == 0 {
			wait = 5 * time.Second
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

func (a *Auditor) log() *slog.Logger {
	if a.Log == nil {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return a.Log
}

// Images lists the distinct images of a snapshot's containers.
func (s Snapshot) Images() []string {
	seen := map[string]bool{}
	var out []string
	for _, c := range s.Containers {
		if c.Image != "" && !seen[c.Image] {
			seen[c.Image] = true
			out = append(out, c.Image)
		}
	}
	sort.Strings(out)
	return out
}
