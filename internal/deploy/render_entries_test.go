package deploy

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	bankfs "github.com/dockerbank/dockerbank/bank"
	"github.com/dockerbank/dockerbank/internal/bank"
	"github.com/dockerbank/dockerbank/internal/site"
)

// TestRenderEmbeddedEntries renders every version of every embedded entry
// and loads the rendered file back as every later operation does: commands,
// entrypoints, health checks and environment must come back unchanged, so a
// "$$" an entry writes for a shell is not interpolated a second time.
func TestRenderEmbeddedEntries(t *testing.T) {
	b, err := bank.Open(t.Context(), bank.Source{Name: "embedded", FS: bankfs.FS, Root: bankfs.Root})
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
				p, err := m.render(t.Context(), in, e)
				if err != nil {
					t.Fatal(err)
				}
				back, err := bank.LoadProject(t.Context(), bank.LoadOptions{
					Dir: s.InstanceDir(name), Files: []string{filepath.Join(s.InstanceDir(name), RenderedFile)}, Name: name,
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
