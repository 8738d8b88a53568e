package conformance

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/dockerbank/dockerbank/internal/backup"
	"github.com/dockerbank/dockerbank/internal/bank"
	"github.com/dockerbank/dockerbank/internal/deploy"
	"github.com/dockerbank/dockerbank/internal/engine"
	"github.com/dockerbank/dockerbank/internal/fingerprint"
	"github.com/dockerbank/dockerbank/internal/progress"
	"github.com/dockerbank/dockerbank/internal/site"
)

// ErrFailed means a conformance run found a difference or a step failed.
var ErrFailed = errors.New("conformance run failed")

// Options controls Run.
type Options struct {
	Entry, Version, Variant string

	Bank   *bank.Bank
	Engine *engine.Engine
	// Site is the user's site: only the result is recorded there.
	Site   *site.Site
	Report progress.Reporter
	// Command is recorded in the site's journal.
	Command       string
	HealthTimeout time.Duration
	// AfterBackup runs after the backup with the throwaway site and the
	// group (tests damage the backup with it).
	AfterBackup func(ctx context.Context, s *site.Site, group string) error
}

// Step is one timed step of a run.
type Step struct {
	Name     string  `json:"name"`
	Instance string  `json:"instance,omitempty"`
	Seconds  float64 `json:"seconds"`
	// Result is ok, failed or skipped.
	Result string `json:"result"`
	Detail string `json:"detail,omitempty"`
}

// Result is the outcome of a run.
type Result struct {
	Entry   string    `json:"entry"`
	Version string    `json:"version"`
	Variant string    `json:"variant,omitempty"`
	Time    time.Time `json:"time"`
	OK      bool      `json:"ok"`
	Seconds float64   `json:"seconds"`
	Steps   []Step    `json:"steps"`
	// Error says what failed or differed, naming the instance.
	Error string `json:"error,omitempty"`
}

type run struct {
	o      Options
	e      *bank.Entry
	res    *Result
	ts     *site.Site // the throwaway site
	m      *deploy.Manager
	j      *backup.Job
	suffix string
	made   []string // instances created, in order
}

func (r *run) step(format string, args ...any) {
	progress.Stepf(r.o.Report, "", format, args...)
}

// timed runs one step and records it; its error ends the run.
func (r *run) timed(name, instance string, fn func() (string, error)) error {
	r.step("bank test: %s%s", name, map[bool]string{true: " (" + instance + ")", false: ""}[instance != ""])
	t := time.Now()
	detail, err := fn()
	st := Step{Name: name, Instance: instance, Seconds: round(time.Since(t).Seconds()), Result: "ok", Detail: detail}
	if err != nil {
		st.Result, st.Detail = "failed", err.Error()
	}
	r.res.Steps = append(r.res.Steps, st)
	if err != nil {
		if instance != "" { // errors from deep inside do not always name it
			return fmt.Errorf("%s: %s: %w", name, instance, err)
		}
		return fmt.Errorf("%s: %w", name, err)
	}
	r.step("bank test: %s done in %.1fs %s", name, st.Seconds, detail)
	return nil
}

func (r *run) skip(name, why string) {
	r.res.Steps = append(r.res.Steps, Step{Name: name, Result: "skipped", Detail: why})
	r.step("bank test: %s skipped: %s", name, why)
}

func round(s float64) float64 { return float64(int64(s*10+0.5)) / 10 }

// Run tests an entry version: deploy, write, back up, restore into a new
// instance and compare fingerprints, upgrade from the previous version
// where it runs here, and clean up. The result is recorded in the site.
func Run(ctx context.Context, o Options) (*Result, error) {
	start := time.Now()
	e, err := o.Bank.Get(o.Entry)
	if err != nil {
		return nil, err
	}
	resolved, err := e.Resolve(o.Version, o.Variant, nil)
	if err != nil {
		return nil, err
	}
	ver := resolved.Version
	if len(e.Fingerprint) == 0 {
		return nil, fmt.Errorf("entry %s declares no fingerprint: bank test compares fingerprints; add fingerprint: to its entry.yaml (docs/bank-format.md)", e.ID)
	}
	if e.Test == nil {
		return nil, fmt.Errorf("entry %s declares no test: (how bank test writes data through the application); add it to its entry.yaml (docs/bank-format.md)", e.ID)
	}
	dir, err := os.MkdirTemp("", "dockerbank-banktest-")
	if err != nil {
		return nil, fmt.Errorf("make throwaway site: %w", err)
	}
	ts, err := site.Open(dir)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 2)
	rand.Read(b)
	r := &run{o: o, e: e, ts: ts, suffix: hex.EncodeToString(b),
		res: &Result{Entry: e.ID, Version: ver.Version, Variant: o.Variant, Time: start.UTC()}}
	// Every published port goes to a host port the engine picks: the
	// throwaway instances never collide with the site's own.
	r.m = &deploy.Manager{Bank: o.Bank, Site: ts, Engine: o.Engine, Report: o.Report, Command: o.Command, HealthTimeout: o.HealthTimeout,
		EphemeralPorts: true}
	r.j = &backup.Job{M: r.m}
	runErr := r.all(ctx, ver.Version)
	cerr := r.timed("clean up", "", func() (string, error) { return r.cleanup(ctx, dir) })
	if cerr != nil {
		runErr = errors.Join(runErr, cerr)
	}
	r.res.Seconds = round(time.Since(start).Seconds())
	r.res.OK = runErr == nil
	detail := "deploy, write, backup, restore and fingerprint compare passed"
	if runErr != nil {
		r.res.Error = runErr.Error()
		detail = runErr.Error()
	}
	var errs []error
	if runErr != nil {
		errs = append(errs, fmt.Errorf("%w: %s %s: %w", ErrFailed, e.ID, ver.Version, runErr))
	}
	if o.Site != nil {
		c := site.Conformance{Version: ver.Version, Variant: o.Variant, Time: r.res.Time, OK: r.res.OK, Seconds: r.res.Seconds, Detail: detail}
		if err := o.Site.SaveConformance(e.ID, c); err != nil {
			errs = append(errs, err)
		}
		outcome := "ok"
		if runErr != nil {
			outcome = "failed"
		}
		if err := o.Site.Append(site.Record{Command: o.Command, Outcome: outcome, Detail: fmt.Sprintf("bank test %s %s: %s", e.ID, ver.Version, detail)}); err != nil {
			errs = append(errs, err)
		}
	}
	return r.res, errors.Join(errs...)
}

