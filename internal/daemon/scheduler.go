package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/dockerbank/dockerbank/internal/schedule"
	"github.com/dockerbank/dockerbank/internal/site"
)

// SchedulerCommand is the journal command of the scheduler's own records.
const SchedulerCommand = "dockerbank serve: scheduler"

// ProtectJobs runs the protect jobs the scheduler starts. serve implements
// it with the backup job, which takes the site lock itself.
type ProtectJobs interface {
	// Backup stores a new backup group of the instance.
	Backup(ctx context.Context, instance string) error
	// Drill verifies the repository and restores the newest group into a
	// throwaway instance; the result is recorded with site.SaveDrill.
	Drill(ctx context.Context, instance string) error
	// Forget applies a retention policy to the instance's groups.
	Forget(ctx context.Context, instance string, keep schedule.Keep) error
}

// CopyJobs, when the ProtectJobs also implement it, runs the off-site
// copies that have a schedule of their own (site.yaml backup.copies).
type CopyJobs interface {
	// Copy copies the instance's new groups to one off-site copy.
	Copy(ctx context.Context, instance, copy string) error
}

// JobCopy is the job name of a scheduled off-site copy.
const JobCopy = "copy"

// Scheduler runs each instance's backups and restore drills when its
// protect policy says they are due, one job at a time. What ran last is
// read from the site (the instance record's lastBackup, the drill result
// file) and failed attempts from the journal, so a restart of serve neither
// repeats nor forgets a run.
type Scheduler struct {
	Site *site.Site
	// EntryPolicy returns the protect policy of an instance's entry (nil
	// when the entry has none).
	EntryPolicy func(ctx context.Context, in *site.Instance) (*schedule.Policy, error)
	Jobs        ProtectJobs
	// Now is the clock (default time.Now); tests inject a fake one.
	Now func() time.Time
	Log *slog.Logger
	// Tick is the time between two checks of the schedule (default 1 min).
	Tick time.Duration
	// Grace is how long a job that runs when the context of RunDue (or
	// Run) ends may go on before its own context ends (0: at once). No
	// further job starts once that context has ended.
	Grace time.Duration

	mu     sync.Mutex
	seeded bool
	failed map[string]time.Time // job/instance -> newest failed attempt
}

// Plan is the protect schedule of one instance.
type Plan struct {
	Instance string `json:"instance"`
	// Source names the layers the policy came from (entry, site default,
	// site instance), or none.
	Source     string               `json:"source"`
	Backup     string               `json:"backup"`
	Drill      string               `json:"drill"`
	Keep       *schedule.Keep       `json:"keep,omitempty"`
	NextBackup time.Time            `json:"nextBackup,omitzero"`
	NextDrill  time.Time            `json:"nextDrill,omitzero"`
	LastBackup time.Time            `json:"lastBackup,omitzero"`
	BackupSize int64                `json:"lastBackupBytes,omitempty"`
	BackupSecs float64              `json:"lastBackupSeconds,omitempty"`
	LastDrill  *site.Drill          `json:"lastDrill,omitempty"`
	Failed     map[string]time.Time `json:"lastFailedAttempt,omitempty"`
	// Error says why the policy could not be read; the instance is not
	// scheduled then.
	Error string `json:"error,omitempty"`
}

// Ran is one job the scheduler started.
type Ran struct {
	Instance string
	Job      string // backup, drill, forget
	Err      error
}

// OutcomeInterrupted is the journal outcome of a job that serve's stop
// cancelled; unlike a failed one it is run again at the next check.
const OutcomeInterrupted = "interrupted"

// Job names.
const (
	JobBackup = "backup"
	JobDrill  = "drill"
	JobForget = "forget"
)

func (s *Scheduler) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Scheduler) log() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return s.Log
}

// seed reads the failed attempts from the journal once.
func (s *Scheduler) seed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seeded {
		return nil
	}
	recs, err := s.Site.Journal()
	if err != nil {
		return err
	}
	s.failed = map[string]time.Time{}
	for _, r := range recs {
		if r.Command != SchedulerCommand || r.Outcome != "failed" {
			continue
		}
		if job, ok := attemptFailure(r.Detail); ok {
			s.failed[job+"/"+r.Instance] = r.Time
		}
	}
	s.seeded = true
	return nil
}

// attemptFailure tells failed attempts (retried after schedule.RetryAfter)
// from drills that ran and found a problem (a result, not retried).
func attemptFailure(detail string) (string, bool) {
	switch {
	case strings.HasPrefix(detail, "backup failed: "):
		return JobBackup, true
	case strings.HasPrefix(detail, "drill not run: "):
		return JobDrill, true
	}
	return "", false
}

func (s *Scheduler) lastFailed(job, instance string) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed[job+"/"+instance]
}

