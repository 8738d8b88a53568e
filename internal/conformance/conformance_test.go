package conformance_test

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dockerbank/dockerbank"
	"github.com/dockerbank/dockerbank/internal/backup"
	"github.com/dockerbank/dockerbank/internal/bank"
	"github.com/dockerbank/dockerbank/internal/conformance"
	"github.com/dockerbank/dockerbank/internal/deploy"
	"github.com/dockerbank/dockerbank/internal/engine"
	"github.com/dockerbank/dockerbank/internal/fingerprint"
	"github.com/dockerbank/dockerbank/internal/instance/label"
	"github.com/dockerbank/dockerbank/internal/progress"
	"github.com/dockerbank/dockerbank/internal/site"
	"github.com/dockerbank/dockerbank/internal/testenv"
)

type logReport struct{ t *testing.T }

func (l logReport) Report(e progress.Event) { l.t.Logf("%+v", e) }

// harness is a site (only results are recorded there), the embedded bank
// (or a given one) and the engine.
type harness struct {
	t    *testing.T
	site *site.Site
	bank *bank.Bank
	e    *engine.Engine
}

func newHarness(t *testing.T, extra ...bank.Source) *harness {
	t.Helper()
	testenv.RequireImages(t, "dockerbank/postgres:15", "dockerbank/busybox:1.36")
	testenv.RequireCommand(t, "restic")
	if os.Geteuid() != 0 {
		testenv.Missing(t, "bank test reads volume mountpoints and needs root")
	}
	ctx := t.Context()
	s, err := site.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b, err := bank.Open(ctx, append(extra, bank.Source{Name: "embedded", FS: dockerbank.Bank, Root: dockerbank.BankRoot})...)
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.Connect(ctx, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return &harness{t: t, site: s, bank: b, e: e}
}

func (h *harness) run(o conformance.Options) (*conformance.Result, error) {
	o.Bank, o.Engine, o.Site, o.Report, o.Command = h.bank, h.e, h.site, logReport{h.t}, "go test"
	o.HealthTimeout = 5 * time.Minute
	return conformance.Run(h.t.Context(), o)
}

// checkClean asserts that nothing of a run is left on the engine.
func (h *harness) checkClean(res *conformance.Result) {
	h.t.Helper()
	var names []string
	for _, st := range res.Steps {
		if st.Instance != "" {
			names = append(names, st.Instance)
		}
	}
	if len(names) == 0 {
		h.t.Fatal("the run names no instance")
	}
	ctx := h.t.Context()
	vols, err := h.e.Volumes(ctx, false)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, n := range names {
		ctrs, err := h.e.Containers(ctx, map[string]string{engine.LabelProject: n})
		if err != nil {
			h.t.Fatal(err)
		}
		if len(ctrs) > 0 {
			h.t.Errorf("containers of %s left: %v", n, ctrs)
		}
		for _, v := range vols {
			if strings.HasPrefix(v.Name, n+"_") || v.Labels[label.Instance] == n {
				h.t.Errorf("volume %s of %s left", v.Name, n)
			}
		}
	}
	if last := res.Steps[len(res.Steps)-1]; last.Name != "clean up" || last.Result != "ok" {
		h.t.Errorf("last step %+v, want a clean up that worked", last)
	}
}

// TestBankTestDemo: the whole conformance run of the demo passes, is
// timed step by step, records its result in the site and leaves nothing.
func TestBankTestDemo(t *testing.T) {
	h := newHarness(t)
	res, err := h.run(conformance.Options{Entry: "demo"})
	if err != nil {
		t.Fatalf("bank test demo: %v", err)
	}
	var names []string
	for _, st := range res.Steps {
		names = append(names, st.Name)
		if st.Result != "ok" {
			t.Errorf("step %s: %s %s", st.Name, st.Result, st.Detail)
		}
	}
	want := "deploy 2.0,write,fingerprint,backup,restore,compare,deploy 1.0,write,backup 1.0,upgrade 1.0 -> 2.0,clean up"
	if got := strings.Join(names, ","); got != want {
		t.Errorf("steps %s, want %s", got, want)
	}
	if !res.OK || res.Version != "2.0" {
		t.Errorf("result %+v", res)
	}
	h.checkClean(res)
	runs, err := h.site.Conformance("demo")
	if err != nil || len(runs) != 1 || !runs[0].OK || runs[0].Version != "2.0" {
		t.Errorf("recorded results %+v, %v", runs, err)
	}
}

// TestBankTestDamagedBackup: a backup whose repository data is corrupted
// after the capture makes the run fail at the restore, naming the
// instances, and still leaves nothing behind.
func TestBankTestDamagedBackup(t *testing.T) {
	h := newHarness(t)
	res, err := h.run(conformance.Options{Entry: "demo", AfterBackup: func(ctx context.Context, s *site.Site, group string) error {
		n := 0
		err := filepath.WalkDir(filepath.Join(s.Dir, "backups", "data"), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			for i := len(data) / 3; i < len(data)/3+16 && i < len(data); i++ {
				data[i] ^= 0xff
			}
			n++
			return os.WriteFile(p, data, 0o600)
		})
		t.Logf("corrupted %d pack files of group %s", n, group)
		return err
	}})
	if err == nil || res.OK {
		t.Fatalf("bank test passed with a corrupted repository: %+v", res)
	}
	if !errors.Is(err, conformance.ErrFailed) {
		t.Errorf("error %v is not ErrFailed", err)
	}
	msg := err.Error()
	t.Logf("error: %s", msg)
	if !strings.Contains(msg, "restore:") || !strings.Contains(msg, "bt-demo-") {
		t.Errorf("error does not say the restore failed and name the instance: %s", msg)
	}
	h.checkClean(res)
	runs, _ := h.site.Conformance("demo")
	if len(runs) != 1 || runs[0].OK {
		t.Errorf("recorded results %+v, want one failed", runs)
	}
}

