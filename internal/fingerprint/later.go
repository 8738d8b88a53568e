package fingerprint

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/dockerbank/dockerbank/internal/dicom"
)

// Later is the work a Compute leaves running when it returns (Options.Later)
// and completes the fingerprint once that work ends. The one such work is
// the hashing of an Orthanc storage volume read on this host: it needs
// neither Orthanc nor its index, only files Orthanc never changes once
// written, so a backup lets it run beside its capture instead of before it
// (at 5 GB the hashing was most of what a first backup added to restic's
// own time).
type Later struct {
	ctx    context.Context
	cancel context.CancelFunc
	mu     sync.Mutex
	jobs   []*laterHash
}

// laterHash hashes the stored files of one declaration's attachments.
type laterHash struct {
	part string
	atts map[string]attachment // by storage UUID
	api  *dicom.Orthanc
	done chan struct{}
	sums map[string]string
	err  error
}

// NewLater returns a Later whose work ends early when ctx ends or Abandon
// is called.
func NewLater(ctx context.Context) *Later {
	ctx, cancel := context.WithCancel(ctx)
	return &Later{ctx: ctx, cancel: cancel}
}

func (l *Later) start(part string, atts map[string]attachment, api *dicom.Orthanc, hash func(context.Context) (map[string]string, error)) {
	j := &laterHash{part: part, atts: atts, api: api, done: make(chan struct{})}
	go func() {
		defer close(j.done)
		j.sums, j.err = hash(l.ctx)
	}()
	l.mu.Lock()
	l.jobs = append(l.jobs, j)
	l.mu.Unlock()
}

// Complete waits for the work and records in fp (what Compute returned)
// the damage it found: a stored file missing, or not matching the MD5
// Orthanc recorded. An instance whose file is missing because it was
// deleted after Compute listed it (Orthanc no longer knows it) leaves the
// fingerprint instead: it is no longer the application's data, and the
// capture may or may not hold it.
func (l *Later) Complete(fp *Fingerprint) error {
	l.mu.Lock()
	jobs := l.jobs
	l.jobs = nil
	l.mu.Unlock()
	var errs []error
	for _, j := range jobs {
		<-j.done
		if j.err != nil {
			errs = append(errs, fmt.Errorf("fingerprint %s: %w", j.part, j.err))
			continue
		}
		p, ok := fp.Part(j.part)
		if !ok {
			continue
		}
		j.record(l.ctx, p)
	}
	return errors.Join(errs...)
}

// record sets the Damage of p's items that the hashing covered.
func (j *laterHash) record(ctx context.Context, p *Part) {
	byID := make(map[string]string, len(j.atts)) // instance ID -> storage UUID
	for u, a := range j.atts {
		byID[a.id] = u
	}
	kept := p.Items[:0]
	for _, it := range p.Items {
		u, ok := byID[it.ID]
		if !ok { // asked for by REST: verified there
			kept = append(kept, it)
			continue
		}
		it.Damage = storedDamage(j.atts[u], j.sums, u)
		if _, there := j.sums[u]; !there && j.api != nil {
			_, err := j.api.MD5(ctx, it.ID)
			var he *dicom.HTTPError
			if errors.As(err, &he) && he.Status == http.StatusNotFound {
				continue // deleted since it was listed
			}
		}
		kept = append(kept, it)
	}
	p.Items = kept
}

// Abandon stops the work left running and waits for it to end; after
// Complete it does nothing.
func (l *Later) Abandon() {
	l.cancel()
	l.mu.Lock()
	jobs := l.jobs
	l.jobs = nil
	l.mu.Unlock()
	for _, j := range jobs {
		<-j.done
	}
}
