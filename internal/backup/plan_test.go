package backup

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/dockerbank/dockerbank"
	"github.com/dockerbank/dockerbank/internal/bank"
	"github.com/dockerbank/dockerbank/internal/engine"
	"github.com/dockerbank/dockerbank/internal/kube"
	"github.com/dockerbank/dockerbank/internal/testenv"
)

func golden(t *testing.T, name, got string) {
	t.Helper()
	testenv.Golden(t, filepath.Join("testdata", name), got)
}

func svc(role, eng string) bank.ServiceMeta {
	return bank.ServiceMeta{ServiceExt: bank.ServiceExt{Role: role, Engine: eng}}
}

func vol(class, backup, quiesce string, mounts ...string) bank.VolumeMeta {
	m := map[string]string{}
	for _, s := range mounts {
		m[s] = "/data"
	}
	return bank.VolumeMeta{VolumeExt: bank.VolumeExt{Class: class, Backup: backup, Quiesce: quiesce}, Mounts: m}
}

func ctr(inst, service, state string) engine.Container {
	return engine.Container{ID: "id-" + service, Name: inst + "-" + service + "-1", Service: service, State: state}
}

// replica is the running container number n of a scaled service.
func replica(inst, service string, n int) engine.Container {
	return engine.Container{ID: fmt.Sprintf("id-%s-%d", service, n), Name: fmt.Sprintf("%s-%s-%d", inst, service, n),
		Service: service, State: "running", Replica: n}
}