// rewriteFingerprint replaces a group's manifest with one whose
// fingerprint fn changed, as a damaged or forged manifest would be.
func rewriteFingerprint(ctx context.Context, t *testing.T, s *site.Site, group string, fn func(*fingerprint.Fingerprint)) {
	t.Helper()
	repo, err := backup.OpenRepo(ctx, s, false)
	if err != nil {
		t.Fatal(err)
	}
	snaps, err := repo.Snapshots(ctx, "group="+group, "kind=manifest")
	if err != nil || len(snaps) != 1 {
		t.Fatalf("manifest snapshot of %s: %v %v", group, snaps, err)
	}
	dir := t.TempDir()
	if err := repo.Restore(ctx, snaps[0].ID, dir); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "manifest.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m backup.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	fn(m.Fingerprint)
	if data, err = json.Marshal(&m); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.BackupDir(ctx, dir, snaps[0].Tags, nil); err != nil {
		t.Fatal(err)
	}
	if err := repo.Forget(ctx, []string{snaps[0].ID}); err != nil {
		t.Fatal(err)
	}
}

// TestWrongFingerprint: a group whose recorded fingerprint does not match
// its data fails the restore drill (verify) and the restore of bank test,
// each naming the instance, the table and how it differs.
func TestWrongFingerprint(t *testing.T) {
	h := newHarness(t)
	var verifyErr error
	res, err := h.run(conformance.Options{Entry: "demo", AfterBackup: func(ctx context.Context, s *site.Site, group string) error {
		rewriteFingerprint(ctx, t, s, group, func(f *fingerprint.Fingerprint) {
			p, _ := f.Part("postgres db/demo")
			p.Items[0].Rows++
		})
		m := &deploy.Manager{Bank: h.bank, Site: s, Engine: h.e, Report: logReport{t}, EphemeralPorts: true, HealthTimeout: 5 * time.Minute}
		var instance string
		ins, _ := s.Instances()
		for _, in := range ins {
			instance = in.Name
		}
		_, verifyErr = (&backup.Job{M: m}).Verify(ctx, instance, backup.VerifyOptions{Group: group})
		return nil
	}})
	if verifyErr == nil || !errors.Is(verifyErr, fingerprint.ErrMismatch) {
		t.Errorf("verify of a group with a wrong fingerprint: %v, want a fingerprint mismatch", verifyErr)
	} else if !strings.Contains(verifyErr.Error(), "table public.records") || !strings.Contains(verifyErr.Error(), "-dr") {
		t.Errorf("verify error does not name the drill instance and the table: %v", verifyErr)
	}
	if err == nil || res.OK {
		t.Fatalf("bank test passed with a wrong fingerprint: %+v", res)
	}
	msg := err.Error()
	t.Logf("error: %s", msg)
	for _, w := range []string{"restore:", "fingerprint of instance bt-demo-", "-b differs from backup group", "postgres db/demo: table public.records: now"} {
		if !strings.Contains(msg, w) {
			t.Errorf("error does not contain %q: %s", w, msg)
		}
	}
	if !errors.Is(err, fingerprint.ErrMismatch) {
		t.Errorf("error %v is not a fingerprint mismatch", err)
	}
	h.checkClean(res)
}

