package deploy

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/dockerbank/dockerbank"
	"github.com/dockerbank/dockerbank/internal/bank"
	"github.com/dockerbank/dockerbank/internal/engine"
	"github.com/dockerbank/dockerbank/internal/instance"
	"github.com/dockerbank/dockerbank/internal/instance/label"
	"github.com/dockerbank/dockerbank/internal/site"
	"github.com/dockerbank/dockerbank/internal/testenv"
)

func scaleModel() *bank.ComposeModel {
	app := func(scale *bank.ScaleExt) bank.ServiceMeta {
		return bank.ServiceMeta{ServiceExt: bank.ServiceExt{Role: bank.RoleApp, Scale: scale}}
	}
	vol := func(ext bank.VolumeExt, mounts ...string) bank.VolumeMeta {
		m := map[string]string{}
		for _, s := range mounts {
			m[s] = "/data"
		}
		return bank.VolumeMeta{VolumeExt: ext, Mounts: m}
	}
	return &bank.ComposeModel{
		Services: map[string]bank.ServiceMeta{
			"db":      {ServiceExt: bank.ServiceExt{Role: bank.RoleDatabase, Engine: "postgres"}},
			"web":     app(&bank.ScaleExt{Max: 4, HTTP: []uint32{8080}}),
			"plain":   app(nil),
			"sqlite":  app(&bank.ScaleExt{Max: 3}),
			"datadir": app(&bank.ScaleExt{Max: 3}),
		},
		Volumes: map[string]bank.VolumeMeta{
			"pgdata":  vol(bank.VolumeExt{Class: bank.ClassUserdata, Backup: bank.BackupPostgresDump}, "db", "datadir"),
			"files":   vol(bank.VolumeExt{Class: bank.ClassUserdata, Backup: bank.BackupFiles}, "web", "plain"),
			"app.db":  vol(bank.VolumeExt{Class: bank.ClassUserdata, Backup: bank.BackupFiles, SingleWriter: "SQLite database"}, "sqlite"),
			"scratch": vol(bank.VolumeExt{Class: bank.ClassTemp}, "web"),
		},
	}
}

// TestCheckScale: what may run as replicas, and every reason what may not.
func TestCheckScale(t *testing.T) {
	tests := []struct {
		name    string
		want    map[string]int
		refused []string // fragments of the refusal; nil: allowed
		noSvc   bool
	}{
		{name: "marked within max", want: map[string]int{"web": 4}},
		{name: "one replica of anything", want: map[string]int{"plain": 1, "db": 1}},
		{name: "not marked", want: map[string]int{"plain": 2}, refused: []string{"service plain of entry e is not marked scalable"}},
		{name: "database not marked", want: map[string]int{"db": 2}, refused: []string{"service db of entry e is not marked scalable"}},
		{name: "above max", want: map[string]int{"web": 5}, refused: []string{"web=5 is above the maximum of 4 replicas"}},
		{name: "single writer said", want: map[string]int{"sqlite": 2}, refused: []string{"mounts volume app.db, which admits one writer only: SQLite database"}},
		{name: "single writer implied", want: map[string]int{"datadir": 2}, refused: []string{"mounts volume pgdata", "data directory of a database server (backup postgres-dump)"}},
		{name: "zero", want: map[string]int{"web": 0}, refused: []string{"at least one replica"}},
		{name: "every reason at once", want: map[string]int{"plain": 3, "web": 9}, refused: []string{"plain of entry e is not marked", "web=9 is above"}},
		{name: "unknown service", want: map[string]int{"nope": 2}, noSvc: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckScale("e", scaleModel(), tc.want)
			switch {
			case tc.noSvc:
				if !errors.Is(err, ErrNoService) || errors.Is(err, ErrNotScalable) {
					t.Fatalf("got %v, want ErrNoService", err)
				}
			case tc.refused == nil:
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
			default:
				if !errors.Is(err, ErrNotScalable) {
					t.Fatalf("got %v, want a refusal", err)
				}
				for _, f := range tc.refused {
					if !strings.Contains(err.Error(), f) {
						t.Errorf("refusal %q does not say %q", err, f)
					}
				}
			}
		})
	}
}

