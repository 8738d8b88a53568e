package dr

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/dockerbank/dockerbank/internal/site"
	"github.com/dockerbank/dockerbank/internal/testenv"
)

func golden(t *testing.T, name, got string) {
	t.Helper()
	testenv.Golden(t, filepath.Join("testdata", name), got)
}

func inst(name, entry, domain string, requires ...string) Instance {
	return Instance{Record: site.Instance{Name: name, Entry: entry, Version: "1", State: site.StateUp}, Domain: domain, Requires: requires}
}

// tenant is an orthanc instance on a shared server (deploy --use db=server).
func tenant(name, server string) Instance {
	in := inst(name, "orthanc", "imaging")
	in.Record.Uses = map[string]string{"db": server}
	return in
}

func TestOrder(t *testing.T) {
	tests := []struct {
		name    string
		in      []Instance
		want    []string
		reasons map[string]string
		err     error
	}{
		{
			name: "by name without requires",
			in:   []Instance{inst("b", "demo", "demo"), inst("a", "demo", "demo")},
			want: []string{"a", "b"}, reasons: map[string]string{},
		},
		{
			name:    "required entry first, even when its name sorts last",
			in:      []Instance{inst("atlas", "ohdsi", "omop", "keycloak"), inst("zz-sso", "keycloak", "identity"), inst("blaze", "blaze", "fhir", "keycloak")},
			want:    []string{"zz-sso", "atlas", "blaze"},
			reasons: map[string]string{"zz-sso": "shared infrastructure (identity); required by atlas, blaze"},
		},
		{
			name: "infrastructure first without requires",
			in:   []Instance{inst("app", "demo", "demo"), inst("sso", "keycloak", "identity")},
			want: []string{"sso", "app"}, reasons: map[string]string{"sso": "shared infrastructure (identity)"},
		},
		{
			name: "chain",
			in:   []Instance{inst("c", "c", "x", "b"), inst("b", "b", "x", "a"), inst("a", "a", "x")},
			want: []string{"a", "b", "c"}, reasons: map[string]string{"a": "required by b", "b": "required by c"},
		},
		{
			name:    "shared server before its tenants, whatever its name and domain",
			in:      []Instance{tenant("a-o1", "zz-pg"), tenant("b-o2", "zz-pg"), inst("zz-pg", "postgres", "databases"), inst("demo", "demo", "demo")},
			want:    []string{"zz-pg", "a-o1", "b-o2", "demo"},
			reasons: map[string]string{"zz-pg": "shared server of a-o1, b-o2"},
		},
		{
			name: "cycle",
			in:   []Instance{inst("a", "a", "x", "b"), inst("b", "b", "x", "a")},
			err:  ErrCycle,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, reasons, err := Order(tt.in)
			if !errors.Is(err, tt.err) {
				t.Fatalf("error %v, want %v", err, tt.err)
			}
			if err != nil {
				return
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("order (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.reasons, reasons); diff != "" {
				t.Errorf("reasons (-want +got):\n%s", diff)
			}
		})
	}
}

func TestChooseGroup(t *testing.T) {
	g := func(id, state string) GroupInfo { return GroupInfo{ID: id, State: state} }
	tests := []struct {
		name   string
		groups []GroupInfo
		want   string
	}{
		{"none", nil, ""},
		{"newest complete when none verified", []GroupInfo{g("1", GroupComplete), g("2", GroupComplete)}, "2"},
		{"verified wins over newer complete", []GroupInfo{g("1", GroupVerified), g("2", GroupComplete)}, "1"},
		{"newest verified", []GroupInfo{g("1", GroupVerified), g("2", GroupVerified), g("3", GroupComplete)}, "2"},
		{"failed drill only as last resort", []GroupInfo{g("1", GroupComplete), g("2", GroupFailed)}, "1"},
		{"failed drill when nothing else", []GroupInfo{g("1", GroupFailed)}, "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ChooseGroup(tt.groups)
			if ok != (tt.want != "") || got.ID != tt.want {
				t.Errorf("chose %q (%v), want %q", got.ID, ok, tt.want)
			}
		})
	}
}