// TestUpgradeChangingDataRollsBack: a version whose migration changes the
// records the previous version wrote is healthy, but its fingerprint
// differs: the upgrade goes back to the previous version (ErrRolledBack,
// exit 7) and names the table.
func TestUpgradeChangingDataRollsBack(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	entry := filepath.Join(dir, "demo")
	sub, err := fs.Sub(dockerbank.Bank, dockerbank.BankRoot+"/demo")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(entry, sub); err != nil {
		t.Fatal(err)
	}
	tag := "fp-damaging-" + time.Now().UTC().Format("150405")
	yml, _ := os.ReadFile(filepath.Join(entry, "entry.yaml"))
	yml = []byte(strings.Replace(string(yml), "parameters:\n", `  - version: "2.1"
    images:
      db: dockerbank/postgres:15
      app: dockerbank/demo-app:`+tag+`
    build:
      app: {context: app, args: {DEMO_VERSION: "2.1"}}
    notes: a test version whose migration rewrites every payload
parameters:
`, 1))
	app, _ := os.ReadFile(filepath.Join(entry, "app", "app.sh"))
	app = []byte(strings.Replace(string(app), `	cols="version, payload, note"`, `	cols="version, payload, note"
	[ "$DEMO_VERSION" = 2.1 ] && migrate "update records set payload = payload || ' (rewritten)'"`, 1))
	for p, d := range map[string][]byte{"entry.yaml": yml, "app/app.sh": app} {
		if err := os.WriteFile(filepath.Join(entry, p), d, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h := newHarness(t, bank.Source{Name: dir, FS: os.DirFS(dir), Root: "."})
	t.Cleanup(func() { h.e.RemoveImage(context.WithoutCancel(ctx), "dockerbank/demo-app:"+tag) })
	m := &deploy.Manager{Bank: h.bank, Site: h.site, Engine: h.e, Report: logReport{t}, HealthTimeout: 5 * time.Minute}
	name := "fp-up-" + tag[len(tag)-6:]
	t.Cleanup(func() {
		m.Remove(context.WithoutCancel(ctx), name, deploy.RemoveOptions{PurgeData: true, Confirm: name, Force: true})
	})
	if _, err := m.Deploy(ctx, deploy.DeployOptions{Entry: "demo", Name: name, Version: "2.0", Set: map[string]string{"DEMO_INTERVAL": "1"}}); err != nil {
		t.Fatal(err)
	}
	err = m.Upgrade(ctx, name, deploy.UpgradeOptions{To: "2.1", NoBackup: true})
	if !errors.Is(err, deploy.ErrRolledBack) || !errors.Is(err, fingerprint.ErrMismatch) {
		t.Fatalf("upgrade to a version that rewrites data: %v, want a rollback for a fingerprint mismatch", err)
	}
	for _, w := range []string{"fingerprint of instance " + name, "postgres db/demo: table public.records: now", "runs 2.0 again"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not contain %q: %v", w, err)
		}
	}
	in, err := h.site.Instance(name)
	if err != nil || in.Version != "2.0" {
		t.Errorf("instance after the rollback: %+v %v", in, err)
	}
}

// TestFailingFingerprintFailsBackup: a fingerprint that cannot be computed
// (a declared column the table lacks) fails the backup with a clear error,
// and no group is reported complete.
func TestFailingFingerprintFailsBackup(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	entry := filepath.Join(dir, "demo")
	sub, err := fs.Sub(dockerbank.Bank, dockerbank.BankRoot+"/demo")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(entry, sub); err != nil {
		t.Fatal(err)
	}
	yml, _ := os.ReadFile(filepath.Join(entry, "entry.yaml"))
	yml = []byte(strings.Replace(string(yml), "columns: [id, created, version, payload]", "columns: [id, created, version, payload, colour]", 1))
	if err := os.WriteFile(filepath.Join(entry, "entry.yaml"), yml, 0o644); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, bank.Source{Name: dir, FS: os.DirFS(dir), Root: "."})
	m := &deploy.Manager{Bank: h.bank, Site: h.site, Engine: h.e, Report: logReport{t}, HealthTimeout: 5 * time.Minute}
	name := "fp-bad-" + time.Now().UTC().Format("150405")
	t.Cleanup(func() {
		m.Remove(context.WithoutCancel(ctx), name, deploy.RemoveOptions{PurgeData: true, Confirm: name, Force: true})
	})
	if _, err := m.Deploy(ctx, deploy.DeployOptions{Entry: "demo", Name: name, Set: map[string]string{"DEMO_INTERVAL": "1"}}); err != nil {
		t.Fatal(err)
	}
	j := &backup.Job{M: m}
	_, err = j.Backup(ctx, name, backup.BackupOptions{})
	if err == nil {
		t.Fatal("a backup whose fingerprint cannot be computed succeeded")
	}
	for _, w := range []string{"fingerprint postgres db/demo", "colour"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not contain %q: %v", w, err)
		}
	}
	repo, err := backup.OpenRepo(ctx, h.site, false)
	if err != nil {
		t.Fatal(err)
	}
	groups, err := backup.ListGroups(ctx, repo, name)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		if g.Complete {
			t.Errorf("group %s is complete after a failed fingerprint", g.ID)
		}
	}
	st, err := m.Ps(ctx, name)
	if err != nil || st.Health() != "healthy" {
		t.Errorf("instance after the failed backup: %s, %v", st.Health(), err)
	}
}

