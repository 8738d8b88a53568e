package dr

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/dockerbank/dockerbank/internal/bank"
	"github.com/dockerbank/dockerbank/internal/deploy"
	"github.com/dockerbank/dockerbank/internal/engine"
	"github.com/dockerbank/dockerbank/internal/fingerprint"
	"github.com/dockerbank/dockerbank/internal/instance/label"
	"github.com/dockerbank/dockerbank/internal/progress"
	"github.com/dockerbank/dockerbank/internal/site"
)

// ErrNotEmpty means an instance to recover exists already, in the site or
// on the engine.
var ErrNotEmpty = errors.New("target not empty")

// ErrNoBackupKey means no password for the backup repository was given,
// or one that does not open it.
var ErrNoBackupKey = errors.New("backup repository password missing or wrong")

// Repository is the backup repository as recovery needs it.
type Repository interface {
	// Groups returns the complete groups of an instance, oldest first.
	Groups(ctx context.Context, instance string) ([]GroupInfo, error)
	// Check makes sure a group can be restored as a whole: its manifest
	// is readable and every member it names is stored.
	Check(ctx context.Context, instance, group string) error
	// MarkVerified records that a drill restored a group and found it
	// identical to its manifest.
	MarkVerified(ctx context.Context, instance, group string, when time.Time) error
}

// Restorer restores one backup group of the instance source as the new
// instance target, deploying it with m first, and says what it compared.
type Restorer interface {
	// uses maps services to the (restored) shared servers the target
	// uses instead of its own (nil: none).
	RestoreGroup(ctx context.Context, m *deploy.Manager, source, group, target string, uses map[string]string) (string, error)
}

// RepositoryOpener opens a backup repository at a location with a
// password file.
type RepositoryOpener func(ctx context.Context, location, passwordFile string, a site.Access) (Repository, error)

// RestoreOptions controls Restore.
type RestoreOptions struct {
	Site   *site.Site
	Engine *engine.Engine
	Key    Key
	// BackupKeyFile holds the repository password; default: the site's
	// backup-key file when it exists.
	BackupKeyFile string
	// Repository overrides the repository location of the bundle: a
	// location, or the name or location of an off-site copy the bundle
	// records (its password and credential files are then used).
	Repository string
	// Access overrides how the repository is reached (credentials, ssh
	// config, CA).
	Access site.Access
	// Prefix is put before every instance name (drills).
	Prefix string
	DryRun bool
	// Sources maps build-locally entries to the user's source files.
	Sources map[string]string
	// MarkVerified marks every group restored and compared successfully
	// as verified (drills do).
	MarkVerified bool
	// FailOnDamage fails the recovery of a group that holds data the
	// application reported as damaged at its capture (drills do); without
	// it such a group is restored as it was, with a warning.
	FailOnDamage bool
	// EphemeralPorts publishes the restored instances' ports on host ports
	// the engine picks (drills, which run beside production).
	EphemeralPorts bool

	Open     RepositoryOpener
	Restorer Restorer
	// KeyFileName is the name of the repository password file in a site
	// (the backup job's).
	KeyFileName string
	// ConfigureSite points a site at a repository location.
	ConfigureSite func(s *site.Site, repository string, a site.Access) error

	Report        progress.Reporter
	Command       string
	HealthTimeout time.Duration
}

// StepResult is one timed step of a recovery.
type StepResult struct {
	Instance string  `json:"instance"`
	Step     string  `json:"step"`
	Detail   string  `json:"detail,omitempty"`
	Seconds  float64 `json:"seconds"`
}

// RestoreResult says what a recovery did.
type RestoreResult struct {
	Plan    *Plan        `json:"plan"`
	DryRun  bool         `json:"dryRun,omitempty"`
	Steps   []StepResult `json:"steps,omitempty"`
	Seconds float64      `json:"seconds"`
	// Restored lists the instances recovered, by target name.
	Restored []string `json:"restored,omitempty"`
}