// Plans computes the schedule of every instance of the site.
func (s *Scheduler) Plans(ctx context.Context) ([]Plan, error) {
	if err := s.seed(); err != nil {
		return nil, err
	}
	ins, err := s.Site.Instances()
	if err != nil {
		return nil, err
	}
	cfg, err := s.Site.Config()
	if err != nil {
		return nil, err
	}
	out := make([]Plan, 0, len(ins))
	for _, in := range ins {
		out = append(out, s.plan(ctx, cfg, in))
	}
	return out, nil
}

func (s *Scheduler) plan(ctx context.Context, cfg *site.Config, in *site.Instance) Plan {
	p := Plan{Instance: in.Name, LastBackup: in.LastBackup, BackupSize: in.LastBackupBytes, BackupSecs: in.LastBackupSeconds}
	var entry *schedule.Policy
	if s.EntryPolicy != nil {
		var err error
		if entry, err = s.EntryPolicy(ctx, in); err != nil {
			p.Error = err.Error()
		}
	}
	r, err := schedule.Resolve(
		schedule.Layer{Name: "entry", Policy: entry},
		schedule.Layer{Name: "site default", Policy: cfg.Protect.Default},
		schedule.Layer{Name: "site instance", Policy: cfg.Protect.Instances[in.Name]})
	if err != nil {
		p.Error = err.Error()
		return p
	}
	p.Source, p.Backup, p.Drill, p.Keep = r.Source(), r.Backup.String(), r.Drill.String(), r.Keep
	if d, err := s.Site.LastDrill(in.Name); err != nil {
		p.Error = err.Error()
	} else {
		p.LastDrill = d
	}
	for _, job := range []string{JobBackup, JobDrill} {
		if t := s.lastFailed(job, in.Name); !t.IsZero() {
			if p.Failed == nil {
				p.Failed = map[string]time.Time{}
			}
			p.Failed[job] = t
		}
	}
	p.NextBackup = r.Backup.Next(schedule.Run{Last: in.LastBackup, Since: in.Created, Failed: p.Failed[JobBackup]})
	if !in.LastBackup.IsZero() {
		// A drill restores a backup: none is due before the first one.
		dr := schedule.Run{Since: in.Created, Failed: p.Failed[JobDrill]}
		if p.LastDrill != nil {
			dr.Last = p.LastDrill.Time
		}
		p.NextDrill = r.Drill.Next(dr)
	}
	return p
}

// RunDue runs every job that is due now, one after the other, and returns
// what it ran. Once ctx ends it starts no further job; the running one
// ends within Grace.
func (s *Scheduler) RunDue(ctx context.Context) ([]Ran, error) {
	plans, err := s.Plans(ctx)
	if err != nil {
		return nil, err
	}
	jctx, cancel := afterGrace(ctx, s.Grace)
	defer cancel()
	var ran []Ran
	for _, p := range plans {
		if ctx.Err() != nil {
			break
		}
		if p.Error != "" {
			s.log().Warn("protect policy", "instance", p.Instance, "err", p.Error)
			continue
		}
		if due(p.NextBackup, s.now()) {
			err := s.runBackup(jctx, p)
			ran = append(ran, Ran{p.Instance, JobBackup, err})
			if err == nil && p.Keep != nil && ctx.Err() == nil {
				ran = append(ran, Ran{p.Instance, JobForget, s.runForget(jctx, p)})
			}
			if err == nil {
				// The drill plan depends on the new backup.
				if in, ierr := s.Site.Instance(p.Instance); ierr == nil {
					if cfg, cerr := s.Site.Config(); cerr == nil {
						p = s.plan(ctx, cfg, in)
					}
				}
			}
		}
		if ctx.Err() == nil && due(p.NextDrill, s.now()) {
			ran = append(ran, Ran{p.Instance, JobDrill, s.runDrill(jctx, p)})
		}
		ran = append(ran, s.runCopies(ctx, jctx, p)...)
	}
	return ran, nil
}