// sampleManifest is a site with shared infrastructure, a dependent app, a
// locally built image and an instance without data.
func sampleManifest() Manifest {
	created := time.Date(2026, 11, 26, 18, 0, 0, 0, time.UTC)
	kc := inst("sso", "keycloak", "identity")
	kc.Record.Version = "26.7.4"
	kc.Title = "Keycloak"
	kc.Record.Changed = created.Add(-time.Hour)
	kc.Record.LastBackup = created.Add(-2 * time.Hour)
	kc.DataVolumes = []string{"pgdata"}
	kc.Checks = []string{"realm-reachable"}
	kc.Images = []Image{
		{Service: "db", Ref: "postgres:15", ID: "sha256:aaa", RepoDigests: []string{"postgres@sha256:1111"}},
		{Service: "keycloak", Ref: "quay.io/keycloak/keycloak:26.7.4", ID: "sha256:bbb", RepoDigests: []string{"quay.io/keycloak/keycloak@sha256:2222"}},
	}
	demo := inst("demo", "demo", "demo", "keycloak")
	demo.Record.Version = "2.0"
	demo.Record.Params = map[string]string{"DEMO_INTERVAL": "5"}
	demo.Title = "Dockerbank demo"
	demo.Record.Changed = created.Add(-2 * time.Hour)
	demo.Record.LastBackup = created.Add(-time.Hour)
	demo.DataVolumes = []string{"audit", "files", "pgdata"}
	demo.Checks = []string{"records-readable", "audit-log-written"}
	demo.Images = []Image{
		{Service: "app", Ref: "dockerbank/demo-app:2.0", ID: "sha256:ccc", Build: &Build{Context: "app", Args: map[string]string{"DEMO_VERSION": "2.0"}}},
		{Service: "db", Ref: "dockerbank/postgres:15", ID: "sha256:ddd"},
	}
	rc := inst("edc", "redcap", "edc")
	rc.Record.Version = "15.0.0"
	rc.Record.State = site.StateDown
	rc.Distribution = "build-locally"
	rc.SupplySource = "the REDCap installation zip"
	rc.Images = []Image{{Service: "web", Ref: "dockerbank/redcap:15.0.0", Build: &Build{Context: "build", Dockerfile: "Dockerfile.web"}}}
	return Manifest{Format: FormatVersion, Created: created, Dockerbank: "1.0.0", Host: "clinic-host-1", SiteDir: "/var/lib/dockerbank",
		SiteID: "0123456789abcdef", Repository: "/var/lib/dockerbank/backups", Encryption: "x25519",
		Recipient: "age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq",
		Instances: []Instance{demo, rc, kc}}
}

func TestMakePlanGolden(t *testing.T) {
	m := sampleManifest()
	at := time.Date(2026, 11, 26, 17, 0, 0, 0, time.UTC)
	f := Facts{
		Groups: map[string]GroupInfo{
			"sso":  {ID: "20261126T170000Z-aaaaaa", Time: at, State: GroupVerified, Version: "26.7.4"},
			"demo": {ID: "20261126T171500Z-bbbbbb", Time: at.Add(15 * time.Minute), State: GroupComplete, Version: "1.0"},
		},
		NewerUnverified: map[string]string{"sso": "20261126T175000Z-cccccc"},
		Images:          map[string]bool{"dockerbank/postgres:15": true},
	}
	if _, err := MakePlan(m, f); !errors.Is(err, ErrNeedsSource) || !strings.Contains(err.Error(), "edc (entry redcap needs the REDCap installation zip)") {
		t.Errorf("a build-locally image without a source: error %v, want ErrNeedsSource naming edc", err)
	}
	f.Sources = map[string]string{"redcap": "/root/redcap15.0.0.zip"}
	p, err := MakePlan(m, f)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Steps[1].Upgrade {
		t.Errorf("demo's group is of version 1.0 and the record 2.0: the plan must upgrade after the restore")
	}
	golden(t, "plan.txt", p.Render())

	f.Prefix = "drill-"
	p, err = MakePlan(m, f)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "plan-drill.txt", p.Render())
}

