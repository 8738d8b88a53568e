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
	"os"
	"os/exec"
	"path/filepath"
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

// RequireEngine makes sure a Docker engine answers (docker version).
func RequireEngine(t testing.TB) {
	t.Helper()
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
// shared/corpus/compose beside the repository (also in CI's clone).
func Corpus(t testing.TB) string {
	t.Helper()
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
