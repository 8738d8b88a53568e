package deploy

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/dockerbank/dockerbank"
	"github.com/dockerbank/dockerbank/internal/bank"
	"github.com/dockerbank/dockerbank/internal/instance"
	"github.com/dockerbank/dockerbank/internal/site"
)

// TestRenderEmbeddedEntries renders every version of every embedded entry
// and loads the rendered file back as every later operation does: commands,
// entrypoints, health checks and environment must come back unchanged, so a
// "$$" an entry writes for a shell is not interpolated a second time.
func TestRenderEmbeddedEntries(t *testing.T) {
	b, err := bank.Open(t.Context(), bank.Source{Name: "embedded", FS: dockerbank.Bank, Root: dockerbank.BankRoot})
	if err != nil {
		t.Fatal(err)
	}
	s, err := site.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	m := &Manager{Bank: b, Site: s}
	for _, e := range b.List() {
		for _, v := range e.Versions {
			name := "r-" + e.ID + "-" + strings.ReplaceAll(v.Version, ".", "-")
			t.Run(e.ID+"@"+v.Version, func(t *testing.T) {
				in := &site.Instance{Name: name, Entry: e.ID, Version: v.Version}
				p, err := m.render(t.Context(), in, e, nil)
				if err != nil {
					t.Fatal(err)
				}
				back, err := bank.LoadProject(t.Context(), bank.LoadOptions{
					Dir: s.InstanceDir(name), Files: []string{filepath.Join(s.InstanceDir(name), instance.RenderedFile)}, Name: name,
				})
				if err != nil {
					t.Fatalf("load rendered file: %v", err)
				}
				for svc, want := range p.Services {
					got := back.Services[svc]
					if got.Image != v.Images[svc] {
						t.Errorf("service %s image %q, want %q", svc, got.Image, v.Images[svc])
					}
					if diff := cmp.Diff(want.Entrypoint, got.Entrypoint); diff != "" {
						t.Errorf("service %s entrypoint changed by rendering (-want +got):\n%s", svc, diff)
					}
					if diff := cmp.Diff(want.Command, got.Command); diff != "" {
						t.Errorf("service %s command changed by rendering (-want +got):\n%s", svc, diff)
					}
					if want.HealthCheck != nil && got.HealthCheck != nil {
						if diff := cmp.Diff(want.HealthCheck.Test, got.HealthCheck.Test); diff != "" {
							t.Errorf("service %s health check changed by rendering (-want +got):\n%s", svc, diff)
						}
					}
					if diff := cmp.Diff(want.Environment, got.Environment); diff != "" {
						t.Errorf("service %s environment changed by rendering (-want +got):\n%s", svc, diff)
					}
				}
			})
		}
	}
}

// TestRenderEphemeralPorts: a staging or drill instance publishes the
// entry's ports on host ports the engine picks, keeping the bind address
// and the container port, so it can run beside the instance it copies.
func TestRenderEphemeralPorts(t *testing.T) {
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
	for _, ephemeral := range []bool{false, true} {
		in := &site.Instance{Name: "r-ports", Entry: e.ID, Version: e.DefaultVersion, EphemeralPorts: ephemeral,
			Params: map[string]string{"HTTP_PORT": "18042"}}
		p, err := m.render(t.Context(), in, e, nil)
		if err != nil {
			t.Fatal(err)
		}
		ports := p.Services["orthanc"].Ports
		if len(ports) != 2 {
			t.Fatalf("orthanc publishes %d ports, want 2", len(ports))
		}
		for _, pc := range ports {
			if pc.HostIP != "127.0.0.1" || (pc.Target != 8042 && pc.Target != 4242) {
				t.Errorf("ephemeral=%v: port %+v lost its bind address or target", ephemeral, pc)
			}
			if ephemeral && pc.Published != "" {
				t.Errorf("ephemeral: port %d still published on host port %s", pc.Target, pc.Published)
			}
			if !ephemeral && pc.Target == 8042 && pc.Published != "18042" {
				t.Errorf("port 8042 published on %q, want the parameter's 18042", pc.Published)
			}
		}
	}
}
