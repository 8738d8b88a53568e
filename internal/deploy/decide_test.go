package deploy_test

import (
	"errors"
	"testing"
	"time"

	"github.com/dockerbank/dockerbank/internal/bank"
	"github.com/dockerbank/dockerbank/internal/deploy"
	"github.com/dockerbank/dockerbank/internal/enginetest"
	"github.com/dockerbank/dockerbank/internal/site"
)

var _ deploy.Engine = (*enginetest.Engine)(nil)

// The lifecycle decisions on the in-memory engine (no Docker): what runs
// and what the site records after an upgrade is refused, rolled back or
// done, and after a rollback. The same paths run on the real engine in
// internal/cli's lifecycle tests.

type decideEnv struct {
	m    *deploy.Manager
	fake *enginetest.Engine
	site *site.Site
}

func newDecideEnv(t *testing.T) *decideEnv {
	t.Helper()
	b, err := enginetest.Bank(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	s, err := site.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	fake := &enginetest.Engine{Unhealthy: map[string]bool{"example/app:3.0": true}}
	// Each reading of the clock is a minute later: every change is newer
	// than what came before it.
	now := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	clock := func() time.Time { now = now.Add(time.Minute); return now }
	m := &deploy.Manager{Bank: b, Site: s, Engine: fake, Command: "test", HealthTimeout: time.Second, Now: clock}
	if _, err := m.Deploy(t.Context(), deploy.DeployOptions{Entry: "decide", Name: "trial"}); err != nil {
		t.Fatal(err)
	}
	return &decideEnv{m: m, fake: fake, site: s}
}

// backedUp records a backup newer than the instance's last change, as the
// backup job does.
func (d *decideEnv) backedUp(t *testing.T) {
	t.Helper()
	in, err := d.site.Instance("trial")
	if err != nil {
		t.Fatal(err)
	}
	in.LastBackup = in.Changed
	if err := d.site.Save(in); err != nil {
		t.Fatal(err)
	}
}

// runs checks that the app runs image and the site records version.
func (d *decideEnv) runs(t *testing.T, version string) {
	t.Helper()
	if got := d.fake.Running("trial")["app"]; got != "example/app:"+version {
		t.Errorf("app runs %q, want example/app:%s", got, version)
	}
	in, err := d.site.Instance("trial")
	if err != nil {
		t.Fatal(err)
	}
	if in.Version != version {
		t.Errorf("site records version %s, want %s", in.Version, version)
	}
	if vols := d.fake.VolumeNames(); len(vols) != 1 || vols[0] != "trial_data" {
		t.Errorf("volumes %v, want the instance's data volume kept", vols)
	}
}

func TestUpgradeRefusedWithoutFreshBackup(t *testing.T) {
	d := newDecideEnv(t)
	err := d.m.Upgrade(t.Context(), "trial", deploy.UpgradeOptions{To: "2.0"})
	if !errors.Is(err, deploy.ErrNoFreshBackup) {
		t.Fatalf("upgrade without a backup: %v, want ErrNoFreshBackup", err)
	}
	d.runs(t, "1.0")
	// --no-backup is the user's explicit choice.
	if err := d.m.Upgrade(t.Context(), "trial", deploy.UpgradeOptions{To: "2.0", NoBackup: true}); err != nil {
		t.Fatal(err)
	}
	d.runs(t, "2.0")
}

func TestUpgradeRollsBackAfterUnhealthyStart(t *testing.T) {
	d := newDecideEnv(t)
	d.backedUp(t)
	err := d.m.Upgrade(t.Context(), "trial", deploy.UpgradeOptions{To: "3.0"})
	if !errors.Is(err, deploy.ErrRolledBack) {
		t.Fatalf("upgrade to an unhealthy version: %v, want ErrRolledBack", err)
	}
	d.runs(t, "1.0")
}

func TestUpgradeThenRollback(t *testing.T) {
	d := newDecideEnv(t)
	d.backedUp(t)
	if err := d.m.Upgrade(t.Context(), "trial", deploy.UpgradeOptions{To: "2.0"}); err != nil {
		t.Fatal(err)
	}
	d.runs(t, "2.0")
	in, _ := d.site.Instance("trial")
	if in.PreviousVersion != "1.0" {
		t.Errorf("previous version %q, want 1.0", in.PreviousVersion)
	}
	// The upgrade is a change: the next one needs a new backup.
	if err := d.m.Upgrade(t.Context(), "trial", deploy.UpgradeOptions{To: "1.0"}); !errors.Is(err, deploy.ErrNoFreshBackup) {
		t.Errorf("second upgrade without a new backup: %v, want ErrNoFreshBackup", err)
	}
	if err := d.m.Rollback(t.Context(), "trial"); err != nil {
		t.Fatal(err)
	}
	d.runs(t, "1.0")
}

func TestUpgradeToUnknownVersion(t *testing.T) {
	d := newDecideEnv(t)
	d.backedUp(t)
	err := d.m.Upgrade(t.Context(), "trial", deploy.UpgradeOptions{To: "9.9"})
	var re *bank.ResolveError
	if !errors.Is(err, bank.ErrNoVersion) || !errors.As(err, &re) || len(re.Known) != 3 {
		t.Fatalf("upgrade to 9.9: %v, want ErrNoVersion naming the three versions", err)
	}
	d.runs(t, "1.0")
}