// runCopies runs the scheduled off-site copies of an instance that are
// due: a copy is due by its schedule after its newest copy (or, before
// the first, after the instance's first backup). Each copy starts only
// while ctx runs and runs under jctx.
func (s *Scheduler) runCopies(ctx, jctx context.Context, p Plan) []Ran {
	cj, ok := s.Jobs.(CopyJobs)
	if !ok || p.LastBackup.IsZero() || ctx.Err() != nil {
		return nil
	}
	cfg, err := s.Site.Config()
	if err != nil {
		return nil
	}
	recs, err := s.Site.Copies()
	if err != nil {
		return nil
	}
	var ran []Ran
	for i, cc := range cfg.Backup.Copies {
		if cc.Schedule == "" || ctx.Err() != nil {
			continue
		}
		spec, err := schedule.Parse(cc.Schedule)
		if err != nil {
			continue
		}
		name := cc.CopyName(i)
		var last time.Time
		for _, r := range recs {
			if r.Instance == p.Instance && r.Copy == name && r.Copied.After(last) {
				last = r.Copied
			}
		}
		next := spec.Next(schedule.Run{Last: last, Since: p.LastBackup, Failed: s.lastFailed(JobCopy+"-"+name, p.Instance)})
		if !due(next, s.now()) {
			continue
		}
		start := s.now()
		err = cj.Copy(jctx, p.Instance, name)
		if err != nil {
			s.fail(JobCopy+"-"+name, p.Instance, start)
			err = s.journal(p.Instance, "failed", "copy "+name+" failed: "+err.Error(), err)
		} else {
			err = s.journal(p.Instance, "ok", "copy "+name+" ok (schedule "+cc.Schedule+")", nil)
		}
		ran = append(ran, Ran{p.Instance, JobCopy, err})
	}
	return ran
}

func due(next, now time.Time) bool { return !next.IsZero() && !next.After(now) }

func (s *Scheduler) runBackup(ctx context.Context, p Plan) error {
	s.log().Info("scheduled backup", "instance", p.Instance, "policy", p.Backup)
	start := s.now()
	err := s.Jobs.Backup(ctx, p.Instance)
	if err != nil && ctx.Err() != nil {
		// serve stopped: not a failed attempt, so the next start runs the
		// backup at once instead of after schedule.RetryAfter.
		s.log().Warn("scheduled backup interrupted", "instance", p.Instance, "err", err)
		return s.journal(p.Instance, OutcomeInterrupted, "backup interrupted: "+err.Error(), err)
	}
	if err != nil {
		s.fail(JobBackup, p.Instance, start)
		s.log().Warn("scheduled backup", "instance", p.Instance, "err", err)
		return s.journal(p.Instance, "failed", "backup failed: "+err.Error(), err)
	}
	s.log().Info("scheduled backup done", "instance", p.Instance, "seconds", s.now().Sub(start).Seconds())
	return s.journal(p.Instance, "ok", "backup ok (policy "+p.Backup+")", nil)
}

func (s *Scheduler) runForget(ctx context.Context, p Plan) error {
	k := *p.Keep
	err := s.Jobs.Forget(ctx, p.Instance, k)
	detail := fmt.Sprintf("forget (keep daily %d, weekly %d, monthly %d)", k.Daily, k.Weekly, k.Monthly)
	if err != nil {
		s.log().Warn("scheduled retention", "instance", p.Instance, "err", err)
		return s.journal(p.Instance, "failed", detail+": "+err.Error(), err)
	}
	return s.journal(p.Instance, "ok", detail, nil)
}

func (s *Scheduler) runDrill(ctx context.Context, p Plan) error {
	s.log().Info("scheduled restore drill", "instance", p.Instance, "policy", p.Drill)
	start := s.now()
	before := p.LastDrill
	err := s.Jobs.Drill(ctx, p.Instance)
	after, rerr := s.Site.LastDrill(p.Instance)
	ran := rerr == nil && after != nil && (before == nil || after.Time.After(before.Time))
	switch {
	case err == nil:
		return s.journal(p.Instance, "ok", "drill ok (policy "+p.Drill+")", nil)
	case ran:
		// The drill ran and found a problem: a result (alerted on), not an
		// attempt to repeat within the hour.
		s.log().Warn("scheduled restore drill failed", "instance", p.Instance, "err", err)
		return s.journal(p.Instance, "failed", "drill failed: "+err.Error(), err)
	default:
		s.fail(JobDrill, p.Instance, start)
		s.log().Warn("scheduled restore drill not run", "instance", p.Instance, "err", err)
		return s.journal(p.Instance, "failed", "drill not run: "+err.Error(), err)
	}
}

func (s *Scheduler) fail(job, instance string, at time.Time) {
	s.mu.Lock()
	s.failed[job+"/"+instance] = at
	s.mu.Unlock()
}

func (s *Scheduler) journal(instance, outcome, detail string, err error) error {
	jerr := s.Site.Append(site.Record{Time: s.now().UTC(), Command: SchedulerCommand, Instance: instance, Outcome: outcome, Detail: detail})
	if jerr != nil {
		s.log().Warn("journal", "instance", instance, "err", jerr)
	}
	return errors.Join(err, jerr)
}

// Run checks the schedule every Tick until ctx ends; a job missed while
// serve was down runs once at the first check.
func (s *Scheduler) Run(ctx context.Context) {
	tick := s.Tick
	if tick <= 0 {
		tick = time.Minute
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		if _, err := s.RunDue(ctx); err != nil && ctx.Err() == nil {
			s.log().Warn("scheduler", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