// TestPlanGroup renders the plan of typical instances as text and compares
// it with testdata/plan/*.txt (go test -run TestPlanGroup -update rewrites
// them).
func TestPlanGroup(t *testing.T) {
	pgApp := &bank.ComposeModel{
		Services: map[string]bank.ServiceMeta{"db": svc(bank.RoleDatabase, "postgres"), "app": svc(bank.RoleApp, ""), "proxy": svc(bank.RoleProxy, "")},
		Volumes: map[string]bank.VolumeMeta{
			"pgdata":  vol(bank.ClassUserdata, bank.BackupPostgresDump, "", "db"),
			"uploads": vol(bank.ClassUserdata, bank.BackupFiles, bank.QuiesceStop, "app"),
			"logs":    vol(bank.ClassUserdata, bank.BackupFiles, bank.QuiesceNone, "app", "proxy"),
			"cache":   vol(bank.ClassCache, "", "", "app"),
			"tmp":     vol(bank.ClassUserdata, bank.BackupNone, "", "app"),
		},
	}
	tests := []struct {
		name  string
		facts PlanFacts
	}{
		{
			name: "dump-and-files",
			facts: PlanFacts{Instance: "demo", Entry: "demo", Model: pgApp,
				VolumeNames: map[string]string{"logs": "site-logs"},
				Containers:  []engine.Container{ctr("demo", "proxy", "running"), ctr("demo", "app", "running"), ctr("demo", "db", "running")}},
		},
		{
			name: "stopped-app-not-quiesced",
			facts: PlanFacts{Instance: "demo", Entry: "demo", Model: pgApp, Via: ModeTar,
				Containers: []engine.Container{ctr("demo", "app", "exited"), ctr("demo", "db", "running")}},
		},
		{
			// The database mounts a paused file volume too: every dump
			// finishes before the capture pauses it.
			name: "database-quiesced",
			facts: PlanFacts{Instance: "lab", Entry: "lims", Via: ModeDir, Model: &bank.ComposeModel{
				Services: map[string]bank.ServiceMeta{"db": svc(bank.RoleDatabase, "mariadb"), "app": svc(bank.RoleApp, "")},
				Volumes: map[string]bank.VolumeMeta{
					"dbdata":  vol(bank.ClassUserdata, bank.BackupMySQLDump, "", "db"),
					"exports": vol(bank.ClassUserdata, bank.BackupFiles, bank.QuiesceReadonly, "db", "app"),
					"blobs":   vol(bank.ClassUserdata, bank.BackupFiles, bank.QuiescePause, "app"),
				}},
				Containers: []engine.Container{ctr("lab", "app", "running"), ctr("lab", "db", "running")}},
		},
		{
			name: "files-only-live",
			facts: PlanFacts{Instance: "viewer", Entry: "ohif", Model: &bank.ComposeModel{
				Services: map[string]bank.ServiceMeta{"web": svc(bank.RoleApp, "")},
				Volumes:  map[string]bank.VolumeMeta{"config": vol(bank.ClassUserdata, bank.BackupFiles, "", "web")},
			}, Containers: []engine.Container{ctr("viewer", "web", "running")}},
		},
		{
			// dockerbank scale: three replicas of orthanc write the
			// storage live, three of app are stopped for theirs.
			name: "replicas",
			facts: PlanFacts{Instance: "pacs", Entry: "orthanc", Model: &bank.ComposeModel{
				Services: map[string]bank.ServiceMeta{"db": svc(bank.RoleDatabase, "postgres"), "orthanc": svc(bank.RoleApp, ""),
					"app": svc(bank.RoleApp, ""), "dockerbank-proxy": svc(bank.RoleProxy, "")},
				Volumes: map[string]bank.VolumeMeta{
					"index":   vol(bank.ClassUserdata, bank.BackupPostgresDump, bank.QuiesceNone, "db"),
					"storage": vol(bank.ClassUserdata, bank.BackupFiles, bank.QuiesceNone, "orthanc"),
					"uploads": vol(bank.ClassUserdata, bank.BackupFiles, bank.QuiesceStop, "app"),
				}},
				Containers: []engine.Container{ctr("pacs", "db", "running"), ctr("pacs", "dockerbank-proxy", "running"),
					replica("pacs", "orthanc", 1), replica("pacs", "orthanc", 2), replica("pacs", "orthanc", 3),
					replica("pacs", "app", 1), replica("pacs", "app", 2)}},
		},
		{
			name: "dumps-only",
			facts: PlanFacts{Instance: "omop", Entry: "ohdsi", Model: &bank.ComposeModel{
				Services: map[string]bank.ServiceMeta{"pg": svc(bank.RoleDatabase, "postgres"), "mongo": svc(bank.RoleDatabase, "mongo")},
				Volumes: map[string]bank.VolumeMeta{
					"pgdata":    vol(bank.ClassUserdata, bank.BackupPostgresDump, "", "pg"),
					"mongodata": vol(bank.ClassUserdata, bank.BackupMongoDump, "", "mongo"),
				}},
				Containers: []engine.Container{ctr("omop", "pg", "running"), ctr("omop", "mongo", "running")}},
		},
		{
			// A tenant of a shared server: its own database, dumped alone
			// inside the server's container, with its storage.
			name: "shared-tenant",
			facts: PlanFacts{Instance: "o1", Entry: "orthanc", Model: &bank.ComposeModel{
				Services: map[string]bank.ServiceMeta{"orthanc": svc(bank.RoleApp, "")},
				Volumes:  map[string]bank.VolumeMeta{"storage": vol(bank.ClassUserdata, bank.BackupFiles, bank.QuiesceNone, "orthanc")}},
				Containers: []engine.Container{ctr("o1", "orthanc", "running")},
				Shared:     []SharedDB{{Service: "db", Server: "pg1", Engine: "postgres", Database: "o1", Role: "o1", Container: ctr("pg1", "server", "running")}}},
		},
		{
			// The shared server itself: its roles and own databases, not
			// its tenants'.
			name: "shared-server",
			facts: PlanFacts{Instance: "pg1", Entry: "postgres", Model: &bank.ComposeModel{
				Services: map[string]bank.ServiceMeta{"server": svc(bank.RoleDatabase, "postgres")},
				Volumes:  map[string]bank.VolumeMeta{"data": vol(bank.ClassUserdata, bank.BackupPostgresDump, bank.QuiesceNone, "server")}},
				Containers: []engine.Container{ctr("pg1", "server", "running")}, Exclude: []string{"o1", "o2"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := PlanGroup(tc.facts)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("plan", tc.name+".txt"), p.String())
		})
	}
}

