package cli

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"

	"github.com/dockerbank/dockerbank"
	"github.com/dockerbank/dockerbank/internal/instance/label"
	"github.com/dockerbank/dockerbank/internal/observe"
	"github.com/dockerbank/dockerbank/internal/testenv"
)

// harness runs dockerbank in-process against one site on the real engine.
type harness struct {
	t        *testing.T
	site     string
	extra    []string
	serveOut *lockedBuffer // serve's output (see heal_test.go)
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	testenv.RequireImages(t, "dockerbank/postgres:15")
	return &harness{t: t, site: t.TempDir()}
}

type result struct {
	out, err string
	code     int
}

func (h *harness) run(args ...string) result {
	h.t.Helper()
	var out, errb bytes.Buffer
	all := append([]string{"--site", h.site, "--quiet"}, h.extra...)
	code := Main(append(all, args...), Streams{In: strings.NewReader(""), Out: &out, Err: &errb})
	return result{out.String(), errb.String(), code}
}

func (h *harness) ok(args ...string) string {
	h.t.Helper()
	r := h.run(args...)
	if r.code != 0 {
		h.t.Fatalf("dockerbank %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.out, r.err)
	}
	return r.out
}

// name returns an instance name unique to this run.
func uniqueName(prefix string) string {
	return prefix + "-" + strings.ToLower(rand.Text()[:6])
}

// cleanup removes an instance with its data at the end of a test, and
// the anonymous volumes its containers had (should rm leave any).
func (h *harness) cleanup(name string) {
	h.t.Cleanup(func() {
		anon := anonymousVolumes(h.t, name)
		h.run("rm", name, "--purge-data", "--confirm", name, "--force")
		for _, v := range anon {
			exec.Command("docker", "volume", "rm", v).Run()
		}
		out, _ := exec.Command("docker", "volume", "ls", "-q", "--filter", "label="+label.Instance+"="+name).Output()
		for _, v := range strings.Fields(string(out)) {
			exec.Command("docker", "volume", "rm", "-f", v).Run()
		}
	})
}

// anonymousVolumes lists the anonymous volumes (64-hex names) mounted by
// the containers of an instance.
func anonymousVolumes(t *testing.T, instance string) []string {
	ids, _ := exec.Command("docker", "ps", "-aq", "--filter", "label=com.docker.compose.project="+instance).Output()
	if len(strings.TrimSpace(string(ids))) == 0 {
		return nil
	}
	args := append([]string{"inspect", "--format", `{{range .Mounts}}{{if eq .Type "volume"}}{{.Name}} {{end}}{{end}}`}, strings.Fields(string(ids))...)
	out, _ := exec.Command("docker", args...).Output()
	var anon []string
	for _, v := range strings.Fields(string(out)) {
		if len(v) == 64 && strings.Trim(v, "0123456789abcdef") == "" {
			anon = append(anon, v)
		}
	}
	return anon
}

func docker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// psql runs a query in the instance's database container.
func psql(t *testing.T, instance, query string) string {
	t.Helper()
	return docker(t, "exec", instance+"-db-1", "psql", "-U", "demo", "-d", "demo", "-tAc", query)
}

// snapshot is the user data of a demo instance at one moment: its records
// and the checksums of its files.
type snapshot struct {
	records map[string]string // id -> payload
	files   string            // sha256sum of every record file
}

func takeSnapshot(t *testing.T, instance string) snapshot {
	t.Helper()
	rows := psql(t, instance, "select id, payload from records order by id")
	s := snapshot{records: map[string]string{}}
	for _, line := range strings.Split(rows, "\n") {
		if id, payload, ok := strings.Cut(line, "|"); ok {
			s.records[id] = payload
		}
	}
	s.files = docker(t, "exec", instance+"-app-1", "sh", "-c", "cd /data/files && sha256sum record-*.txt | sort")
	return s
}

// keeps checks that every record and file of before is still there.
func (s snapshot) keeps(t *testing.T, before snapshot) {
	t.Helper()
	if len(before.records) == 0 {
		t.Fatal("the earlier snapshot has no records")
	}
	for id, p := range before.records {
		if s.records[id] != p {
			t.Errorf("record %s was %q, now %q", id, p, s.records[id])
		}
	}
	for _, line := range strings.Split(before.files, "\n") {
		if !strings.Contains(s.files, line) {
			t.Errorf("file line %q is gone", line)
		}
	}
}

// waitRecords polls until the instance has written at least n records.
func waitRecords(t *testing.T, instance string, n int) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		out, err := exec.Command("docker", "exec", instance+"-db-1", "psql", "-U", "demo", "-d", "demo", "-tAc", "select count(*) from records").Output()
		if err == nil {
			if c, _ := strconv.Atoi(strings.TrimSpace(string(out))); c >= n {
				return
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("%s did not write %d records in time", instance, n)
}

func TestDemoDataSurvivesDownDeployAndUpgrade(t *testing.T) {
	demoLifecycle(t, newHarness(t))
}

// demoLifecycle runs a demo instance through deploy, down, deploy again,
// a refused and a done upgrade, ps, logs, stats, serve's metrics and rm on
// the engine at DOCKER_HOST, checking its data at every step. Docker
// (TestDemoDataSurvivesDownDeployAndUpgrade) and Podman (TestPodmanDemo)
// run exactly these steps and assertions.
func demoLifecycle(t *testing.T, h *harness) {
	start := time.Now()
	defer func() { t.Logf("demo lifecycle took %s", time.Since(start).Round(100*time.Millisecond)) }()
	name := uniqueName("it")
	h.cleanup(name)
	h.ok("deploy", "demo", "--name", name, "--version", "1.0", "--set", "DEMO_INTERVAL=1")
	waitRecords(t, name, 3)
	before := takeSnapshot(t, name)

	h.ok("down", name)
	if out := docker(t, "ps", "-aq", "--filter", "label=com.docker.compose.project="+name); out != "" {
		t.Fatalf("containers left after down: %s", out)
	}
	vols := docker(t, "volume", "ls", "-q", "--filter", "label="+label.Instance+"="+name)
	for _, v := range []string{"_pgdata", "_files", "_audit"} {
		if !strings.Contains(vols, name+v) {
			t.Errorf("volume %s%s is gone after down: %s", name, v, vols)
		}
	}
	h.ok("deploy", "demo", "--name", name)
	takeSnapshot(t, name).keeps(t, before)

	// upgrade refuses without a fresh backup, and changes nothing
	r := h.run("upgrade", name, "--to", "2.0")
	if r.code != ExitRefused || !strings.Contains(r.err, "no fresh backup") {
		t.Fatalf("upgrade without backup: exit %d, %s", r.code, r.err)
	}
	if v := docker(t, "inspect", "-f", `{{index .Config.Labels "`+label.Version+`"}}`, name+"-app-1"); v != "1.0" {
		t.Fatalf("a refused upgrade changed the version to %s", v)
	}
	h.ok("upgrade", name, "--to", "2.0", "--no-backup")
	upgraded := takeSnapshot(t, name)
	upgraded.keeps(t, before)
	if v := docker(t, "inspect", "-f", `{{index .Config.Labels "`+label.Version+`"}}`, name+"-app-1"); v != "2.0" {
		t.Errorf("app runs version %s after upgrade", v)
	}
	if cols := psql(t, name, "select count(*) from information_schema.columns where table_name='records' and column_name='note'"); cols != "1" {
		t.Errorf("the 2.0 migration did not run: %s", cols)
	}
	// compose's own labels stay intact
	if p := docker(t, "inspect", "-f", `{{index .Config.Labels "com.docker.compose.project"}}`, name+"-db-1"); p != name {
		t.Errorf("compose project label is %q", p)
	}
	var ps struct {
		Containers []struct{ Health string }
	}
	if err := json.Unmarshal([]byte(h.ok("ps", name, "--json")), &ps); err != nil {
		t.Fatal(err)
	}
	for _, c := range ps.Containers {
		if c.Health != "healthy" {
			t.Errorf("a container is %q after upgrade", c.Health)
		}
	}
	if len(ps.Containers) != 2 {
		t.Errorf("ps lists %d containers, want 2", len(ps.Containers))
	}

	// logs: the lines of both services, each prefixed with its service
	logs := h.ok("logs", name, "--tail", "100")
	for _, w := range []string{"demo app 2.0 started", "database system is ready to accept connections"} {
		if !strings.Contains(logs, w) {
			t.Errorf("logs lack %q:\n%s", w, logs)
		}
	}
	// stats: one reading of each container, with memory and processes
	var rows []struct {
		Name          string
		MemWorkingSet uint64 `json:"memWorkingSet"`
		Pids          uint64 `json:"pids"`
	}
	if err := json.Unmarshal([]byte(h.ok("stats", name, "--no-stream", "--json", "--interval", "1s")), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Errorf("stats has %d rows, want 2: %+v", len(rows), rows)
	}
	for _, r := range rows {
		if r.MemWorkingSet == 0 || r.Pids == 0 {
			t.Errorf("stats of %s: working set %d, %d processes", r.Name, r.MemWorkingSet, r.Pids)
		}
	}
	// serve's /metrics: one collection as serve makes it
	metrics := serveMetrics(t, h)
	for _, w := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^dockerbank_instance_health\{instance="` + name + `",state="healthy"\} 1$`),
		regexp.MustCompile(`(?m)^container_health_state\{[^}]*name="/` + name + `-app-1"[^}]*\} 1$`),
		regexp.MustCompile(`(?m)^container_memory_working_set_bytes\{[^}]*name="/` + name + `-db-1"[^}]*\} [1-9]`),
		regexp.MustCompile(`(?m)^container_processes\{[^}]*name="/` + name + `-db-1"[^}]*\} [1-9]`),
		regexp.MustCompile(`(?m)^dockerbank_engine_up\{[^}]*\} 1$`),
	} {
		if !w.MatchString(metrics) {
			t.Errorf("metrics lack %s", w)
		}
	}

	// rm removes the containers and keeps the user data
	h.ok("rm", name)
	if out := docker(t, "ps", "-aq", "--filter", "label=com.docker.compose.project="+name); out != "" {
		t.Errorf("containers left after rm: %s", out)
	}
	vols = docker(t, "volume", "ls", "-q", "--filter", "label="+label.Instance+"="+name)
	for _, v := range []string{"_pgdata", "_files", "_audit"} {
		if !strings.Contains(vols, name+v) {
			t.Errorf("userdata volume %s%s is gone after rm: %s", name, v, vols)
		}
	}
}

// serveMetrics collects the site's metrics once, with the collector that
// serve wires for a local engine, and returns them in the text format.
func serveMetrics(t *testing.T, h *harness) string {
	t.Helper()
	a := &app{streams: Streams{In: strings.NewReader(""), Out: new(bytes.Buffer), Err: new(bytes.Buffer)}, siteDir: h.site, quiet: true}
	s, err := a.openSite()
	if err != nil {
		t.Fatal(err)
	}
	e, err := a.openEngine(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	col := &observe.Collector{Engine: e, Site: s}
	if e.IsLocal() {
		col.Cgroup = observe.HostCgroup()
	}
	if err := col.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	mfs, err := observe.Registry(col).Gather()
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	for _, mf := range mfs {
		expfmt.MetricFamilyToText(&text, mf)
	}
	return text.String()
}

// writeBrokenBank copies the embedded demo entry into a directory bank and
// adds a version whose app image never becomes healthy.
func writeBrokenBank(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Cleanup(func() { exec.Command("docker", "image", "rm", "dockerbank/demo-app:9.9-broken").Run() })
	sub := filepath.Join(dir, "demo")
	if err := os.CopyFS(sub, mustSub(t, dockerbank.BankRoot+"/demo")); err != nil {
		t.Fatal(err)
	}
	entry, err := os.ReadFile(filepath.Join(sub, "entry.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	broken := strings.Replace(string(entry), "parameters:", `  - version: "9.9-broken"
    images:
      db: dockerbank/postgres:15
      app: dockerbank/demo-app:9.9-broken
    build:
      app: {context: broken}
