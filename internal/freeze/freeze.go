package freeze

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/dockerbank/dockerbank/internal/audit"
	"github.com/dockerbank/dockerbank/internal/engine"
	"github.com/dockerbank/dockerbank/internal/progress"
	"github.com/dockerbank/dockerbank/internal/site"
)

// Command is the journal's name of the operation.
const Command = "freeze"

// ErrRefused means the top layer holds data or secrets and --allow-data
// was not given; nothing was written.
var ErrRefused = errors.New("freeze refused")

// ErrFileExists means the archive file exists and --force was not given.
var ErrFileExists = errors.New("archive file exists")

// Engine is what a freeze needs of the engine.
type Engine interface {
	CommitContainer(ctx context.Context, id string, o engine.CommitOptions) (string, error)
	SaveImage(ctx context.Context, ref string) (io.ReadCloser, error)
	RemoveImage(ctx context.Context, ref string) error
}

// Journal records operations (site.Site implements it).
type Journal interface {
	Append(site.Record) error
}

// Result is the outcome of a freeze, written or refused.
type Result struct {
	File    string `json:"file,omitempty"` // empty when refused
	Image   string `json:"image"`          // the tag; empty when refused (the image is removed)
	ImageID string `json:"imageId"`
	Size    int64  `json:"size"` // bytes of the archive
	// Layer is the audit of the committed top layer.
	Layer *audit.TopLayerReport `json:"layer"`
	// Findings are the blocking ones: refused the freeze, or allowed by
	// AllowedBy.
	Findings  []audit.Finding `json:"findings"`
	AllowedBy string          `json:"allowedBy,omitempty"`
	FrozenAt  time.Time       `json:"frozenAt"`
	// CommitSeconds is how long the commit took: the longest the
	// container can have been paused.
	CommitSeconds float64 `json:"commitSeconds"`
}

// Run freezes the container src to o.To. The committed image stays in the
// engine under Tag when the archive is written, so the push guard sees it;
// when refused or failed it is removed, and no file is left.
func Run(ctx context.Context, e Engine, j Journal, r progress.Reporter, src Source, o Options) (res *Result, err error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	at := o.Now
	if at.IsZero() {
		at = time.Now()
	}
	at = at.UTC().Truncate(time.Second)
	journal := func(outcome, detail string) {
		jerr := j.Append(site.Record{Command: Command, Instance: o.Instance, Outcome: outcome, Detail: detail})
		if jerr != nil && err == nil {
			err = fmt.Errorf("record the freeze in the journal: %w", jerr)
		}
	}
	if !o.Force {
		if _, err := os.Lstat(o.To); err == nil {
			journal("refused", fmt.Sprintf("%s/%s: %s exists (no --force)", o.Instance, o.Service, o.To))
			return nil, fmt.Errorf("%w: %s; choose another --to or add --force to replace it", ErrFileExists, o.To)
		}
	}
	res = &Result{FrozenAt: at, Findings: []audit.Finding{}}
	tag := Tag(o.Instance, o.Service, at)
	progress.Stepf(r, o.Instance, "commit %s (paused for the commit only) as %s", o.Service, tag)
	commitStart := time.Now()
	id, err := e.CommitContainer(ctx, src.ContainerID, engine.CommitOptions{
		Ref: tag, Labels: Labels(src, o, at),
		Comment: fmt.Sprintf("dockerbank freeze of %s/%s", o.Instance, o.Service),
	})
	if err != nil {
		journal("failed", err.Error())
		return nil, err
	}
	res.ImageID = id
	res.CommitSeconds = time.Since(commitStart).Seconds()
	keep := false
	defer func() {
		if keep {
			return
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if rerr := e.RemoveImage(rctx, id); rerr != nil && err == nil {
			err = fmt.Errorf("remove the refused image %s: %w", tag, rerr)
		}
	}()

	progress.Stepf(r, o.Instance, "save %s to %s and audit its top layer", tag, o.To)
	partial := o.To + ".partial"
	top, size, err := saveAndAudit(ctx, e, tag, partial)
	if err != nil {
		os.Remove(partial)
		journal("failed", err.Error())
		return nil, err
	}
	res.Layer = top
	d := Decide(top, o)
	res.Findings = append(res.Findings, d.Blocking...)
	if !d.Write {
		os.Remove(partial)
		paths := Paths(d.Blocking)
		journal("refused", fmt.Sprintf("%s/%s: top layer holds data or secrets: %s", o.Instance, o.Service, strings.Join(paths, "; ")))
		return res, fmt.Errorf("%w: the writable layer of %s in instance %s holds data or secrets:\n  %s\nremove them from the container (or keep them in a volume) and freeze again; "+
			"--allow-data --reason TEXT writes the archive anyway and journals why", ErrRefused, o.Service, o.Instance, strings.Join(paths, "\n  "))
	}
	if err := os.Rename(partial, o.To); err != nil {
		os.Remove(partial)
		journal("failed", err.Error())
		return nil, fmt.Errorf("move the archive into place: %w", err)
	}
	keep = true
	res.File, res.Image, res.Size = o.To, tag, size
	detail := fmt.Sprintf("%s/%s froze to %s as %s (%s, %d bytes)", o.Instance, o.Service, o.To, tag, id, size)
	if len(d.Blocking) > 0 {
		res.AllowedBy = o.Reason
		detail += fmt.Sprintf("; --allow-data, reason %q, for: %s", o.Reason, strings.Join(Paths(d.Blocking), "; "))
	}
	journal("ok", detail)
	return res, err
}

// saveAndAudit streams `docker save` of ref into file and, in the same
// pass, through the audit of the image's top layer. The file is synced.
func saveAndAudit(ctx context.Context, e Engine, ref, file string) (*audit.TopLayerReport, int64, error) {
	rc, err := e.SaveImage(ctx, ref)
	if err != nil {
		return nil, 0, err
	}
	defer rc.Close()
	f, err := os.OpenFile(file, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, 0, fmt.Errorf("create the archive: %w", err)
	}
	defer f.Close()
	tee := io.TeeReader(rc, f)
	top, err := audit.TopLayer(ctx, audit.FromReader(ref, tee), audit.Options{})
	if err != nil {
		return nil, 0, err
	}
	// The audit stops at the tar's end marker; the rest is padding.
	if _, err := io.Copy(io.Discard, tee); err != nil {
		return nil, 0, fmt.Errorf("write the archive %s: %w", file, err)
	}
	if err := f.Sync(); err != nil {
		return nil, 0, fmt.Errorf("sync the archive %s: %w", file, err)
	}
	st, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	if err := f.Close(); err != nil {
		return nil, 0, fmt.Errorf("close the archive %s: %w", file, err)
	}
	return top, st.Size(), nil
}
