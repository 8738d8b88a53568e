package observe

import (
	"crypto/rand"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/dockerbank/dockerbank/internal/engine"
	"github.com/dockerbank/dockerbank/internal/instance/label"
	"github.com/dockerbank/dockerbank/internal/testenv"
)

const testImage = "dockerbank/busybox:1.36"

// connect returns the engine, skipping the test when none answers (and
// failing it when CI=true: integration tests must run in CI).
func connect(t *testing.T) *engine.Engine {
	t.Helper()
	e, err := engine.Connect(t.Context(), engine.Options{})
	if err != nil {
		testenv.Missing(t, "no engine: %v", err)
	}
	t.Cleanup(func() { e.Close() })
	if ok, err := e.ImageExists(t.Context(), testImage); err != nil || !ok {
		testenv.Missing(t, "%s is missing: run scripts/images.sh", testImage)
	}
	return e
}

// testInstance is a unique instance name for labels.
func testInstance(t *testing.T) string {
	return "wt-test-" + strings.ToLower(rand.Text()[:8])
}

// run starts a labelled busybox container running script and removes it
// at the end of the test.
func run(t *testing.T, instance, service string, script string, extra ...string) string {
	t.Helper()
	name := instance + "-" + service
	args := append([]string{"run", "-d", "--name", name,
		"--label", label.Instance + "=" + instance,
		"--label", "com.docker.compose.service=" + service,
		"--label", label.Role + "=app"}, extra...)
	args = append(args, testImage, "sh", "-c", script)
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker run: %v: %s", err, out)
	}
	id := strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command("docker", "rm", "-f", "-v", id).Run() })
	return id
}

func docker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func find(s Snapshot, id string) (ContainerStat, bool) {
	for _, c := range s.Containers {
		if c.ID == id {
			return c, true
		}
	}
	return ContainerStat{}, false
}

// parseDockerSize reads sizes as docker stats prints them: 21.5MiB, 988KiB.
func parseDockerSize(s string) (float64, error) {
	units := []struct {
		suffix string
		mult   float64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"kB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			var v float64
			_, err := fmt.Sscanf(strings.TrimSuffix(s, u.suffix), "%g", &v)
			return v * u.mult, err
		}
	}
	return 0, fmt.Errorf("unknown size %q", s)
}

func collector(e *engine.Engine, instance string) *Collector {
	c := &Collector{Engine: e, Instance: instance, Interval: 300 * time.Millisecond}
	if e.IsLocal() {
		c.Cgroup = HostCgroup()
	}
	return c
}