// name is a throwaway instance name: bt-<entry>-<suffix>-<role>.
func (r *run) name(role string) string {
	id := r.e.ID
	if len(id) > 30 {
		id = id[:30]
	}
	return fmt.Sprintf("bt-%s-%s-%s", id, r.suffix, role)
}

func (r *run) all(ctx context.Context, version string) error {
	a := r.name("a")
	if err := r.deployAndWrite(ctx, a, version); err != nil {
		return err
	}
	var live *fingerprint.Fingerprint
	if err := r.timed("fingerprint", a, func() (string, error) {
		var err error
		live, err = r.m.Fingerprint(ctx, a, r.e.Fingerprint, nil)
		if err != nil {
			return "", err
		}
		return live.Summary(), nil
	}); err != nil {
		return err
	}
	var group *backup.Manifest
	if err := r.timed("backup", a, func() (string, error) {
		var err error
		if group, err = r.j.Backup(ctx, a, backup.BackupOptions{}); err != nil {
			return "", err
		}
		if group.Fingerprint == nil {
			return "", fmt.Errorf("group %s of %s recorded no fingerprint", group.Group, a)
		}
		return fmt.Sprintf("group %s, %d members; fingerprint %s", group.Group, len(group.Members), group.Fingerprint.Summary()), nil
	}); err != nil {
		return err
	}
	if r.o.AfterBackup != nil {
		if err := r.o.AfterBackup(ctx, r.ts, group.Group); err != nil {
			return err
		}
	}
	b := r.name("b")
	r.made = append(r.made, b)
	if err := r.timed("restore", b, func() (string, error) {
		res, err := r.j.Restore(ctx, a, backup.RestoreOptions{Group: group.Group, As: b})
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("group %s of %s: %d tables and %d files match the manifest", group.Group, a, res.Tables, res.Files), nil
	}); err != nil {
		return err
	}
	if err := r.timed("compare", b, func() (string, error) {
		got, err := r.m.Fingerprint(ctx, b, group.Fingerprint.Specs, group.Fingerprint)
		if err != nil {
			return "", err
		}
		res, err := fingerprint.Check(b, fmt.Sprintf("backup group %s of %s", group.Group, a), group.Fingerprint, got)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%d items of %s as at the capture, %d added since by the running application", res.Items, b, res.Added), nil
	}); err != nil {
		return err
	}
	return r.upgrade(ctx, version)
}

func (r *run) deployAndWrite(ctx context.Context, name, version string) error {
	r.made = append(r.made, name)
	if err := r.timed("deploy "+version, name, func() (string, error) {
		if _, err := r.m.Deploy(ctx, deploy.DeployOptions{Entry: r.e.ID, Name: name, Version: version, Variant: r.o.Variant, Set: r.e.Test.Set}); err != nil {
			return "", err
		}
		return "healthy, ports published on host ports the engine picked", nil
	}); err != nil {
		return err
	}
	return r.timed("write", name, func() (string, error) { return r.write(ctx, name) })
}

func (r *run) write(ctx context.Context, name string) (string, error) {
	var done []string
	for _, w := range r.e.Test.Write {
		switch w.Kind {
		case bank.WriteExec:
			id, err := r.container(ctx, name, w.Service)
			if err != nil {
				return "", err
			}
			if _, err := r.o.Engine.ExecOutput(ctx, id, w.Exec...); err != nil {
				return "", fmt.Errorf("write through %s of %s: %w", w.Service, name, err)
			}
			done = append(done, "exec in "+w.Service)
		case bank.WriteDICOM:
			d, err := r.writeDICOM(ctx, name, w)
			if err != nil {
				return "", fmt.Errorf("write DICOM into %s: %w", name, err)
			}
			done = append(done, d)
		default:
			return "", fmt.Errorf("this dockerbank has no test writer of kind %q (entry %s, test.write)", w.Kind, r.e.ID)
		}
	}
	return strings.Join(done, "; "), nil
}
