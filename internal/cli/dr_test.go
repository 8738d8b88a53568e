package cli

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/klauspost/compress/zstd"

	"github.com/dockerbank/dockerbank"
	"github.com/dockerbank/dockerbank/internal/testenv"
)

// drTestImage is the demo app image of the dr test's own copy of the demo
// entry: the test deletes it to prove that recovery rebuilds it, so it
// must not be the shared dockerbank/demo-app image.
var drTestImage = "dockerbank/demo-app-drtest-" + strings.ToLower(rand.Text()[:6])

// writeDRBank writes a bank with a copy of the demo entry whose app image
// is drTestImage, and the drmaria fixture entry.
func writeDRBank(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	sub := filepath.Join(dir, "demo")
	if err := os.CopyFS(sub, mustSub(t, dockerbank.BankRoot+"/demo")); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"entry.yaml", "compose.yaml"} {
		p := filepath.Join(sub, f)
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, bytes.ReplaceAll(data, []byte("dockerbank/demo-app:"), []byte(drTestImage+":")), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.CopyFS(filepath.Join(dir, "drmaria"), os.DirFS("testdata/drbank/drmaria")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// drState is the user data of the two test instances at one moment.
type drState struct {
	maxRecord   string
	records     string // count and md5 of every record up to maxRecord
	demoFiles   string // sha256 of every file in the demo's file store
	audit       string
	mariaTable  string // row count and CHECKSUM TABLE of clinic.visits
	mariaFiles  string // sha256 of every file in the document volume
	mariaCounts string
}

func mariaSQL(t *testing.T, ctr, sql string) string {
	t.Helper()
	return docker(t, "exec", "-u", "root", ctr, "mariadb", "-N", "-B", "-e", sql)
}

func takeDRState(t *testing.T, demo, maria, maxRecord string) drState {
	t.Helper()
	s := drState{maxRecord: maxRecord}
	if s.maxRecord == "" {
		s.maxRecord = psql(t, demo, "select max(id) from records")
	}
	s.records = psql(t, demo, "select count(*), md5(string_agg(id || ':' || payload || ':' || coalesce(note, ''), ',' order by id)) from records where id <= "+s.maxRecord)
	s.demoFiles = docker(t, "exec", demo+"-app-1", "sh", "-c", "cd /data/files && sha256sum * | sort")
	s.audit = docker(t, "exec", demo+"-app-1", "cat", "/audit/audit.log")
	s.mariaTable = mariaSQL(t, maria+"-db-1", "checksum table clinic.visits")
	s.mariaCounts = mariaSQL(t, maria+"-db-1", "select count(*), sum(length(note)) from clinic.visits")
	s.mariaFiles = docker(t, "exec", maria+"-docs-1", "sh", "-c", "cd /docs && find . -type f | sort | xargs sha256sum")
	return s
}

// projectObjects lists the containers, volumes and networks of compose
// projects.
func projectObjects(t *testing.T, projects ...string) []string {
	t.Helper()
	var out []string
	for _, p := range projects {
		f := "label=com.docker.compose.project=" + p
		for _, args := range [][]string{{"ps", "-aq", "--filter", f}, {"volume", "ls", "-q", "--filter", f}, {"network", "ls", "-q", "--filter", f}} {
			if o := docker(t, args...); o != "" {
				out = append(out, args[0]+": "+strings.ReplaceAll(o, "\n", " "))
			}
		}
	}
	return out
}

// removeProjects removes every container, volume and network of the
// projects: the loss of the host, as far as these instances go.
func removeProjects(t *testing.T, projects ...string) {
	for _, p := range projects {
		f := "label=com.docker.compose.project=" + p
		for _, kind := range []string{"container", "volume", "network"} {
			ls := []string{kind, "ls", "-q", "--filter", f}
			if kind == "container" {
				ls = []string{"ps", "-aq", "--filter", f}
			}
			out, _ := exec.Command("docker", ls...).Output()
			for _, id := range strings.Fields(string(out)) {
				args := []string{kind, "rm", id}
				if kind != "network" {
					args = []string{kind, "rm", "-f", id}
				}
				exec.Command("docker", args...).Run()
			}
		}
	}
}

func restic(t *testing.T, repo, keyFile string, args ...string) string {
	t.Helper()
	cmd := exec.Command("restic", append([]string{"-r", repo, "--password-file", keyFile, "--no-cache"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("restic %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestDisasterRecoveryOfTwoInstances(t *testing.T) {
	testenv.RequireImages(t, "dockerbank/postgres:15", "dockerbank/mariadb:10.11", "dockerbank/busybox:1.36")
	testenv.RequireCommand(t, "restic")
	h := newHarness(t)
	h.extra = []string{"--bank", writeDRBank(t)}
	base := uniqueName("dr")
	demo, maria := base+"-demo", base+"-db"
	drillPrefix := base + "-drill-"
	t.Cleanup(func() {
		removeProjects(t, demo, maria, drillPrefix+demo, drillPrefix+maria)
		exec.Command("docker", "rmi", drTestImage+":2.0").Run()
	})

	// Two instances with data, written while no writer is running, so the
	// state before the loss is exactly known.
	h.ok("deploy", "demo", "--name", demo, "--set", "DEMO_INTERVAL=3600")
	h.ok("deploy", "drmaria", "--name", maria)
	waitRecords(t, demo, 1)
	psql(t, demo, "insert into records (version, payload, note) select '2.0', md5(g::text), 'dr test' from generate_series(1, 500) g")
	docker(t, "exec", "-u", "root", demo+"-app-1", "sh", "-c", "for i in 1 2 3; do head -c 200000 /dev/urandom > /data/files/blob-$i.bin; done")
	mariaSQL(t, maria+"-db-1", "create database clinic; create table clinic.visits (id int primary key auto_increment, patient varchar(40), note text); use clinic; insert into clinic.visits (patient, note) select concat('p', seq), md5(seq) from seq_1_to_300;")
	docker(t, "exec", maria+"-docs-1", "sh", "-c", "mkdir -p /docs/scans/2026 && head -c 300000 /dev/urandom > /docs/scans/2026/ct-1.dcm && echo consent > /docs/readme.txt")
	before := takeDRState(t, demo, maria, "")
	h.ok("backup", demo, maria)

	// The drill recovers both into throwaway instances and removes them,
	// leaving production alone.
	prodIDs := docker(t, "ps", "-q", "--no-trunc", "--filter", "label=com.docker.compose.project="+demo)
	drillStart := time.Now()
	out := h.ok("dr", "drill", "--prefix", drillPrefix)
	t.Logf("drill of 2 instances took %s", time.Since(drillStart).Round(100*time.Millisecond))
	if !strings.Contains(out, "drill instances removed: "+drillPrefix) {
		t.Errorf("drill output: %s", out)
	}
	if left := projectObjects(t, drillPrefix+demo, drillPrefix+maria); len(left) > 0 {
		t.Errorf("the drill left %v", left)
	}
	if ids := docker(t, "ps", "-q", "--no-trunc", "--filter", "label=com.docker.compose.project="+demo); ids != prodIDs {
		t.Errorf("the drill changed production's containers: %q, were %q", ids, prodIDs)
	}
	var recs []struct{ Command, Outcome, Detail string }
	if err := json.Unmarshal([]byte(h.ok("journal", "--json", "-n", "0")), &recs); err != nil {
		t.Fatal(err)
	}
	if last := recs[len(recs)-1]; last.Outcome != "ok" || !strings.Contains(last.Detail, "drill recovered "+demo) || !strings.Contains(last.Command, "dr drill") {
		t.Errorf("journal's last record after the drill: %+v", last)
	}

	// Export, with the secrets encrypted to an age recipient.
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	idFile := filepath.Join(work, "dr-key.txt")
	os.WriteFile(idFile, []byte(id.String()+"\n"), 0o600)
	bundle := filepath.Join(work, "site.tar.zst")
	h.ok("dr", "export", "--to", bundle, "--recipient", id.Recipient().String())

	// No secret and not the repository password, in plaintext, anywhere.
	raw, err := os.ReadFile(bundle)
	if err != nil {
		t.Fatal(err)
	}
	plain := zstdDecode(t, raw)
	t.Logf("bundle of 2 instances: %d bytes (%d bytes as tar)", len(raw), len(plain))
	secrets := map[string]string{}
	for _, inst := range []string{demo, maria} {
		files, _ := filepath.Glob(filepath.Join(h.site, "instances", inst, "secrets", "*"))
		for _, f := range files {
			v, _ := os.ReadFile(f)
			secrets[inst+"/"+filepath.Base(f)] = strings.TrimSpace(string(v))
		}
	}
	key, err := os.ReadFile(filepath.Join(h.site, "backup-key"))
	if err != nil {
		t.Fatal(err)
	}
	secrets["repository password"] = strings.TrimSpace(string(key))
	if len(secrets) < 3 {
		t.Fatalf("expected the secrets of both instances and the key, found %v", len(secrets))
	}
	for name, v := range secrets {
		if len(v) < 16 {
			t.Fatalf("secret %s is suspiciously short", name)
		}
		if bytes.Contains(raw, []byte(v)) || bytes.Contains(plain, []byte(v)) {
			t.Errorf("%s is in the bundle in plaintext", name)
		}
	}
	if !bytes.Contains(plain, []byte("RUNBOOK.md")) || !bytes.Contains(plain, []byte(demo)) {
		t.Error("the decompressed bundle does not hold the runbook and the instances")
	}

	// The loss: every container, volume and network of both instances,
	// the locally built image and the site go; the repository survives
	// elsewhere, its password in escrow.
	offsite := filepath.Join(work, "offsite-repo")
	if err := os.Rename(filepath.Join(h.site, "backups"), offsite); err != nil {
		t.Fatal(err)
	}
	escrow := filepath.Join(work, "backup-key.txt")
	os.WriteFile(escrow, key, 0o600)
	removeProjects(t, demo, maria)
	docker(t, "rmi", "-f", drTestImage+":2.0") // -f: a just-removed container may still hold it for a moment
	if err := os.RemoveAll(h.site); err != nil {
		t.Fatal(err)
	}
	if left := projectObjects(t, demo, maria); len(left) > 0 {
		t.Fatalf("not everything is gone: %v", left)
	}

	h2 := &harness{t: t, site: t.TempDir(), extra: nil}
	unchanged := func(t *testing.T) {
		t.Helper()
		if left := projectObjects(t, demo, maria); len(left) > 0 {
			t.Errorf("a refused restore created %v", left)
		}
		if ents, _ := os.ReadDir(filepath.Join(h2.site, "instances")); len(ents) > 0 {
			t.Errorf("a refused restore created instances in the site: %v", ents)
		}
	}

	// Bad input is refused before anything changes.
	other, _ := age.GenerateX25519Identity()
	otherFile := filepath.Join(work, "other-key.txt")
	os.WriteFile(otherFile, []byte(other.String()+"\n"), 0o600)
	newer := filepath.Join(work, "newer.tar.zst")
	os.WriteFile(newer, zstdEncode(t, bytes.Replace(plain, []byte(`"format": 1,`), []byte(`"format": 2,`), 1)), 0o600)
	emptyRepo := filepath.Join(work, "empty-repo")
	restic(t, emptyRepo, escrow, "init")
	goneRepo := filepath.Join(work, "gone-repo")
	if out, err := exec.Command("cp", "-a", offsite, goneRepo).CombinedOutput(); err != nil {
		t.Fatalf("copy repository: %v %s", err, out)
	}
	var snaps []struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(restic(t, goneRepo, escrow, "snapshots", "--json", "--tag", "instance="+maria)), &snaps); err != nil || len(snaps) == 0 {
		t.Fatalf("snapshots of %s: %v %v", maria, snaps, err)
	}
	for _, s := range snaps {
		restic(t, goneRepo, escrow, "forget", s.ID)
	}
	bad := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"newer format", []string{newer, "--identity", idFile}, ExitInvalid, "format 2, this dockerbank reads up to 1"},
		{"wrong key", []string{bundle, "--identity", otherFile, "--backup-key", escrow, "--repository", offsite}, ExitRefused, "wrong key"},
		{"no repository password", []string{bundle, "--identity", idFile, "--repository", offsite}, ExitRefused, "--backup-key"},
		{"wrong repository password", []string{bundle, "--identity", idFile, "--backup-key", otherFile, "--repository", offsite}, ExitRefused, "wrong backup repository password"},
		{"empty repository", []string{bundle, "--identity", idFile, "--backup-key", escrow, "--repository", emptyRepo}, ExitNotFound, "no restorable backup group"},
		{"group gone", []string{bundle, "--identity", idFile, "--backup-key", escrow, "--repository", goneRepo}, ExitNotFound, maria + " (data volumes dbdata, docs)"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			r := h2.run(append([]string{"dr", "restore"}, tt.args...)...)
			if r.code != tt.code || !strings.Contains(r.err, tt.want) || !strings.Contains(r.err, "") {
				t.Errorf("exit %d (want %d), stderr %q (want %q)", r.code, tt.code, r.err, tt.want)
			}
			unchanged(t)
		})
	}

	args := []string{"dr", "restore", bundle, "--identity", idFile, "--backup-key", escrow, "--repository", offsite}
	plan := h2.ok(append(args, "--dry-run")...)
	for _, want := range []string{"1. " + demo + ": demo 2.0", "first because: required by " + maria, "2. " + maria + ": drmaria 1",
		"build image " + drTestImage + ":2.0", "dry run: nothing was changed"} {
		if !strings.Contains(plan, want) {
			t.Errorf("plan lacks %q:\n%s", want, plan)
		}
	}
	unchanged(t)

	start := time.Now()
	r := h2.run(args...)
	took := time.Since(start)
	if r.code != 0 {
		for _, c := range []string{demo + "-db-1", demo + "-app-1", maria + "-db-1", maria + "-docs-1"} {
			logs, _ := exec.Command("docker", "logs", "--tail", "20", c).CombinedOutput()
			health, _ := exec.Command("docker", "inspect", "-f", "{{json .State.Health}}", c).CombinedOutput()
			t.Logf("%s logs:\n%s\nhealth: %s", c, logs, health)
		}
		t.Fatalf("dr restore: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.out, r.err)
	}
	out = r.out
	m := regexp.MustCompile(`recovered 2 instance\(s\) in ([0-9.]+)s`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("restore does not report the recovery time:\n%s", out)
	}
	t.Logf("recovery of 2 instances took %ss (measured by the test: %s)\n%s", m[1], took.Round(100*time.Millisecond), out)
	// The drill verified the groups, so recovery takes them as verified.
	for _, want := range []string{"deploy and restore", "checks passed: records-readable, audit-log-written", "checks passed: db-alive, docs-mounted",
		"restored group ", ", verified, taken", "preflight"} {
		if !strings.Contains(out, want) {
			t.Errorf("restore output lacks %q", want)
		}
	}
	if strings.Index(out, demo+"  ") > strings.Index(out, maria+"  ") {
		t.Errorf("%s was recovered before %s, which requires it", maria, demo)
	}
	for _, c := range []string{demo + "-db-1", demo + "-app-1", maria + "-db-1", maria + "-docs-1"} {
		if hs := docker(t, "inspect", "-f", "{{.State.Health.Status}}", c); hs != "healthy" {
			t.Errorf("%s is %s after the recovery", c, hs)
		}
	}
	if err := exec.Command("docker", "image", "inspect", drTestImage+":2.0").Run(); err != nil {
		t.Errorf("the locally built image was not rebuilt: %v", err)
	}
	after := takeDRState(t, demo, maria, before.maxRecord)
	if after.records != before.records {
		t.Errorf("records differ: %s, were %s", after.records, before.records)
	}
	for _, line := range strings.Split(before.demoFiles, "\n") {
		if !strings.Contains(after.demoFiles, line) {
			t.Errorf("demo file %q is gone or differs", line)
		}
	}
	if !strings.HasPrefix(after.audit, before.audit) {
		t.Errorf("audit log differs:\n%s\nwas\n%s", after.audit, before.audit)
	}
	if after.mariaTable != before.mariaTable || after.mariaCounts != before.mariaCounts || after.mariaFiles != before.mariaFiles {
		t.Errorf("drmaria data differs:\n%+v\nwas\n%+v", after, before)
	}
	h2.ok("rm", demo, "--purge-data", "--confirm", demo, "--force")
	h2.ok("rm", maria, "--purge-data", "--confirm", maria, "--force")
}

func zstdDecode(t *testing.T, raw []byte) []byte {
	t.Helper()
	zr, err := zstd.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("the bundle is not zstd: %v", err)
	}
	if _, err := tar.NewReader(bytes.NewReader(out)).Next(); err != nil {
		t.Fatalf("the bundle is not a tar: %v", err)
	}
	return out
}

func zstdEncode(t *testing.T, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := zstd.NewWriter(&buf)
	zw.Write(data)
	zw.Close()
	return buf.Bytes()
}
