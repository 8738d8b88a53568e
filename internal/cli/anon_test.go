package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoAnonymousVolumesLeft: after an upgrade, a rollback, a down and an
// rm of a demo instance, no anonymous volume of it is left on the engine.
// (The demo app's image declares VOLUME /var/lib/postgresql/data from its
// PostgreSQL base; the entry now maps it to a named volume, so the engine
// test TestDownRemovesAnonymousVolumes keeps an unmapped VOLUME.)
func TestNoAnonymousVolumesLeft(t *testing.T) {
	h := newHarness(t)
	name := uniqueName("anon")
	h.cleanup(name)
	seen := map[string]bool{}
	record := func() {
		for _, v := range anonymousVolumes(t, name) {
			seen[v] = true
		}
	}
	h.ok("deploy", "demo", "--name", name, "--version", "1.0")
	record()
	h.ok("upgrade", name, "--to", "2.0", "--no-backup")
	record()
	h.ok("rollback", name)
	record()
	h.ok("down", name)
	h.ok("deploy", "demo", "--name", name)
	record()
	h.ok("rm", name, "--purge-data", "--confirm", name, "--force")
	for v := range seen {
		if exec.Command("docker", "volume", "inspect", v).Run() == nil {
			t.Errorf("anonymous volume %s of %s is left on the engine", v, name)
			exec.Command("docker", "volume", "rm", v).Run()
		}
	}
}

// TestGCRemovesPristineAnonymousVolumes: an anonymous volume that an
// earlier version left (a container of a bank image removed without -v)
// and that holds only what the image put there is removed by gc; one with
// anything written into it, and one still mounted, are kept.
func TestGCRemovesPristineAnonymousVolumes(t *testing.T) {
	h := newHarness(t)
	leftover := func(write bool) string {
		t.Helper()
		id := docker(t, "create", "--name", uniqueName("gc-anon"), "dockerbank/postgres:15", "true")
		v := anonymousOf(t, id)
		if write {
			mp := docker(t, "volume", "inspect", "--format", "{{.Mountpoint}}", v)
			if err := os.WriteFile(filepath.Join(mp, "notes.txt"), []byte("user data"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		docker(t, "rm", id) // without -v: what earlier versions did
		t.Cleanup(func() { exec.Command("docker", "volume", "rm", v).Run() })
		return v
	}
	pristine, written := leftover(false), leftover(true)
	inUse := docker(t, "create", "--name", uniqueName("gc-anon"), "dockerbank/postgres:15", "true")
	inUseVol := anonymousOf(t, inUse)
	t.Cleanup(func() { exec.Command("docker", "rm", "-v", inUse).Run() })

	h.ok("gc")
	exists := func(v string) bool { return exec.Command("docker", "volume", "inspect", v).Run() == nil }
	if exists(pristine) {
		t.Errorf("gc kept the pristine anonymous volume %s", pristine)
	}
	if !exists(written) {
		t.Errorf("gc removed anonymous volume %s, which holds a file written into it", written)
	}
	if !exists(inUseVol) {
		t.Errorf("gc removed anonymous volume %s of an existing container", inUseVol)
	}
}

func anonymousOf(t *testing.T, container string) string {
	t.Helper()
	out := docker(t, "inspect", "--format", `{{range .Mounts}}{{if eq .Type "volume"}}{{.Name}} {{end}}{{end}}`, container)
	vs := strings.Fields(out)
	if len(vs) != 1 {
		t.Fatalf("container %s mounts %q, want one anonymous volume", container, vs)
	}
	return vs[0]
}