func (o *RestoreOptions) step(format string, args ...any) {
	progress.Stepf(o.Report, "", format, args...)
}

// Restore recovers every instance of a bundle into the site on the engine:
// it checks everything it can before changing anything (the key opens the
// secrets, every instance with data has a restorable group, no instance of
// that name exists), then deploys each instance in dependency order with
// its recorded version, parameters and secrets (building local images from
// the bundle's entry copy), restores its group, and runs the entry's
// checks.
func Restore(ctx context.Context, b *Bundle, o RestoreOptions) (*RestoreResult, error) {
	start := time.Now()
	res := &RestoreResult{DryRun: o.DryRun}
	secrets, err := openSecrets(b, o.Key)
	if err != nil {
		return nil, err
	}
	location := o.Repository
	if location == "" {
		location = b.Manifest.Repository
	}
	keyFile := o.BackupKeyFile
	access := o.Access
	for _, c := range b.Manifest.Copies {
		if location != c.Name && location != c.Repository {
			continue
		}
		location = c.Repository
		if keyFile == "" {
			keyFile = c.PasswordFile
		}
		access = mergeAccess(site.Access{CredentialsFile: c.CredentialsFile, SSHConfigFile: c.SSHConfigFile, CACertFile: c.CACertFile}, o.Access)
		o.step("restore from off-site copy %s (%s) with the password in %s", c.Name, c.Repository, keyFile)
	}
	if keyFile == "" && o.KeyFileName != "" {
		if _, err := os.Stat(filepath.Join(o.Site.Dir, o.KeyFileName)); err == nil {
			keyFile = filepath.Join(o.Site.Dir, o.KeyFileName)
		}
	}
	facts := Facts{Groups: map[string]GroupInfo{}, NewerUnverified: map[string]string{}, Images: map[string]bool{}, Prefix: o.Prefix, Repository: location, Sources: o.Sources}
	var repo Repository
	needRepo := false
	for _, in := range b.Manifest.Instances {
		needRepo = needRepo || len(in.DataVolumes) > 0
	}
	if needRepo {
		if keyFile == "" {
			return nil, fmt.Errorf("%w: pass --backup-key FILE with the password of %s (the escrow copy of the lost site's backup-key); nothing was changed", ErrNoBackupKey, location)
		}
		if err := keyConflict(keyFile, filepath.Join(o.Site.Dir, o.KeyFileName)); err != nil {
			return nil, err
		}
		repo, err = o.Open(ctx, location, keyFile, access)
		if err != nil {
			return nil, fmt.Errorf("open backup repository %s: %w; nothing was changed", location, err)
		}
		for _, in := range b.Manifest.Instances {
			if len(in.DataVolumes) == 0 {
				continue
			}
			name := in.Record.Name
			groups, err := repo.Groups(ctx, name)
			if err != nil {
				return nil, fmt.Errorf("list backup groups of %s: %w; nothing was changed", name, err)
			}
			// The newest group that checks out wins; a damaged one is skipped
			// with a warning.
			for len(groups) > 0 {
				g, _ := ChooseGroup(groups)
				err := repo.Check(ctx, name, g.ID)
				if err == nil {
					facts.Groups[name] = g
					if last := groups[len(groups)-1]; last.ID != g.ID {
						facts.NewerUnverified[name] = last.ID
					}
					break
				}
				o.step("warning: group %s of %s cannot be restored: %v", g.ID, name, err)
				groups = without(groups, g.ID)
			}
		}
	}
	for _, in := range b.Manifest.Instances {
		for _, img := range in.Images {
			if _, ok := facts.Images[img.Ref]; ok {
				continue
			}
			ok, err := o.Engine.ImageExists(ctx, img.Ref)
			if err != nil {
				return nil, err
			}
			facts.Images[img.Ref] = ok
		}
	}
	plan, err := MakePlan(b.Manifest, facts)
	res.Plan = plan
	res.Steps = append(res.Steps, StepResult{Instance: "-", Step: "preflight", Seconds: time.Since(start).Seconds(),
		Detail: fmt.Sprintf("(bundle format %d, secrets opened, %d group(s) found and checked, %d image(s) looked up)", b.Manifest.Format, len(facts.Groups), len(facts.Images))})
	if err != nil {
		return res, err
	}
	for _, st := range plan.Steps {
		if err := site.ValidName(st.Target); err != nil {
			return res, fmt.Errorf("%w; choose a shorter --prefix; nothing was changed", err)
		}
	}
	if err := checkEmpty(ctx, o.Site, o.Engine, plan); err != nil {
		return res, err
	}
	if o.DryRun {
		res.Seconds = time.Since(start).Seconds()
		return res, nil
	}

	// Everything checked: from here on, the site and the engine change.
	if needRepo {
		if err := o.ConfigureSite(o.Site, location, access); err != nil {
			return res, err
		}
		if err := installKey(keyFile, filepath.Join(o.Site.Dir, o.KeyFileName)); err != nil {
			return res, err
		}
	}
	work, err := os.MkdirTemp("", "dockerbank-dr-")
	if err != nil {
		return res, fmt.Errorf("make work directory: %w", err)
	}
	defer os.RemoveAll(work)
	op := fmt.Sprintf("dr-%d", start.UnixNano())
	journal := func(instance, outcome, detail string) {
		_ = o.Site.Append(site.Record{Command: o.Command, Instance: instance, Outcome: outcome, Detail: detail, Op: op})
	}
	journal("", "started", fmt.Sprintf("recover %d instance(s) of %s from the bundle of %s", len(plan.Steps), b.Manifest.Host, b.Manifest.Created.Format(time.RFC3339)))
	for _, st := range plan.Steps {
		in, _ := b.Instance(st.Name)
		err := o.recoverOne(ctx, b, in, st, secrets.Instances[st.Name], work, res)
		if err != nil {
			journal(st.Target, "failed", err.Error())
			res.Seconds = time.Since(start).Seconds()
			return res, fmt.Errorf("recover %s: %w; instances recovered so far: %s", st.Target, err, orNone(strings.Join(res.Restored, ", ")))
		}
		res.Restored = append(res.Restored, st.Target)
		if o.MarkVerified && st.Group != "" {
			if err := repo.MarkVerified(ctx, st.Name, st.Group, time.Now()); err != nil {
				o.step("warning: could not mark group %s of %s verified: %v", st.Group, st.Name, err)
			} else {
				journal(st.Name, "ok", fmt.Sprintf("group %s verified by a recovery drill", st.Group))
			}
		}
	}
	res.Seconds = time.Since(start).Seconds()
	journal("", "ok", fmt.Sprintf("recovered %s in %.1fs", strings.Join(res.Restored, ", "), res.Seconds))
	return res, nil
}

