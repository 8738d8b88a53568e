package engine_test

import (
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dockerbank/dockerbank/internal/engine"
	"github.com/dockerbank/dockerbank/internal/testenv"
)

// TestDownRemovesAnonymousVolumes: a service whose image declares a VOLUME
// the project does not map (dockerbank/postgres:15 declares
// /var/lib/postgresql/data) gets an anonymous volume; Down removes it with
// the container and keeps the project's named volume.
func TestDownRemovesAnonymousVolumes(t *testing.T) {
	testenv.RequireImages(t, "dockerbank/postgres:15")
	ctx := t.Context()
	e, err := engine.Connect(ctx, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	name := "anon-" + strings.ToLower(rand.Text()[:6])
	dir := t.TempDir()
	compose := "services:\n  db:\n    image: dockerbank/postgres:15\n    command: [sleep, '600']\n    network_mode: none\n    volumes: [keep:/keep]\nvolumes:\n  keep: {}\n"
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(compose), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		exec.Command("docker", "rm", "-fv", name+"-db-1").Run()
		exec.Command("docker", "volume", "rm", name+"_keep").Run()
	})
	p, err := e.LoadProject(ctx, engine.LoadOptions{Dir: dir, Files: []string{"compose.yaml"}, Name: name})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Up(ctx, p, engine.UpOptions{}); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("docker", "inspect", "--format", `{{range .Mounts}}{{if eq .Type "volume"}}{{.Name}} {{end}}{{end}}`, name+"-db-1").Output()
	if err != nil {
		t.Fatal(err)
	}
	var anon []string
	for _, v := range strings.Fields(string(out)) {
		if engine.AnonymousVolume(v, nil) {
			anon = append(anon, v)
		}
	}
	if len(anon) != 1 {
		t.Fatalf("fixture: the container mounts %q, want one anonymous volume", out)
	}
	t.Cleanup(func() { exec.Command("docker", "volume", "rm", anon[0]).Run() })
	if err := e.Down(ctx, name, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if exec.Command("docker", "volume", "inspect", anon[0]).Run() == nil {
		t.Errorf("anonymous volume %s is left after down", anon[0])
	}
	if exec.Command("docker", "volume", "inspect", name+"_keep").Run() != nil {
		t.Errorf("down removed the named volume %s_keep", name)
	}
}
