package cli

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dockerbank/dockerbank/internal/backup"
	"github.com/dockerbank/dockerbank/internal/deploy"
	"github.com/dockerbank/dockerbank/internal/dicom"
	"github.com/dockerbank/dockerbank/internal/engine"
	"github.com/dockerbank/dockerbank/internal/instance/label"
	"github.com/dockerbank/dockerbank/internal/testenv"
)

// deployTenant deploys orthanc 1.10.1 on the shared PostgreSQL server.
func deployTenant(t *testing.T, h *harness, name, server string) *orthancInst {
	t.Helper()
	h.cleanup(name)
	port := freeTCPPort(t)
	h.ok("deploy", "orthanc", "--name", name, "--version", orthancVersion, "--use", "db="+server,
		"--set", "HTTP_PORT="+port, "--set", "DICOM_PORT="+freeTCPPort(t))
	pw, err := os.ReadFile(filepath.Join(h.site, "instances", name, "secrets", "admin_password"))
	if err != nil {
		t.Fatal(err)
	}
	o := &orthancInst{name: name, ctr: name + "-orthanc-1",
		api: &dicom.Orthanc{URL: "http://127.0.0.1:" + port, User: "admin", Password: strings.TrimSpace(string(pw))}}
	o.waitREST(t)
	return o
}