parameters:`, 1)
	if err := os.WriteFile(filepath.Join(sub, "entry.yaml"), []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(sub, "broken"), 0o755); err != nil {
		t.Fatal(err)
	}
	dockerfile := "FROM dockerbank/demo-app:2.0\nUSER root\nRUN printf '#!/bin/sh\\nexit 1\\n' > /app/healthcheck\nUSER postgres\n"
	if err := os.WriteFile(filepath.Join(sub, "broken", "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestUpgradeToUnhealthyVersionRollsBack(t *testing.T) {
	upgradeRollsBack(t)
}

// upgradeRollsBack is TestUpgradeToUnhealthyVersionRollsBack on the engine
// at DOCKER_HOST; Podman runs it too (podman_test.go).
func upgradeRollsBack(t *testing.T) {
	h := newHarness(t)
	h.extra = []string{"--bank", writeBrokenBank(t)}
	name := uniqueName("rb")
	h.cleanup(name)
	h.ok("deploy", "demo", "--name", name, "--set", "DEMO_INTERVAL=1")
	waitRecords(t, name, 2)
	before := takeSnapshot(t, name)
	start := time.Now()
	r := h.run("upgrade", name, "--to", "9.9-broken", "--no-backup", "--timeout", "25s")
	if r.code != ExitRolledBack {
		t.Fatalf("upgrade to a broken version: exit %d (want %d)\n%s", r.code, ExitRolledBack, r.err)
	}
	if !strings.Contains(r.err, "runs 2.0 again") {
		t.Errorf("message does not say what runs: %s", r.err)
	}
	t.Logf("rollback took %s", time.Since(start).Round(time.Second))
	if v := docker(t, "inspect", "-f", `{{index .Config.Labels "`+label.Version+`"}}`, name+"-app-1"); v != "2.0" {
		t.Errorf("app runs version %s after the rollback", v)
	}
	if h := docker(t, "inspect", "-f", "{{.State.Health.Status}}", name+"-app-1"); h != "healthy" {
		t.Errorf("app is %s after the rollback", h)
	}
	takeSnapshot(t, name).keeps(t, before)
	var recs []struct{ Outcome, Detail string }
	if err := json.Unmarshal([]byte(h.ok("journal", name, "--json")), &recs); err != nil {
		t.Fatal(err)
	}
	last := recs[len(recs)-1]
	if last.Outcome != "failed" || !strings.Contains(last.Detail, "rolled back") {
		t.Errorf("journal's last record: %+v", last)
	}
}

func TestRemoveKeepsUserdataAndTwoInstancesRunSideBySide(t *testing.T) {
	h := newHarness(t)
	a, b := uniqueName("sa"), uniqueName("sb")
	h.cleanup(a)
	h.cleanup(b)
	h.ok("deploy", "demo", "--name", a, "--set", "DEMO_INTERVAL=1")
	h.ok("deploy", "demo", "--name", b, "--set", "DEMO_INTERVAL=1")
	waitRecords(t, a, 2)
	waitRecords(t, b, 2)
	var ls []struct {
		Instance struct{ Name string }
	}
	if err := json.Unmarshal([]byte(h.ok("ls", "--json")), &ls); err != nil {
		t.Fatal(err)
	}
	if len(ls) != 2 {
		t.Fatalf("ls lists %d instances, want 2", len(ls))
	}
	// each instance has its own database with its own secret
	if psql(t, a, "select 1") != "1" || psql(t, b, "select 1") != "1" {
		t.Fatal("a database does not answer")
	}
	secretA, _ := os.ReadFile(filepath.Join(h.site, "instances", a, "secrets", "db_password"))
	secretB, _ := os.ReadFile(filepath.Join(h.site, "instances", b, "secrets", "db_password"))
	if len(secretA) < 32 || bytes.Equal(secretA, secretB) {
		t.Errorf("secrets are short or shared: %d bytes", len(secretA))
	}
	if st, _ := os.Stat(filepath.Join(h.site, "instances", a, "secrets", "db_password")); st.Mode().Perm() != 0o600 {
		t.Errorf("secret file mode %v", st.Mode().Perm())
	}
	before := takeSnapshot(t, a)

	out := h.ok("rm", a)
	if !strings.Contains(out, a+"_pgdata") {
		t.Errorf("rm does not name the kept volumes: %s", out)
	}
	var orphans []struct {
		Name, Instance, Class, Orphaned string
	}
	if err := json.Unmarshal([]byte(h.ok("volumes", "--orphaned", "--json")), &orphans); err != nil {
		t.Fatal(err)
	}
	found := map[string]string{}
	for _, v := range orphans {
		if v.Instance == a {
			found[v.Name] = v.Class
		}
		if v.Instance == b {
			t.Errorf("volume %s of the running instance is listed as orphaned", v.Name)
		}
	}
	for _, v := range []string{"_pgdata", "_files", "_audit"} {
		if found[a+v] != "userdata" {
			t.Errorf("volume %s%s not listed as orphaned userdata: %v", a, v, found)
		}
	}
	// a new instance with the same name would take over the old data: refused
	if r := h.run("deploy", "demo", "--name", a); r.code != ExitRefused || !strings.Contains(r.err, a+"_pgdata") {
		t.Errorf("deploy over leftover volumes: exit %d %s", r.code, r.err)
	}
	// gc removes only the temp volume
	gc := h.ok("gc")
	if !strings.Contains(gc, a+"_scratch") || strings.Contains(gc, "pgdata") {
		t.Errorf("gc: %s", gc)
	}
	vols := docker(t, "volume", "ls", "-q", "--filter", "label="+label.Instance+"="+a)
	if strings.Contains(vols, "scratch") || !strings.Contains(vols, a+"_pgdata") {
		t.Errorf("after gc the volumes of %s are: %s", a, vols)
	}
	// the data in the kept volume is the data of the removed instance
	out = docker(t, "run", "--rm", "-v", a+"_files:/data:ro", "dockerbank/busybox:1.36", "sh", "-c", "cd /data/files && sha256sum record-*.txt | sort")
	for _, line := range strings.Split(before.files, "\n") {
		if !strings.Contains(out, line) {
			t.Errorf("kept volume lost %q", line)
		}
	}
	// the other instance never noticed
	if h := docker(t, "inspect", "-f", "{{.State.Health.Status}}", b+"-app-1"); h != "healthy" {
		t.Errorf("instance %s is %s", b, h)
	}
}

func TestBadInputChangesNothing(t *testing.T) {
	h := newHarness(t)
	name := uniqueName("bi")
	h.cleanup(name)
	h.ok("deploy", "demo", "--name", name)
	journal := func() int {
		var recs []json.RawMessage
		json.Unmarshal([]byte(h.ok("journal", "--json", "-n", "0")), &recs)
		return len(recs)
	}
	n := journal()
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"deploy", "demo", "--name", name}, ExitRefused, "instance name taken"},
		{[]string{"deploy", "demo", "--name", "other", "--version", "7.7"}, ExitNotFound, "no version \"7.7\""},
		{[]string{"deploy", "no-such-entry"}, ExitNotFound, "no such entry"},
		{[]string{"deploy", "demo", "--name", "Bad Name"}, ExitUsage, "not valid"},
		{[]string{"deploy", "demo", "--name", "other", "--set", "NOPE=1"}, ExitError, "no parameter NOPE"},
		{[]string{"upgrade", name, "--to", "7.7", "--no-backup"}, ExitNotFound, "no version"},
		{[]string{"rm", name, "--purge-data", "--confirm", "wrong"}, ExitRefused, "needs its name typed"},
		{[]string{"rm", name, "--purge-data", "--confirm", name}, ExitRefused, "no fresh backup"},
		{[]string{"ps", "missing"}, ExitNotFound, "no such instance"},
		{[]string{"deploy"}, ExitUsage, "accepts 1 arg"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := h.run(tt.args...)
			if r.code != tt.code || !strings.Contains(r.err, tt.want) {
				t.Errorf("exit %d (want %d), stderr %q (want %q)", r.code, tt.code, r.err, tt.want)
			}
		})
	}
	if got := journal(); got != n {
		t.Errorf("refused commands wrote %d journal records", got-n)
	}
	if h := docker(t, "inspect", "-f", "{{.State.Health.Status}}", name+"-db-1"); h != "healthy" {
		t.Errorf("instance is %s after the refused commands", h)
	}
	if _, err := os.Stat(filepath.Join(h.site, "instances", "other")); err == nil {
		t.Error("a refused deploy left an instance directory")
	}
	// audit instance audits each image of the instance once
	r := h.run("audit", "instance", name, "--json")
	var reports []struct {
		Image struct{ Ref string }
	}
	if err := json.Unmarshal([]byte(r.out), &reports); err != nil || len(reports) != 2 {
		t.Errorf("audit instance: exit %d, %d reports, %v\n%s", r.code, len(reports), err, r.err)
	}
}

func TestUnreachableEngineNamesDockerHost(t *testing.T) {
	site := t.TempDir()
	sock := filepath.Join(t.TempDir(), "nothing.sock")
	t.Setenv("DOCKER_HOST", "unix://"+sock)
	var out, errb bytes.Buffer
	code := Main([]string{"--site", site, "deploy", "demo"}, Streams{In: strings.NewReader(""), Out: &out, Err: &errb})
	if code != ExitUnreachable {
		t.Fatalf("exit %d, want %d: %s", code, ExitUnreachable, errb.String())
	}
	for _, w := range []string{"DOCKER_HOST", sock, "start the engine"} {
		if !strings.Contains(errb.String(), w) {
			t.Errorf("message lacks %q: %s", w, errb.String())
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(site, "instances")); len(ents) != 0 {
		t.Errorf("instances were created: %v", ents)
	}
}

func mustSub(t *testing.T, dir string) fs.FS {
	t.Helper()
	sub, err := fs.Sub(dockerbank.Bank, dir)
	if err != nil {
		t.Fatal(err)
	}
	return sub
}