func TestMakePlanRefusesInstanceWithDataButNoGroup(t *testing.T) {
	m := sampleManifest()
	_, err := MakePlan(m, Facts{Groups: map[string]GroupInfo{"sso": {ID: "g1", State: GroupComplete}}, Sources: map[string]string{"redcap": "r.zip"}})
	if !errors.Is(err, ErrNoBackup) {
		t.Fatalf("error %v, want ErrNoBackup", err)
	}
	if !strings.Contains(err.Error(), "demo (data volumes audit, files, pgdata)") || strings.Contains(err.Error(), "edc") {
		t.Errorf("the error must name demo and its volumes, and not edc (no data): %v", err)
	}
}

func TestRunbookGolden(t *testing.T) {
	golden(t, "runbook.md", Runbook(sampleManifest()))
	m := sampleManifest()
	m.Encryption, m.Recipient, m.Repository = "scrypt", "", "sftp:backup@vault.example.org:/srv/restic/clinic"
	rb := Runbook(m)
	for _, want := range []string{"--passphrase-file", "If the repository moved"} {
		if !strings.Contains(rb, want) {
			t.Errorf("passphrase runbook lacks %q", want)
		}
	}
	if strings.Contains(rb, "lies inside the site directory") {
		t.Error("an off-host repository is reported as inside the site")
	}
	// The off-site copies and the files to escrow are named.
	m = sampleManifest()
	m.Copies = []Copy{{Name: "offsite", Repository: "sftp:offsite:/srv/restic/clinic", PasswordFile: "/etc/dockerbank/offsite.pass", SSHConfigFile: "/etc/dockerbank/ssh_config"},
		{Name: "s3", Repository: "s3:https://s3.example.org/clinic", PasswordFile: "/etc/dockerbank/s3.pass", CredentialsFile: "/etc/dockerbank/s3.credentials"}}
	golden(t, "runbook-copies.md", Runbook(m))
}

// TestMakePlanSharedServerGolden: a shared PostgreSQL server is restored
// before the Orthanc instances whose databases it holds, whatever the
// names; a tenant whose server the bundle lacks is warned about.
func TestMakePlanSharedServerGolden(t *testing.T) {
	at := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	pg := inst("zz-pg", "postgres", "infrastructure")
	pg.DataVolumes = []string{"data"}
	pg.Images = []Image{{Service: "server", Ref: "dockerbank/postgres:15", ID: "sha256:ddd"}}
	pg.Checks = []string{"server-answers"}
	var ins []Instance
	for _, n := range []string{"a-o1", "b-o2"} {
		o := tenant(n, "zz-pg")
		o.DataVolumes = []string{"storage"}
		o.Images = []Image{{Service: "orthanc", Ref: "dockerbank/orthanc:1.10.1", ID: "sha256:eee"}}
		ins = append(ins, o)
	}
	lost := tenant("c-o3", "gone-pg")
	ins = append(ins, lost, pg)
	m := Manifest{Format: FormatVersion, Created: at, Dockerbank: "1.0.0", Host: "clinic-host-1", SiteDir: "/var/lib/dockerbank",
		SiteID: "0123456789abcdef", Repository: "/var/lib/dockerbank/backups", Instances: ins}
	f := Facts{Groups: map[string]GroupInfo{}, Images: map[string]bool{"dockerbank/postgres:15": true, "dockerbank/orthanc:1.10.1": true}}
	for i, n := range []string{"zz-pg", "a-o1", "b-o2"} {
		f.Groups[n] = GroupInfo{ID: fmt.Sprintf("20261207T09%02d00Z-aaaaaa", i), Time: at.Add(time.Duration(i) * time.Minute), State: GroupVerified, Version: "1"}
	}
	p, err := MakePlan(m, f)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, st := range p.Steps {
		order = append(order, st.Name)
	}
	if diff := cmp.Diff([]string{"zz-pg", "a-o1", "b-o2", "c-o3"}, order); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
	golden(t, "plan-shared.txt", p.Render())
}
