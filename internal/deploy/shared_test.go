package deploy

import (
	"errors"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/dockerbank/dockerbank"
	"github.com/dockerbank/dockerbank/internal/bank"
	"github.com/dockerbank/dockerbank/internal/instance"
	"github.com/dockerbank/dockerbank/internal/site"
)

func TestTenantIdent(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		err        error
	}{
		{"o1", "o1", nil},
		{"orthanc-radiology_2", "orthanc-radiology_2", nil},
		{"postgres", "", ErrBadUse},
		{"template1", "", ErrBadUse},
		{"pg_monitor", "", ErrBadUse},
		{"Bad Name", "", site.ErrInvalidName},
		{`x"; drop`, "", site.ErrInvalidName},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := TenantIdent(tc.name)
			if !errors.Is(err, tc.err) || got != tc.want {
				t.Errorf("TenantIdent(%q) = %q, %v; want %q, %v", tc.name, got, err, tc.want, tc.err)
			}
		})
	}
	if q := quoteIdent(`a"b`); q != `"a""b"` {
		t.Errorf("quoteIdent: %s", q)
	}
	if q := quoteLiteral(`it's`); q != `'it''s'` {
		t.Errorf("quoteLiteral: %s", q)
	}
}

func embeddedBank(t *testing.T) *bank.Bank {
	t.Helper()
	b, err := bank.Open(t.Context(), bank.Source{Name: "embedded", FS: dockerbank.Bank, Root: dockerbank.BankRoot})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPlanUses(t *testing.T) {
	b := embeddedBank(t)
	get := func(id string) *bank.Entry {
		e, err := b.Get(id)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	orthanc := get("orthanc")
	servers := map[string]ServerFacts{
		"pg1":   {Record: &site.Instance{Name: "pg1", Entry: "postgres"}, Entry: get("postgres")},
		"my1":   {Record: &site.Instance{Name: "my1", Entry: "mariadb"}, Entry: get("mariadb")},
		"demo1": {Record: &site.Instance{Name: "demo1", Entry: "demo"}, Entry: get("demo")},
	}
	for _, tc := range []struct {
		name     string
		instance string
		uses     map[string]string
		want     []string // substrings of the error, in order; none: it plans
		is       []error
	}{
		{name: "ok", instance: "o1", uses: map[string]string{"db": "pg1"}},
		{name: "missing instance", instance: "o1", uses: map[string]string{"db": "nope"},
			want: []string{"--use db=nope: no such instance nope", "dockerbank deploy postgres --name nope"}, is: []error{site.ErrNoInstance}},
		{name: "not infrastructure", instance: "o1", uses: map[string]string{"db": "demo1"},
			want: []string{"demo1 is an instance of demo, not of an infrastructure entry"}, is: []error{ErrBadUse}},
		{name: "engine mismatch", instance: "o1", uses: map[string]string{"db": "my1"},
			want: []string{"service db needs a postgres server, my1 runs mariadb"}, is: []error{ErrBadUse}},
		{name: "no such service", instance: "o1", uses: map[string]string{"index": "pg1"},
			want: []string{"--use index=pg1: entry orthanc can share db"}, is: []error{ErrBadUse}},
		{name: "reserved name", instance: "postgres", uses: map[string]string{"db": "pg1"},
			want: []string{"postgres is a reserved database or role name"}, is: []error{ErrBadUse}},
		{name: "every refusal at once", instance: "o1", uses: map[string]string{"db": "my1", "viewer": "pg1"},
			want: []string{"needs a postgres server", "--use viewer=pg1"}, is: []error{ErrBadUse}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts, err := PlanUses(orthanc, tc.instance, tc.uses, servers)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				want := Tenant{Instance: "o1", Service: "db", Server: "pg1", Engine: "postgres", Database: "o1", Role: "o1", Secret: "db_password"}
				if len(ts) != 1 || ts[0] != want {
					t.Errorf("tenancies %+v, want %+v", ts, want)
				}
				return
			}
			if err == nil {
				t.Fatalf("planned %+v, want a refusal", ts)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("refusal %q does not say %q", err, w)
				}
			}
			for _, is := range tc.is {
				if !errors.Is(err, is) {
					t.Errorf("refusal %q is not %v", err, is)
				}
			}
		})
	}
}

// TestRenderTenant renders orthanc 1.10.1 for a tenant of pg1: without
// its db service and index volume, nothing depends on db, the application
// is told its own database and user and joins the link network, which
// the rendered file declares external; the rendered file loads back.
func TestRenderTenant(t *testing.T) {
	b := embeddedBank(t)
	s, err := site.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	m := &Manager{Bank: b, Site: s}
	e, err := b.Get("orthanc")
	if err != nil {
		t.Fatal(err)
	}
	in := &site.Instance{Name: "o1", Entry: "orthanc", Version: "1.10.1", Uses: map[string]string{"db": "pg1"}}
	p, err := m.render(t.Context(), in, e, nil)
	if err != nil {
		t.Fatal(err)
	}
	back, err := bank.LoadProject(t.Context(), bank.LoadOptions{Dir: s.InstanceDir("o1"),
		Files: []string{filepath.Join(s.InstanceDir("o1"), instance.RenderedFile)}, Name: "o1",
		Env: []string{bank.SecretEnv("db_password") + "=x", bank.SecretEnv("admin_password") + "=y"}})
	if err != nil {
		t.Fatalf("load rendered file: %v", err)
	}
	for what, pr := range map[string]*projectView{"rendered": viewOf(p), "loaded back": viewOf(back)} {
		if pr.services != "orthanc" {
			t.Errorf("%s: services %s, want orthanc only", what, pr.services)
		}
		if pr.volumes != "storage" {
			t.Errorf("%s: volumes %s, want storage only", what, pr.volumes)
		}
		if pr.dependsOn != "" {
			t.Errorf("%s: orthanc depends on %s", what, pr.dependsOn)
		}
		if pr.dbName != "o1" || pr.dbUser != "o1" {
			t.Errorf("%s: ORTHANC_DB_NAME %q ORTHANC_DB_USER %q, want o1", what, pr.dbName, pr.dbUser)
		}
		if pr.dbHost != "db" {
			t.Errorf("%s: ORTHANC_DB_HOST %q, want db (the server's alias on the link network)", what, pr.dbHost)
		}
		if pr.networks != "default,dockerbank-link" || pr.link != LinkNetwork("o1")+" external" {
			t.Errorf("%s: networks %s, link %s", what, pr.networks, pr.link)
		}
	}
}

// projectView is what TestRenderTenant looks at in a project.
type projectView struct {
	services, volumes, dependsOn, networks, link string
	dbName, dbUser, dbHost                       string
}

func viewOf(p *types.Project) *projectView {
	v := &projectView{}
	v.services = strings.Join(slices.Sorted(maps.Keys(p.Services)), ",")
	v.volumes = strings.Join(slices.Sorted(maps.Keys(p.Volumes)), ",")
	o := p.Services["orthanc"]
	v.dependsOn = strings.Join(slices.Sorted(maps.Keys(o.DependsOn)), ",")
	v.networks = strings.Join(slices.Sorted(maps.Keys(o.Networks)), ",")
	str := func(k string) string {
		if s := o.Environment[k]; s != nil {
			return *s
		}
		return ""
	}
	v.dbName, v.dbUser, v.dbHost = str("ORTHANC_DB_NAME"), str("ORTHANC_DB_USER"), str("ORTHANC_DB_HOST")
	if n, ok := p.Networks["dockerbank-link"]; ok {
		v.link = n.Name
		if n.External {
			v.link += " external"
		}
	}
	return v
}
