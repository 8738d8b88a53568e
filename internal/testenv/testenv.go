// Package testenv helps tests find what they run against: a real container
// engine, the local test images, and the shared corpus beside the project.
// In CI (CI=true) a missing prerequisite fails the test instead of skipping
// it, so integration tests can never pass by not running.
//
// Only _test.go files import it.
package testenv

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// InCI reports whether the tests run in CI, where nothing may be skipped.
func InCI() bool { return os.Getenv("CI") == "true" }

// Missing skips the test, or fails it in CI. Either way it is recorded
// for the summary Main prints and `make test` collects (MissingFileEnv).
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	record(t, fmt.Sprintf(format, args...))
	if InCI() {
		t.Fatalf("CI=true and a prerequisite is missing: "+format, args...)
	}
	t.Skipf("prerequisite missing: "+format, args...)
}

// Integration skips an integration test with -short: `make unit` runs
// only what needs no engine, no server and no root.
func Integration(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: not with -short (make unit)")
	}
}

// RequireEngine makes sure a Docker engine answers (docker version). It
// marks an integration test: with -short the test is skipped.
func RequireEngine(t testing.TB) {
	t.Helper()
	Integration(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "docker", "version", "--format", "{{.Server.APIVersion}}").CombinedOutput(); err != nil {
		Missing(t, "no Docker engine answers (start one, e.g. `make engine`): %v: %s", err, out)
	}
}

// RequireImages makes sure local images exist (built by scripts/images.sh).
func RequireImages(t testing.TB, refs ...string) {
	t.Helper()
	RequireEngine(t)
	for _, ref := range refs {
		if err := exec.Command("docker", "image", "inspect", ref).Run(); err != nil {
			Missing(t, "image %s not built; run scripts/images.sh", ref)
		}
	}
}

// RequireRoot makes sure the test runs as root (volume mountpoints,
// private engines).
func RequireRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		Missing(t, "%s and need root", why)
	}
}

// RequireCommand makes sure a program is on PATH.
func RequireCommand(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, "%s is not installed", name)
	}
	return p
}

// RepoRoot returns the repository's root directory (where go.mod is).
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test's directory")
		}
		dir = parent
	}
}

// Corpus returns the directory of the shared compose corpus, which lies in
// shared/corpus/compose beside the repository (also in CI's clone);
// DOCKERBANK_CORPUS overrides.
func Corpus(t testing.TB) string {
	t.Helper()
	if dir := os.Getenv("DOCKERBANK_CORPUS"); dir != "" {
		return dir
	}
	root := RepoRoot(t)
	for dir := root; ; dir = filepath.Dir(dir) {
		c := filepath.Join(dir, "shared", "corpus", "compose")
		if st, err := os.Stat(c); err == nil && st.IsDir() {
			return c
		}
		if filepath.Dir(dir) == dir {
			break
		}
	}
	Missing(t, "shared/corpus/compose not found beside %s", root)
	return ""
}

// CorpusFiles lists the compose files (*.yml) of the shared corpus.
func CorpusFiles(t testing.TB) []string {
	t.Helper()
	dir := Corpus(t)
	files, _ := filepath.Glob(filepath.Join(dir, "*.yml"))
	if len(files) == 0 {
		Missing(t, "no compose file in the corpus %s", dir)
	}
	return files
}

// Podman starts Podman's Docker-compatible API service for the test, on a
// socket of its own, with the project's configuration (scripts/podman.sh
// serve), and points DOCKER_HOST at it for the rest of the test, so the
// docker CLI and dockerbank both talk to Podman. It stops the service when
// the test ends (after the test's own cleanups). It needs podman (scripts/
// deps.sh) and the local images in Podman's storage (DOCKER_HOST=... scripts/
// images.sh, see .ci/run); it returns the DOCKER_HOST value.
func Podman(t *testing.T, images ...string) string {
	t.Helper()
	RequireCommand(t, "podman")
	if os.Geteuid() != 0 {
		Missing(t, "the Podman tests run a rootful Podman service and need root")
	}
	dir, err := os.MkdirTemp("", "dockerbank-podman-") // short: a socket path has at most 107 bytes
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "podman.sock")
	logf, err := os.Create(filepath.Join(dir, "service.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", filepath.Join(RepoRoot(t), "scripts", "podman.sh"), "serve", sock)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start podman system service: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		logf.Close()
		if !t.Failed() {
			os.RemoveAll(dir)
		} else {
			t.Logf("podman service log kept in %s", logf.Name())
		}
	})
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		},
	}}
	deadline := time.Now().Add(60 * time.Second)
	for {
		res, err := hc.Get("http://podman/_ping")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(logf.Name())
			t.Fatalf("podman system service did not answer on %s within 60 s: %v\n%s", sock, err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	host := "unix://" + sock
	t.Setenv("DOCKER_HOST", host)
	for _, ref := range images {
		if out, err := exec.Command("docker", "image", "inspect", ref).CombinedOutput(); err != nil {
			Missing(t, "image %s is not in Podman's storage; run `env $(scripts/podman.sh start) scripts/images.sh` as .ci/run does: %s", ref, strings.TrimSpace(string(out)))
		}
	}
	return host
}