// TestRenderScaledOrthanc renders the embedded Orthanc entry with three
// replicas as deploy does: the replicas keep no published port, the proxy
// takes both on the same host addresses, carries the instance's labels and
// a configuration that balances REST per request and DICOM per connection
// (testdata/scale/orthanc-haproxy.cfg; -update rewrites it). The rendered
// file loads back with the same. One replica renders the plain service.
func TestRenderScaledOrthanc(t *testing.T) {
	b, err := bank.Open(t.Context(), bank.Source{Name: "embedded", FS: dockerbank.Bank, Root: dockerbank.BankRoot})
	if err != nil {
		t.Fatal(err)
	}
	s, err := site.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	m := &Manager{Bank: b, Site: s}
	e, err := b.Get("orthanc")
	if err != nil {
		t.Fatal(err)
	}
	in := &site.Instance{Name: "pacs", Entry: e.ID, Version: "1.10.1", Scale: map[string]int{"orthanc": 3},
		Params: map[string]string{"HTTP_PORT": "18042", "DICOM_PORT": "14242"}}
	if _, err := m.render(t.Context(), in, e, nil); err != nil {
		t.Fatal(err)
	}
	p, err := bank.LoadProject(t.Context(), bank.LoadOptions{Dir: s.InstanceDir("pacs"),
		Files: []string{filepath.Join(s.InstanceDir("pacs"), instance.RenderedFile)}, Name: "pacs"})
	if err != nil {
		t.Fatal(err)
	}
	o := p.Services["orthanc"]
	if o.Scale == nil || *o.Scale != 3 || len(o.Ports) != 0 || o.Labels[label.Replicas] != "3" {
		t.Errorf("orthanc renders scale %v, ports %v, labels %v; want 3 replicas, no published port", o.Scale, o.Ports, o.Labels)
	}
	px, ok := p.Services[ProxyService]
	if !ok {
		t.Fatalf("no %s service in the rendered project", ProxyService)
	}
	got := map[string]string{}
	for _, pc := range px.Ports {
		got[pc.Published] = fmt.Sprintf("%s:%s->%d", pc.HostIP, pc.Published, pc.Target)
	}
	want := map[string]string{"18042": "127.0.0.1:18042->8042", "14242": "127.0.0.1:14242->4242"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("proxy publishes %v, want %v", got, want)
			break
		}
	}
	if px.Image != ProxyImage || px.Labels[label.Role] != bank.RoleProxy || px.Labels[label.Instance] != "pacs" ||
		px.Labels[label.ProxyFor] != "orthanc" || px.Labels[label.ConfigSHA256] == "" {
		t.Errorf("proxy image %s, labels %v", px.Image, px.Labels)
	}
	if d, ok := px.DependsOn["orthanc"]; !ok || d.Condition != types.ServiceConditionHealthy {
		t.Errorf("proxy depends on %v, want orthanc healthy", px.DependsOn)
	}
	cfg, ok := p.Configs["dockerbank-proxy-config"]
	if !ok || len(px.Configs) != 1 || px.Configs[0].Target != "/etc/dockerbank-proxy/haproxy.cfg" {
		t.Fatalf("proxy configs %v, project configs %v", px.Configs, p.Configs)
	}
	testenv.Golden(t, filepath.Join("testdata", "scale", "orthanc-haproxy.cfg"), cfg.Content)

	in.Scale = nil
	back, err := m.render(t.Context(), in, e, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := back.Services[ProxyService]; ok || len(back.Services["orthanc"].Ports) != 2 || back.Services["orthanc"].Scale != nil {
		t.Errorf("one replica: services %v, orthanc ports %v", back.ServiceNames(), back.Services["orthanc"].Ports)
	}
}

// TestRenderRefusesUnmarkedScale: a record that scales a service the entry
// does not mark (an older record, a changed entry) renders nothing.
func TestRenderRefusesUnmarkedScale(t *testing.T) {
	b, err := bank.Open(t.Context(), bank.Source{Name: "embedded", FS: dockerbank.Bank, Root: dockerbank.BankRoot})
	if err != nil {
		t.Fatal(err)
	}
	s, err := site.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	m := &Manager{Bank: b, Site: s}
	e, err := b.Get("demo")
	if err != nil {
		t.Fatal(err)
	}
	in := &site.Instance{Name: "d", Entry: e.ID, Version: e.DefaultVersion, Scale: map[string]int{"app": 2}}
	_, err = m.render(t.Context(), in, e, nil)
	if !errors.Is(err, ErrNotScalable) || !strings.Contains(err.Error(), "not marked scalable") {
		t.Fatalf("render of demo with app=2: %v, want a refusal", err)
	}
}

// TestPlanRoll: the replicas on another image are replaced, those that
// serve nothing first; services with one replica and replicas on the
// project's image are left to compose.
func TestPlanRoll(t *testing.T) {
	p := &types.Project{Services: types.Services{
		"web": {Name: "web"}, "db": {Name: "db"}, "solo": {Name: "solo"},
	}}
	set := func(name, image string) {
		s := p.Services[name]
		s.Image = image
		p.Services[name] = s
	}
	set("web", "app:2")
	set("db", "pg:16")
	set("solo", "app:2")
	c := func(name, svc, image, state, health string) engine.Container {
		return engine.Container{ID: name, Name: name, Service: svc, Image: image, State: state, Health: health}
	}
	ctrs := []engine.Container{
		c("web-1", "web", "app:1", "running", "healthy"),
		c("web-2", "web", "app:1", "exited", ""),
		c("web-3", "web", "app:2", "running", "healthy"),
		c("web-4", "web", "app:1", "running", "unhealthy"),
		c("db-1", "db", "pg:15", "running", "healthy"),
		c("solo-1", "solo", "app:1", "running", "healthy"),
	}
	var got []string
	for _, st := range PlanRoll(p, map[string]int{"web": 3, "solo": 1}, ctrs) {
		got = append(got, fmt.Sprintf("%s/%s:%v", st.Service, st.Old.Name, st.Replace))
	}
	want := "web/web-2:false web/web-4:false web/web-1:true"
	if strings.Join(got, " ") != want {
		t.Errorf("roll order %v, want %s", got, want)
	}
}