// TestBankTestOrthanc: the conformance run of Orthanc 1.10.1 built from
// Debian: DICOM stored over REST and C-STORE, backed up, restored and
// compared instance by instance (MD5 proven against the stored files); no
// older version of the entry runs here, which the run says.
func TestBankTestOrthanc(t *testing.T) {
	testenv.RequireImages(t, "dockerbank/orthanc:1.10.1")
	h := newHarness(t)
	res, err := h.run(conformance.Options{Entry: "orthanc", Version: "1.10.1"})
	if err != nil {
		t.Fatalf("bank test orthanc: %v", err)
	}
	byName := map[string]conformance.Step{}
	for _, st := range res.Steps {
		byName[st.Name] = st
	}
	if w := byName["write"]; !strings.Contains(w.Detail, "10 DICOM instances over REST and 10 over C-STORE") {
		t.Errorf("write step: %+v", w)
	}
	if c := byName["compare"]; c.Result != "ok" || !strings.Contains(c.Detail, "20 items") {
		t.Errorf("compare step: %+v", c)
	}
	if u := byName["upgrade"]; u.Result != "skipped" || !strings.Contains(u.Detail, "oldest version") {
		t.Errorf("upgrade step: %+v, want skipped: no older version runs here", u)
	}
	h.checkClean(res)
}