// serverTables returns the per-table row counts and checksums of one
// database of the shared server, as the postgres dumper computes them.
func serverTables(t *testing.T, e *engine.Engine, server, db string) []backup.Table {
	t.Helper()
	d, err := backup.NewDumper(t.Context(), e, server+"-server-1", "postgres")
	if err != nil {
		t.Fatal(err)
	}
	tables, err := d.Tables(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	if len(tables) == 0 {
		t.Fatalf("database %s in %s has no tables", db, server)
	}
	return tables
}

func serverDatabases(t *testing.T, server string) []string {
	t.Helper()
	out := docker(t, "exec", server+"-server-1", "psql", "-U", "postgres", "-d", "postgres", "-tAc",
		"select datname from pg_database where not datistemplate order by 1")
	return strings.Fields(out)
}

// TestSharedPostgres: two Orthanc instances on one shared PostgreSQL, each
// with its own database and role; back up, damage and restore one: its
// data is identical, the other tenant's database untouched; the server
// cannot be removed while they use it; purging one drops only its
// database.
func TestSharedPostgres(t *testing.T) {
	testenv.RequireImages(t, "dockerbank/orthanc:"+orthancVersion, "dockerbank/postgres:15", "dockerbank/busybox:1.36")
	testenv.RequireCommand(t, "restic")
	h := newHarness(t)
	e, err := engine.Connect(t.Context(), engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	pg := uniqueName("sh5pg")
	h.cleanup(pg) // registered first: removed after its tenants
	h.ok("deploy", "postgres", "--name", pg)
	o1 := deployTenant(t, h, uniqueName("sh5o1"), pg)
	o2 := deployTenant(t, h, uniqueName("sh5o2"), pg)
	t.Logf("server and two tenants deployed in %s", time.Since(start).Round(time.Second))

	// The tenants run no database of their own; each has its database and
	// role in the server, and reaches only its own.
	for _, o := range []*orthancInst{o1, o2} {
		ctrs := strings.Fields(docker(t, "ps", "-a", "--format", "{{.Names}}", "--filter", "label=com.docker.compose.project="+o.name))
		if !slices.Equal(ctrs, []string{o.ctr}) {
			t.Errorf("containers of %s: %v, want only %s", o.name, ctrs, o.ctr)
		}
	}
	if dbs := serverDatabases(t, pg); !slices.Contains(dbs, o1.name) || !slices.Contains(dbs, o2.name) {
		t.Fatalf("databases in %s: %v, want %s and %s", pg, dbs, o1.name, o2.name)
	}
	pw2, err := os.ReadFile(filepath.Join(h.site, "instances", o2.name, "secrets", "db_password"))
	if err != nil {
		t.Fatal(err)
	}
	// o2's role, with its own password, over the network: refused in o1's
	// database.
	cross := exec.Command("docker", "exec", "-e", "PGPASSWORD="+strings.TrimSpace(string(pw2)), pg+"-server-1",
		"psql", "-h", "127.0.0.1", "-U", o2.name, "-d", o1.name, "-tAc", "select 1")
	if out, err := cross.CombinedOutput(); err == nil || !strings.Contains(string(out), "permission denied") {
		t.Errorf("o2's role connected to o1's database: %v %s", err, out)
	}

	// ls shows the dependency both ways.
	var sts []struct {
		Instance struct {
			Name string
			Uses map[string]string
		}
		UsedBy []string
	}
	if err := json.Unmarshal([]byte(h.ok("ls", "--json")), &sts); err != nil {
		t.Fatal(err)
	}
	for _, st := range sts {
		switch st.Instance.Name {
		case pg:
			if want := []string{o1.name, o2.name}; !slices.Equal(st.UsedBy, want) {
				t.Errorf("ls --json: %s used by %v, want %v", pg, st.UsedBy, want)
			}
		case o1.name, o2.name:
			if st.Instance.Uses["db"] != pg {
				t.Errorf("ls --json: %s uses %v, want db=%s", st.Instance.Name, st.Instance.Uses, pg)
			}
		}
	}
	if out := h.ok("ls"); !strings.Contains(out, "used by "+o1.name+", "+o2.name) || !strings.Contains(out, "uses "+pg+" (db)") {
		t.Errorf("ls does not show the dependency both ways:\n%s", out)
	}

	// export k8s refers to the shared server as an ExternalName Service.
	if out := h.ok("export", "k8s", o1.name, "--out", "-"); !strings.Contains(out, "type: ExternalName") ||
		!strings.Contains(out, "externalName: server."+pg+".svc.cluster.local") {
		t.Errorf("export k8s %s has no ExternalName Service for %s:\n%s", o1.name, pg, out)
	}

	// DICOM files in both.
	set1 := dicom.Set{Seed: time.Now().UnixNano(), StudiesPerPatient: 1, SeriesPerStudy: 2, InstancesPerSeries: 4}
	set2 := dicom.Set{Seed: time.Now().UnixNano() + 1, StudiesPerPatient: 1, SeriesPerStudy: 1, InstancesPerSeries: 6}
	var ins1, ins2 []dicom.Instance
	for i := 0; i < 8; i++ {
		ins1 = append(ins1, set1.Instance(i))
	}
	for i := 0; i < 6; i++ {
		ins2 = append(ins2, set2.Instance(i))
	}
	o2.storeREST(t, ins2)
	stored2 := time.Now()
	o1.storeREST(t, ins1)
	want1, want2 := o1.contents(t), o2.contents(t)
	if len(want1) != 8 || len(want2) != 6 {
		t.Fatalf("stored 8 and 6 instances, Orthanc lists %d and %d", len(want1), len(want2))
	}
	for _, in := range ins1 {
		if want1[in.OrthancID()] != sha(in.Data) {
			t.Errorf("o1 does not return instance %d byte for byte", in.Index)
		}
	}
	// Orthanc itself writes a while after an upload (its "stable" events
	// after StableAge, 60 s): o2's tables are taken once they are still.
	tables2 := stillTables(t, e, pg, o2.name, stored2.Add(65*time.Second))

	// Back up o1: its own database only (no globals), with its storage.
	r := h.run("backup", o1.name, "--json")
	if r.code != 0 {
		t.Fatalf("backup %s: exit %d\n%s\n%s", o1.name, r.code, r.out, r.err)
	}
	var sums []struct {
		Group   string
		Members []struct {
			Volume, Kind, Server string
			Streams              []string
		}
	}
	if err := json.Unmarshal([]byte(r.out), &sums); err != nil || len(sums) != 1 {
		t.Fatalf("backup --json: %v\n%s", err, r.out)
	}
	var kinds []string
	for _, mb := range sums[0].Members {
		kinds = append(kinds, mb.Volume+":"+mb.Kind)
		if mb.Kind == backup.KindDump {
			if mb.Server != pg || !slices.Equal(mb.Streams, []string{"db-" + o1.name + ".sql"}) {
				t.Errorf("dump member of %s: %+v, want only database %s dumped in %s", o1.name, mb, o1.name, pg)
			}
		}
	}
	slices.Sort(kinds)
	if want := []string{"-:meta", "db:dump", "storage:files"}; !slices.Equal(kinds, want) {
		t.Errorf("members of o1's group: %v, want %v", kinds, want)
	}

	// Damage o1: instances deleted through the API, rows deleted in its
	// index by its own role.
	for _, in := range ins1[:3] {
		if err := o1.api.Delete(t.Context(), in.OrthancID()); err != nil {
			t.Fatal(err)
		}
	}
	docker(t, "exec", pg+"-server-1", "psql", "-U", o1.name, "-d", o1.name, "-tAc", "delete from changes")
	if got := o1.contents(t); len(got) != 5 {
		t.Fatalf("o1 holds %d instances after deleting 3 of 8", len(got))
	}

	// Restore o1 in place: its data identical, o2's tables untouched.
	rStart := time.Now()
	out := h.ok("restore", o1.name)
	t.Logf("restore of %s in %s: %s", o1.name, time.Since(rStart).Round(time.Second), strings.TrimSpace(out))
	o1.waitREST(t)
	if got := o1.contents(t); !equalMaps(got, want1) {
		t.Errorf("o1 after the restore: %d instances, %d before the backup; contents differ", len(got), len(want1))
	}
	if got := serverTables(t, e, pg, o2.name); !slices.Equal(got, tables2) {
		t.Errorf("o2's tables changed by o1's restore:\n before %v\n after  %v", tables2, got)
	}
	if got := o2.contents(t); !equalMaps(got, want2) {
		t.Errorf("o2's instances changed by o1's restore")
	}
	if dbs := serverDatabases(t, pg); slices.ContainsFunc(dbs, func(d string) bool { return strings.Contains(d, "-rs") }) {
		t.Errorf("the restore left a staging database behind: %v", dbs)
	}

	// The server cannot go while tenants use it.
	rm := h.run("rm", pg, "--purge-data", "--confirm", pg, "--force")
	if rm.code != ExitRefused || !strings.Contains(rm.err, o1.name) || !strings.Contains(rm.err, o2.name) {
		t.Errorf("rm %s while used: exit %d, want %d naming %s and %s\n%s", pg, rm.code, ExitRefused, o1.name, o2.name, rm.err)
	}

	// The server's own group holds its roles, no tenant's database.
	var pgSums []struct {
		Members []struct {
			Kind    string
			Streams []string
		}
	}
	if err := json.Unmarshal([]byte(h.ok("backup", pg, "--json")), &pgSums); err != nil || len(pgSums) != 1 {
		t.Fatalf("backup %s --json: %v", pg, err)
	}
	var streams []string
	for _, mb := range pgSums[0].Members {
		streams = append(streams, mb.Streams...)
	}
	if !slices.Contains(streams, "globals.sql") || slices.ContainsFunc(streams, func(s string) bool {
		return strings.Contains(s, o1.name) || strings.Contains(s, o2.name)
	}) {
		t.Errorf("streams of %s's group: %v, want globals.sql and no tenant database", pg, streams)
	}

	if out := h.ok("snapshots", pg); !strings.Contains(out, "not its tenants' databases: those are in the groups of "+o1.name+", "+o2.name) {
		t.Errorf("snapshots %s does not say where its tenants' databases are:\n%s", pg, out)
	}

	// Purging o2 drops its database and role only.
	h.ok("backup", o2.name)
	h.ok("rm", o2.name, "--purge-data", "--confirm", o2.name)
	dbs := serverDatabases(t, pg)
	if slices.Contains(dbs, o2.name) || !slices.Contains(dbs, o1.name) {
		t.Errorf("databases after rm --purge-data %s: %v", o2.name, dbs)
	}
	if roles := docker(t, "exec", pg+"-server-1", "psql", "-U", "postgres", "-d", "postgres", "-tAc",
		"select count(*) from pg_roles where rolname = '"+o2.name+"'"); roles != "0" {
		t.Errorf("role %s left after the purge", o2.name)
	}
	if nets := docker(t, "network", "ls", "-q", "--filter", "name="+deploy.LinkNetwork(o2.name)); nets != "" {
		t.Errorf("link network of %s left after rm", o2.name)
	}
	if got := o1.contents(t); !equalMaps(got, want1) {
		t.Errorf("o1's instances changed by the purge of o2")
	}
	t.Logf("whole run %s", time.Since(start).Round(time.Second))
}

// stillTables waits until not before and the tables of a database read
// the same twice in a row, 3 s apart, and returns them.
func stillTables(t *testing.T, e *engine.Engine, server, db string, notBefore time.Time) []backup.Table {
	t.Helper()
	time.Sleep(time.Until(notBefore))
	prev := serverTables(t, e, server, db)
	deadline := time.Now().Add(3 * time.Minute)
	for {
		time.Sleep(3 * time.Second)
		cur := serverTables(t, e, server, db)
		if slices.Equal(cur, prev) {
			return cur
		}
		if time.Now().After(deadline) {
			t.Fatalf("the tables of %s in %s keep changing", db, server)
		}
		prev = cur
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestSharedServerUpgrade: upgrading a shared server backs its tenant up
// first and keeps it healthy with its data; a version whose server comes
// up healthy without the tenants' databases is rolled back (exit 7), and
// the tenant's data is there again.
func TestSharedServerUpgrade(t *testing.T) {
	testenv.RequireImages(t, "dockerbank/orthanc:"+orthancVersion, "dockerbank/postgres:15", "dockerbank/busybox:1.36")
	testenv.RequireCommand(t, "restic")
	h := newHarness(t)
	bankDir, err := filepath.Abs(filepath.Join("testdata", "shared-bank"))
	if err != nil {
		t.Fatal(err)
	}
	h.ok("bank", "add", bankDir) // postgres with the versions 15-tuned and 15-lost
	start := time.Now()
	pg := uniqueName("sh5pgu")
	h.cleanup(pg)
	h.ok("deploy", "postgres", "--name", pg)
	o1 := deployTenant(t, h, uniqueName("sh5u1"), pg)
	set := dicom.Set{Seed: time.Now().UnixNano(), StudiesPerPatient: 1, SeriesPerStudy: 1, InstancesPerSeries: 4}
	var ins []dicom.Instance
	for i := 0; i < 4; i++ {
		ins = append(ins, set.Instance(i))
	}
	o1.storeREST(t, ins)
	want := o1.contents(t)
	lastBackup := func() time.Time {
		var sts []struct {
			Instance struct {
				Name       string
				LastBackup time.Time
			}
		}
		if err := json.Unmarshal([]byte(h.ok("ls", "--json")), &sts); err != nil {
			t.Fatal(err)
		}
		for _, st := range sts {
			if st.Instance.Name == o1.name {
				return st.Instance.LastBackup
			}
		}
		t.Fatalf("ls --json lists no %s", o1.name)
		return time.Time{}
	}
	h.ok("backup", pg)

	uStart := time.Now()
	h.ok("upgrade", pg, "--to", "15-tuned", "--timeout", "3m")
	t.Logf("upgrade to 15-tuned in %s", time.Since(uStart).Round(time.Second))
	if lb := lastBackup(); lb.Before(uStart) {
		t.Errorf("%s was not backed up by the upgrade of its server (last backup %s)", o1.name, lb)
	}
	if mc := docker(t, "exec", pg+"-server-1", "psql", "-U", "postgres", "-tAc", "show max_connections"); mc != "90" {
		t.Errorf("max_connections %s after the upgrade, want 90 (the server was not recreated with the new version)", mc)
	}
	o1.waitREST(t)
	if got := o1.contents(t); !equalMaps(got, want) {
		t.Errorf("%s's instances differ after the upgrade of its server", o1.name)
	}

	h.ok("backup", pg)
	uStart = time.Now()
	r := h.run("upgrade", pg, "--to", "15-lost", "--timeout", "3m")
	t.Logf("upgrade to 15-lost in %s: exit %d", time.Since(uStart).Round(time.Second), r.code)
	if r.code != ExitRolledBack || !strings.Contains(r.err, o1.name) {
		t.Fatalf("upgrade to a version without the tenants' databases: exit %d, want %d naming %s\n%s", r.code, ExitRolledBack, o1.name, r.err)
	}
	if v := docker(t, "inspect", "-f", "{{index .Config.Labels \""+label.Version+"\"}}", pg+"-server-1"); v != "15-tuned" {
		t.Errorf("server runs version %q after the rollback, want 15-tuned", v)
	}
	o1.waitREST(t)
	if got := o1.contents(t); !equalMaps(got, want) {
		t.Errorf("%s's instances differ after the rolled back upgrade", o1.name)
	}
	t.Logf("whole run %s", time.Since(start).Round(time.Second))
}

// TestSharedServerDrill: a disaster-recovery drill brings the shared
// server back before its tenant, deploys the tenant on the drill's copy of
// the server with its own database there, and removes everything after.
func TestSharedServerDrill(t *testing.T) {
	testenv.RequireImages(t, "dockerbank/orthanc:"+orthancVersion, "dockerbank/postgres:15", "dockerbank/busybox:1.36")
	testenv.RequireCommand(t, "restic")
	h := newHarness(t)
	start := time.Now()
	pg := uniqueName("sh5pgd")
	h.cleanup(pg)
	h.ok("deploy", "postgres", "--name", pg)
	o1 := deployTenant(t, h, uniqueName("sh5d1"), pg)
	set := dicom.Set{Seed: time.Now().UnixNano(), StudiesPerPatient: 1, SeriesPerStudy: 1, InstancesPerSeries: 3}
	var ins []dicom.Instance
	for i := 0; i < 3; i++ {
		ins = append(ins, set.Instance(i))
	}
	o1.storeREST(t, ins)
	h.ok("backup", pg, o1.name)
	prefix := "sh5x-"
	t.Cleanup(func() { removeProjects(t, prefix+pg, prefix+o1.name) })
	out := h.ok("dr", "drill", "--prefix", prefix)
	t.Logf("drill: %s", strings.TrimSpace(out))
	if i, j := strings.Index(out, pg), strings.Index(out, o1.name); i < 0 || j < 0 || i > j {
		t.Errorf("the drill does not recover %s before %s:\n%s", pg, o1.name, out)
	}
	if left := projectObjects(t, prefix+pg, prefix+o1.name); len(left) > 0 {
		t.Errorf("the drill left %v", left)
	}
	if nets := docker(t, "network", "ls", "-q", "--filter", "name="+deploy.LinkNetwork(prefix+o1.name)); nets != "" {
		t.Errorf("the drill left the link network of %s", prefix+o1.name)
	}
	if dbs := serverDatabases(t, pg); slices.ContainsFunc(dbs, func(d string) bool { return strings.HasPrefix(d, prefix) }) {
		t.Errorf("the drill created databases in the production server: %v", dbs)
	}
	t.Logf("whole run %s", time.Since(start).Round(time.Second))
}