// TestPlanGroupRefuses: what cannot be backed up is refused before
// anything is stored or stopped.
func TestPlanGroupRefuses(t *testing.T) {
	tests := []struct {
		name  string
		facts PlanFacts
		want  string
	}{
		{
			name: "nothing to back up",
			facts: PlanFacts{Instance: "demo", Entry: "demo", Model: &bank.ComposeModel{
				Volumes: map[string]bank.VolumeMeta{"cache": vol(bank.ClassCache, "", "", "app")}}},
			want: "instance demo has no userdata volume with a backup method; nothing to back up",
		},
		{
			name: "dump without database service",
			facts: PlanFacts{Instance: "demo", Entry: "demo", Model: &bank.ComposeModel{
				Services: map[string]bank.ServiceMeta{"app": svc(bank.RoleApp, "")},
				Volumes:  map[string]bank.VolumeMeta{"pgdata": vol(bank.ClassUserdata, bank.BackupPostgresDump, "", "app")}}},
			want: "volume pgdata is backed up by postgres-dump but no service of role database mounts it; fix the entry demo",
		},
		{
			name: "database not running",
			facts: PlanFacts{Instance: "demo", Entry: "demo", Model: &bank.ComposeModel{
				Services: map[string]bank.ServiceMeta{"db": svc(bank.RoleDatabase, "postgres")},
				Volumes:  map[string]bank.VolumeMeta{"pgdata": vol(bank.ClassUserdata, bank.BackupPostgresDump, "", "db")}},
				Containers: []engine.Container{ctr("demo", "db", "exited")}},
			want: "database service db of demo is not running: a dump needs it; start it with `dockerbank start demo`",
		},
		{
			name: "shared server not running",
			facts: PlanFacts{Instance: "o1", Entry: "orthanc", Model: &bank.ComposeModel{
				Volumes: map[string]bank.VolumeMeta{}},
				Shared: []SharedDB{{Service: "db", Server: "pg1", Engine: "postgres", Database: "o1", Container: ctr("pg1", "server", "exited")}}},
			want: "database server pg1 that o1 uses is not running: a dump needs it; start it with `dockerbank start pg1`",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := PlanGroup(tc.facts)
			if err == nil {
				t.Fatalf("planned:\n%s", p)
			}
			if err.Error() != tc.want {
				t.Errorf("error %q, want %q", err, tc.want)
			}
		})
	}
}

// TestPlanBankEntries plans a group of every embedded bank entry's default
// version, with one running container per service, and keeps each plan as
// testdata/plan/bank/<entry>.txt: what a backup of each application dumps,
// captures and stops is reviewed in one place.
func TestPlanBankEntries(t *testing.T) {
	b, err := bank.Open(t.Context(), bank.Source{Name: "embedded", FS: dockerbank.Bank, Root: dockerbank.BankRoot})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range b.List() {
		t.Run(e.ID, func(t *testing.T) {
			fsys, dir, err := b.Files(e.ID)
			if err != nil {
				t.Fatal(err)
			}
			p, _, err := kube.EntryProject(t.Context(), fsys, dir, t.TempDir(), e, "", "", nil)
			if err != nil {
				t.Fatal(err)
			}
			model, err := bank.Model(p)
			if err != nil {
				t.Fatal(err)
			}
			names := map[string]string{}
			for v, cfg := range p.Volumes {
				names[v] = cfg.Name
			}
			var ctrs []engine.Container
			for _, s := range p.ServiceNames() {
				ctrs = append(ctrs, ctr(e.ID, s, "running"))
			}
			plan, err := PlanGroup(PlanFacts{Instance: e.ID, Entry: e.ID, Model: model, VolumeNames: names, Containers: ctrs})
			text := ""
			if err != nil {
				text = "refused: " + err.Error() + "\n"
			} else {
				text = plan.String()
			}
			golden(t, filepath.Join("plan", "bank", e.ID+".txt"), text)
		})
	}
}