func without(groups []GroupInfo, id string) []GroupInfo {
	var out []GroupInfo
	for _, g := range groups {
		if g.ID != id {
			out = append(out, g)
		}
	}
	return out
}

// checkEmpty refuses targets that exist in the site or on the engine.
func checkEmpty(ctx context.Context, s *site.Site, e *engine.Engine, p *Plan) error {
	var taken []string
	targets := map[string]bool{}
	for _, st := range p.Steps {
		targets[st.Target] = true
		if _, err := s.Instance(st.Target); err == nil {
			taken = append(taken, st.Target+" (in the site "+s.Dir+")")
		}
	}
	ctrs, err := e.Containers(ctx, nil)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, c := range ctrs {
		if targets[c.Project] && !seen[c.Project] {
			seen[c.Project] = true
			taken = append(taken, c.Project+" (containers on the engine)")
		}
	}
	vols, err := e.Volumes(ctx, false)
	if err != nil {
		return err
	}
	for _, v := range vols {
		owner := v.Labels[engine.LabelProject]
		if owner == "" {
			owner = v.Labels[label.Instance]
		}
		if targets[owner] {
			taken = append(taken, fmt.Sprintf("%s (volume %s)", owner, v.Name))
		}
	}
	if len(taken) > 0 {
		sort.Strings(taken)
		return fmt.Errorf("%w: %s; recover onto an empty engine and site, or remove them first; nothing was changed", ErrNotEmpty, strings.Join(taken, ", "))
	}
	return nil
}

