package backup

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dockerbank/dockerbank/internal/engine"
	"github.com/dockerbank/dockerbank/internal/site"
)

// Journal outcomes of quiesce records. A "quiesce-stop" or "quiesce-pause"
// record is written (and synced) before the containers are touched; the
// "resumed" record with the same Op after they run again.
const (
	OutcomeStop    = "quiesce-stop"
	OutcomePause   = "quiesce-pause"
	OutcomeResumed = "resumed"
)

// quiescer stops or pauses containers for the capture of one group and
// always records what it did in the journal first.
type quiescer struct {
	e       *engine.Engine
	s       *site.Site
	command string
	inst    string
	op      string
	mode    string // stop or pause
	ids     []string
	since   time.Time
	crash   func(string)
}

func (q *quiescer) quiesce(ctx context.Context, ids []string, mode string, stopTimeout time.Duration) error {
	if len(ids) == 0 {
		return nil
	}
	outcome := OutcomeStop
	if mode == "pause" {
		outcome = OutcomePause
	}
	if err := q.s.Append(site.Record{Command: q.command, Instance: q.inst, Outcome: outcome, Op: q.op, Containers: ids,
		Detail: fmt.Sprintf("%s %d container(s) for backup group %s", mode, len(ids), q.op)}); err != nil {
		return fmt.Errorf("journal containers before quiescing them: %w", err)
	}
	q.crash("quiesce-journaled")
	q.ids, q.mode, q.since = ids, mode, time.Now()
	for i, id := range ids {
		var err error
		if mode == "pause" {
			err = q.e.PauseContainer(ctx, id)
		} else {
			err = q.e.StopContainer(ctx, id, stopTimeout)
		}
		if err != nil {
			return err
		}
		if i == 0 {
			q.crash("quiesce-first-stopped")
		}
	}
	q.crash("quiesce-all-stopped")
	return nil
}

// resume starts or unpauses what quiesce touched and journals it. It uses
// its own context: it must run even when the operation was cancelled.
func (q *quiescer) resume() (time.Duration, error) {
	if len(q.ids) == 0 {
		return 0, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	held := time.Since(q.since)
	err := resumeContainers(ctx, q.e, q.ids)
	if err == nil {
		q.crash("resumed-before-journal")
		err = q.s.Append(site.Record{Command: q.command, Instance: q.inst, Outcome: OutcomeResumed, Op: q.op, Containers: q.ids,
			Detail: fmt.Sprintf("%s for %.1fs", q.mode, held.Seconds())})
	}
	q.ids = nil
	return held, err
}

// resumeContainers unpauses paused and starts stopped containers; gone
// containers are skipped (the instance was removed meanwhile).
func resumeContainers(ctx context.Context, e *engine.Engine, ids []string) error {
	var errs []error
	for _, id := range ids {
		insp, err := e.Inspect(ctx, id)
		if errors.Is(err, engine.ErrNotFound) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if insp.State == nil {
			continue
		}
		switch {
		case insp.State.Paused:
			err = e.UnpauseContainer(ctx, id)
		case !insp.State.Running:
			err = e.StartContainer(ctx, id)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Pending returns the quiesce records of the journal that have no resumed
// record yet: containers a crashed backup left stopped or paused.
func Pending(s *site.Site) ([]site.Record, error) {
	recs, err := s.Journal()
	if err != nil {
		return nil, err
	}
	open := map[string]int{}
	var out []site.Record
	for _, r := range recs {
		switch r.Outcome {
		case OutcomeStop, OutcomePause:
			open[r.Op] = len(out)
			out = append(out, r)
		case OutcomeResumed:
			if i, ok := open[r.Op]; ok {
				out[i].Op = "" // resolved
				delete(open, r.Op)
			}
		}
	}
	var pending []site.Record
	for _, r := range out {
		if r.Op != "" {
			pending = append(pending, r)
		}
	}
	return pending, nil
}

// Resume starts every container that a backup stopped or paused and whose
// backup never finished (the process was killed). It does nothing while
// another dockerbank process holds the site lock: that backup is still
// running and resumes its containers itself. It returns the containers it
// started.
func Resume(ctx context.Context, s *site.Site, e *engine.Engine, command string) ([]string, error) {
	pending, err := Pending(s)
	if err != nil || len(pending) == 0 {
		return nil, err
	}
	l, err := s.Lock(ctx, 0)
	if errors.Is(err, site.ErrLocked) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer l.Unlock()
	return resumePending(ctx, s, e, command)
}

func resumePending(ctx context.Context, s *site.Site, e *engine.Engine, command string) ([]string, error) {
	pending, err := Pending(s)
	if err != nil {
		return nil, err
	}
	var started []string
	var errs []error
	for _, r := range pending {
		if err := resumeContainers(ctx, e, r.Containers); err != nil {
			errs = append(errs, err)
			continue
		}
		started = append(started, r.Containers...)
		if err := s.Append(site.Record{Command: command, Instance: r.Instance, Outcome: OutcomeResumed, Op: r.Op, Containers: r.Containers,
			Detail: interruptedDetail(r)}); err != nil {
			errs = append(errs, err)
		}
	}
	return started, errors.Join(errs...)
}

// interruptedDetail names the interrupted command and its pid (journals
// written before records carried pids do not know it).
func interruptedDetail(r site.Record) string {
	if r.PID == 0 {
		return fmt.Sprintf("resumed after the interrupted %q", r.Command)
	}
	return fmt.Sprintf("resumed after the interrupted %q (pid %d)", r.Command, r.PID)
}
