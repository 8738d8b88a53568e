package backup

import (
	"context"
	"fmt"
	"sync"

	"github.com/dockerbank/dockerbank/internal/bank"
	"github.com/dockerbank/dockerbank/internal/fingerprint"
	"github.com/dockerbank/dockerbank/internal/site"
)

// fpCapture collects a backup's fingerprint: the parts computed before the
// dumps and the database parts computed at their snapshots.
type fpCapture struct {
	specs  []bank.FingerprintSpec
	before *fingerprint.Fingerprint
	mu     sync.Mutex
	at     map[string][]fingerprint.Item // postgres parts by name
}

// startFingerprint computes every part but the PostgreSQL ones, which
// atSnapshot computes in the dumps' sessions.
func (j *Job) startFingerprint(ctx context.Context, in *site.Instance) (*fpCapture, error) {
	c := &fpCapture{specs: j.M.FingerprintSpecs(in.Entry), at: map[string][]fingerprint.Item{}}
	if len(c.specs) == 0 {
		return c, nil
	}
	t, err := j.M.FingerprintTarget(ctx, in.Name)
	if err != nil {
		return nil, err
	}
	t.HelperImage = j.helperImage()
	j.step("fingerprint %s as the application sees it (%d declarations)", in.Name, len(c.specs))
	c.before, err = fingerprint.Compute(ctx, j.engine(), t, c.specs, fingerprint.Options{
		Skip:         func(s bank.FingerprintSpec) bool { return s.Kind == bank.FingerprintPostgres },
		HashCacheDir: j.cacheDir(in.Name)})
	if err != nil {
		return nil, fmt.Errorf("%w; no backup was stored", err)
	}
	return c, nil
}

// atSnapshot returns the hook that fingerprints the declared databases of
// a PostgreSQL service at its dump's snapshot.
func (c *fpCapture) atSnapshot(service string) SnapshotFunc {
	var specs []bank.FingerprintSpec
	for _, s := range c.specs {
		if s.Kind == bank.FingerprintPostgres && s.Service == service {
			specs = append(specs, s)
		}
	}
	if len(specs) == 0 {
		return nil
	}
	return func(db string, run func([]string) ([][]string, error)) error {
		for _, s := range specs {
			if s.Database != db {
				continue
			}
			items, err := fingerprint.PostgresItems(s, nil, run)
			if err != nil {
				return fmt.Errorf("fingerprint %s: %w", s.Name(), err)
			}
			c.mu.Lock()
			c.at[s.Name()] = items
			c.mu.Unlock()
		}
		return nil
	}
}

// finish assembles the parts in the order of the declarations.
func (c *fpCapture) finish() (*fingerprint.Fingerprint, error) {
	if len(c.specs) == 0 {
		return nil, nil
	}
	fp := &fingerprint.Fingerprint{Format: fingerprint.Format, Taken: c.before.Taken, Specs: c.specs}
	for _, s := range c.specs {
		if s.Kind != bank.FingerprintPostgres {
			p, ok := c.before.Part(s.Name())
			if !ok {
				return nil, fmt.Errorf("fingerprint %s was not computed", s.Name())
			}
			fp.Parts = append(fp.Parts, *p)
			continue
		}
		items, ok := c.at[s.Name()]
		if !ok {
			return nil, fmt.Errorf("fingerprint %s: database %s of service %s was not dumped; fix the entry's fingerprint declaration", s.Name(), s.Database, s.Service)
		}
		fingerprint.SortItems(items)
		fp.Parts = append(fp.Parts, fingerprint.Part{Name: s.Name(), Kind: s.Kind, Items: items})
	}
	return fp, nil
}

// appKind reports whether a part is read through the running application
// (after it starts), not from its databases and volumes.
func appKind(s bank.FingerprintSpec) bool { return s.Kind == bank.FingerprintOrthanc }

// restoredFingerprint computes part of a restored instance's fingerprint by
// the group's declarations: the database and file parts (app false) right
// after the data is loaded, before the application runs and writes again;
// the application parts (app true) once it is healthy.
func (j *Job) restoredFingerprint(ctx context.Context, man *Manifest, target string, app bool) (*fingerprint.Fingerprint, error) {
	if man.Fingerprint == nil {
		return nil, nil
	}
	t, err := j.M.FingerprintTarget(ctx, target)
	if err != nil {
		return nil, err
	}
	t.HelperImage = j.helperImage()
	return fingerprint.Compute(ctx, j.engine(), t, man.Fingerprint.Specs, fingerprint.Options{Ref: man.Fingerprint,
		Skip: func(s bank.FingerprintSpec) bool { return appKind(s) != app }})
}

// checkFingerprint compares a restored instance's fingerprint (data parts
// computed before its application started, application parts now) with
// the group's: everything captured must be there, unchanged.
func (j *Job) checkFingerprint(ctx context.Context, man *Manifest, target string, data *fingerprint.Fingerprint, res *RestoreResult) error {
	if man.Fingerprint == nil {
		res.Fingerprint = "no fingerprint recorded"
		j.step("group %s has no fingerprint recorded (an older dockerbank, or an entry without one): only the manifest was compared", man.Group)
		return nil
	}
	j.step("fingerprint %s and compare with group %s", target, man.Group)
	got, err := j.restoredFingerprint(ctx, man, target, true)
	if err != nil {
		return err
	}
	got.Parts = append(data.Parts, got.Parts...)
	r, err := fingerprint.Check(target, fmt.Sprintf("backup group %s of %s", man.Group, man.Instance), man.Fingerprint, got)
	if err != nil {
		res.Fingerprint = fmt.Sprintf("%d of %d items differ", len(r.Diffs), r.Items)
		return err
	}
	res.Fingerprint = fmt.Sprintf("%d items match (%s)", r.Items, man.Fingerprint.Summary())
	if r.Added > 0 {
		res.Fingerprint += fmt.Sprintf("; %d added since the capture", r.Added)
	}
	if len(r.Damaged) > 0 {
		res.Damaged = r.Damaged
		res.Fingerprint += fmt.Sprintf("; %d damaged already at the capture, restored as they were", len(r.Damaged))
	}
	j.step("%s: fingerprint matches group %s: %s", target, man.Group, res.Fingerprint)
	return nil
}

// RestoredDamage is the error of a restore of a group that captured data
// the application reported as damaged (RestoreResult.Damaged): group of
// instance of, restored into instance (or drilled, of instance).
func RestoredDamage(group, of, instance string, d []fingerprint.Diff) error {
	return &fingerprint.DamageError{Instance: instance, Where: fmt.Sprintf("the data restored from backup group %s of %s (damaged before that backup)", group, of),
		Damaged: d, Advice: fmt.Sprintf("restore those objects from an older group (`dockerbank snapshots %s`) or store them again", of)}
}