// keyConflict refuses a site that has another repository password.
func keyConflict(from, to string) error {
	if from == to {
		return nil
	}
	data, err := os.ReadFile(from)
	if err != nil {
		return fmt.Errorf("%w: read %s: %v", ErrNoBackupKey, from, err)
	}
	if cur, err := os.ReadFile(to); err == nil && strings.TrimSpace(string(cur)) != strings.TrimSpace(string(data)) {
		return fmt.Errorf("%w: the site has a different backup key in %s; recover into an empty site; nothing was changed", ErrNotEmpty, to)
	}
	return nil
}

func installKey(from, to string) error {
	if from == to {
		return nil
	}
	data, err := os.ReadFile(from)
	if err != nil {
		return fmt.Errorf("read backup key: %w", err)
	}
	return site.WriteFileAtomic(to, data, 0o600)
}

// recoverOne deploys, restores, upgrades and checks one instance.
func (o *RestoreOptions) recoverOne(ctx context.Context, b *Bundle, in *Instance, st InstancePlan, secrets map[string]string, work string, res *RestoreResult) error {
	timed := func(step string, fn func() (string, error)) error {
		t := time.Now()
		detail, err := fn()
		sec := time.Since(t).Seconds()
		if err != nil {
			return err
		}
		res.Steps = append(res.Steps, StepResult{Instance: st.Target, Step: step, Detail: detail, Seconds: sec})
		o.step("%s: %s done in %.1fs %s", st.Target, step, sec, detail)
		return nil
	}
	// The entry comes from the bundle, not from this dockerbank's bank.
	bankDir := filepath.Join(work, st.Name)
	if err := b.ExtractDir(in.EntryDir, filepath.Join(bankDir, in.Record.Entry)); err != nil {
		return err
	}
	// The entries of the shared servers it uses, whose kind deploy --use
	// checks (their instances are recovered before it).
	for _, srv := range in.Record.Uses {
		for _, x := range b.Manifest.Instances {
			if x.Record.Name != srv || x.Record.Entry == in.Record.Entry {
				continue
			}
			if err := b.ExtractDir(x.EntryDir, filepath.Join(bankDir, x.Record.Entry)); err != nil {
				return err
			}
		}
	}
	bk, err := bank.Open(ctx, bank.Source{Name: "bundle copy of " + st.Name, FS: os.DirFS(bankDir), Root: "."})
	if err != nil {
		return err
	}
	if bk.List(); len(bk.Problems) > 0 { // loads the copied entries
		return fmt.Errorf("entry copy of %s in the bundle: %w", st.Name, bk.Problems)
	}
	m := &deploy.Manager{Bank: bk, Site: o.Site, Engine: o.Engine, Report: o.Report, Command: o.Command, HealthTimeout: o.HealthTimeout,
		EphemeralPorts: o.EphemeralPorts}
	for name, v := range secrets {
		dir := filepath.Join(o.Site.InstanceDir(st.Target), "secrets")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		if err := site.WriteFileAtomic(filepath.Join(dir, name), []byte(v), 0o600); err != nil {
			return err
		}
	}
	r := in.Record
	if st.Source != "" {
		err := timed("build from source", func() (string, error) {
			res, err := m.BuildSource(ctx, deploy.BuildSourceOptions{Entry: r.Entry, Version: r.Version, Source: st.Source})
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("(%d image(s) from %s)", len(res.Images), filepath.Base(st.Source)), nil
		})
		if err != nil {
			return err
		}
	}
	if st.Group != "" {
		err = timed("deploy and restore", func() (string, error) {
			detail, err := o.Restorer.RestoreGroup(ctx, m, st.Name, st.Group, st.Target, st.Uses)
			if errors.Is(err, fingerprint.ErrDamaged) && !o.FailOnDamage {
				o.step("WARNING: %v", err)
				detail, err = detail+"; DAMAGED at the capture, restored as it was", nil
			}
			return fmt.Sprintf("(group %s, %s, taken %s; %s)", st.Group, st.GroupState, st.GroupTime.UTC().Format("2006-01-02 15:04Z"), detail), err
		})
	} else {
		err = timed("deploy", func() (string, error) {
			_, err := m.Deploy(ctx, deploy.DeployOptions{Entry: r.Entry, Name: st.Target, Version: r.Version, Variant: r.Variant, Set: r.Params, Scale: r.Scale, Uses: st.Uses})
			return "(no user data to restore)", err
		})
	}
	if err != nil {
		return err
	}
	if st.Upgrade {
		err := timed("upgrade", func() (string, error) {
			return fmt.Sprintf("(%s -> %s)", st.GroupVersion, st.Version), m.Upgrade(ctx, st.Target, deploy.UpgradeOptions{To: st.Version, NoBackup: true})
		})
		if err != nil {
			return err
		}
	}
	ent, err := bk.Get(r.Entry)
	if err != nil {
		return err
	}
	if err := timed("checks", func() (string, error) { return runChecks(ctx, o.Engine, st.Target, ent, st.Uses) }); err != nil {
		return err
	}
	if st.LeaveDown {
		return timed("down", func() (string, error) { return "(it was down at export)", m.Down(ctx, st.Target) })
	}
	return nil
}

