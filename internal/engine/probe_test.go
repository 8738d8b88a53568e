package engine_test

import (
	"crypto/rand"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dockerbank/dockerbank/internal/engine"
	"github.com/dockerbank/dockerbank/internal/instance/label"
	"github.com/dockerbank/dockerbank/internal/testenv"
)

// TestHostDir: where dockerbank may read a volume's files on this machine.
func TestHostDir(t *testing.T) {
	root := t.TempDir() // stands for the engine's data root
	if err := os.MkdirAll(filepath.Join(root, "here", "_data"), 0o755); err != nil {
		t.Fatal(err)
	}
	here, gone := filepath.Join(root, "here", "_data"), filepath.Join(root, "elsewhere", "_data")
	bind := map[string]string{"type": "none", "o": "bind", "device": "/srv/db/x"}
	for _, tt := range []struct {
		name string
		v    engine.Volume
		want string
	}{
		{"default local volume", engine.Volume{Driver: "local", Mountpoint: here}, here},
		{"bind of a host directory", engine.Volume{Driver: "local", Mountpoint: here, Options: bind}, "/srv/db/x"},
		{"bind on a remote engine", engine.Volume{Driver: "local", Mountpoint: gone, Options: bind}, ""},
		{"nfs share: unmounted mountpoint is empty", engine.Volume{Driver: "local", Mountpoint: here, Options: map[string]string{"type": "nfs", "o": "addr=x", "device": ":/e"}}, ""},
		{"other driver", engine.Volume{Driver: "rexray/ebs", Mountpoint: here}, ""},
	} {
		if got := tt.v.HostDir(); got != tt.want {
			t.Errorf("%s: HostDir() = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestProbeVolume: a bind of a missing directory fails the mount, a
// script's exit code and output come back, and nothing is left behind.
func TestProbeVolume(t *testing.T) {
	testenv.RequireImages(t, "dockerbank/busybox:1.36")
	ctx := t.Context()
	e, err := engine.Connect(ctx, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	tag := "probe-" + strings.ToLower(rand.Text()[:6])
	labels := map[string]string{label.Helper: tag}
	bind := func(dir string) map[string]string {
		return map[string]string{"type": "none", "o": "bind", "device": dir}
	}
	base := t.TempDir()

	err = e.ProbeVolume(ctx, engine.ProbeOptions{Image: "dockerbank/busybox:1.36", Driver: "local", DriverOpts: bind(filepath.Join(base, "missing")), Labels: labels})
	var pe *engine.ProbeError
	if !errors.As(err, &pe) || !pe.Mount || !strings.Contains(pe.Output, "no such file or directory") {
		t.Errorf("probe of a missing directory: %v", err)
	}
	err = e.ProbeVolume(ctx, engine.ProbeOptions{Image: "dockerbank/busybox:1.36", Driver: "local", DriverOpts: bind(base), Labels: labels,
		Script: "mkdir -p /probe/a/b && echo full >&2 && exit 3"})
	if !errors.As(err, &pe) || pe.Mount || pe.ExitCode != 3 || pe.Output != "full" {
		t.Errorf("probe whose script exits 3: %#v", err)
	}
	if st, err := os.Stat(filepath.Join(base, "a", "b")); err != nil || !st.IsDir() {
		t.Errorf("the script's directory is not on the host: %v", err)
	}
	if err := e.ProbeVolume(ctx, engine.ProbeOptions{Image: "dockerbank/busybox:1.36", Driver: "local", DriverOpts: bind(base), Labels: labels}); err != nil {
		t.Errorf("probe of an existing directory: %v", err)
	}
	for _, args := range [][]string{{"ps", "-aq", "--filter", "label=" + label.Helper + "=" + tag}, {"volume", "ls", "-q", "--filter", "label=" + label.Helper + "=" + tag}} {
		if out, _ := exec.Command("docker", args...).Output(); strings.TrimSpace(string(out)) != "" {
			t.Errorf("probe left: docker %s: %s", strings.Join(args, " "), out)
		}
	}
}