// runChecks runs the entry's checks in the instance's running containers.
// Checks of a service a shared server provides ran at the deploy (the
// tenant's role reaching its database there) and are not repeated.
func runChecks(ctx context.Context, e *engine.Engine, instance string, ent *bank.Entry, uses map[string]string) (string, error) {
	ctrs, err := e.Containers(ctx, map[string]string{engine.LabelProject: instance})
	if err != nil {
		return "", err
	}
	var passed []string
	for _, c := range ent.Checks.PostDeploy {
		if _, shared := uses[c.Service]; shared {
			continue
		}
		id := ""
		for _, ct := range ctrs {
			if ct.Service == c.Service && ct.State == "running" {
				id = ct.ID
			}
		}
		if id == "" {
			return "", fmt.Errorf("check %s: no running container of service %s in %s", c.Name, c.Service, instance)
		}
		if _, err := e.ExecOutput(ctx, id, c.Exec...); err != nil {
			return "", fmt.Errorf("check %s of %s: %w", c.Name, instance, err)
		}
		passed = append(passed, c.Name)
	}
	var unhealthy []string
	for _, ct := range ctrs {
		if ct.State != "running" || ct.Health == "unhealthy" || ct.Health == "starting" {
			unhealthy = append(unhealthy, ct.Name+" "+ct.State+" "+ct.Health)
		}
	}
	if len(unhealthy) > 0 {
		return "", fmt.Errorf("containers of %s are not healthy: %s", instance, strings.Join(unhealthy, ", "))
	}
	return fmt.Sprintf("(%d container(s) healthy; checks passed: %s)", len(ctrs), orNone(strings.Join(passed, ", "))), nil
}

// mergeAccess is a with the fields of over that are set.
func mergeAccess(a, over site.Access) site.Access {
	if over.CredentialsFile != "" {
		a.CredentialsFile = over.CredentialsFile
	}
	if over.SSHConfigFile != "" {
		a.SSHConfigFile = over.SSHConfigFile
	}
	if over.CACertFile != "" {
		a.CACertFile = over.CACertFile
	}
	if over.StallTimeout != "" {
		a.StallTimeout = over.StallTimeout
	}
	a.LimitUpload, a.LimitDownload = max(a.LimitUpload, over.LimitUpload), max(a.LimitDownload, over.LimitDownload)
	return a
}
