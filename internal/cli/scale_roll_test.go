package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dockerbank/dockerbank"
	"github.com/dockerbank/dockerbank/internal/testenv"
)

// writeScalableDemoBank copies the demo entry into a bank of the test's own
// and marks its app scalable (max 3): two versions with local images, which
// no scalable entry of the embedded bank has here.
func writeScalableDemoBank(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	sub := filepath.Join(dir, "demo")
	if err := os.CopyFS(sub, mustSub(t, dockerbank.BankRoot+"/demo")); err != nil {
		t.Fatal(err)
	}
	markScalable(t, sub)
	return dir
}

// markScalable marks the app of the demo entry in dir scalable (max 3).
func markScalable(t *testing.T, sub string) {
	t.Helper()
	file := filepath.Join(sub, "compose.yaml")
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	marked := strings.Replace(string(data), "    x-dockerbank: {role: app}\n", "    x-dockerbank: {role: app, scale: {max: 3}}\n", 1)
	if marked == string(data) {
		t.Fatal("demo's compose.yaml has no app service to mark")
	}
	if err := os.WriteFile(file, []byte(marked), 0o644); err != nil {
		t.Fatal(err)
	}
}

// appReplicas lists "IMAGE HEALTH" of the instance's app containers that
// exist now.
func appReplicas(instance string) []string {
	out, _ := exec.Command("docker", "ps", "-a", "--filter", "label=com.docker.compose.project="+instance,
		"--filter", "label=com.docker.compose.service=app", "--format", "{{.Image}} {{.Status}}").Output()
	var rows []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l == "" {
			continue
		}
		// "IMAGE Up 3 seconds (healthy)" -> "IMAGE (healthy)"
		image, status, _ := strings.Cut(l, " ")
		if i := strings.Index(status, "("); i >= 0 {
			status = status[i:]
		}
		rows = append(rows, image+" "+status)
	}
	return rows
}

func healthyCount(rows []string) int {
	n := 0
	for _, r := range rows {
		if strings.Contains(r, "(healthy)") {
			n++
		}
	}
	return n
}

// TestScaleUpgradeRollsReplicas: an upgrade of an instance with two
// replicas replaces them one at a time, a new one healthy before an old one
// goes, so that two healthy replicas serve throughout; rollback rolls them
// back the same way.
func TestScaleUpgradeRollsReplicas(t *testing.T) {
	testenv.RequireImages(t, "dockerbank/demo-app:1.0", "dockerbank/demo-app:2.0", "dockerbank/postgres:15")
	h := newHarness(t)
	h.extra = []string{"--bank", writeScalableDemoBank(t)}
	name := uniqueName("sc5u")
	h.cleanup(name)
	h.ok("deploy", "demo", "--name", name, "--version", "1.0", "--set", "DEMO_INTERVAL=1")
	h.ok("scale", name, "app=2")
	if got := healthyCount(appReplicas(name)); got != 2 {
		t.Fatalf("after scale app=2: %d healthy app replicas (%v)", got, appReplicas(name))
	}

	for _, step := range []struct {
		args []string
		want string
	}{
		{[]string{"upgrade", name, "--to", "2.0", "--no-backup"}, "dockerbank/demo-app:2.0"},
		{[]string{"rollback", name}, "dockerbank/demo-app:1.0"},
	} {
		stop := make(chan struct{})
		var mu sync.Mutex
		minHealthy, maxSeen := 99, 0
		var seen []string
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				select {
				case <-stop:
					return
				case <-time.After(200 * time.Millisecond):
				}
				rows := appReplicas(name)
				mu.Lock()
				minHealthy = min(minHealthy, healthyCount(rows))
				maxSeen = max(maxSeen, len(rows))
				if s := strings.Join(rows, " | "); len(seen) == 0 || seen[len(seen)-1] != s {
					seen = append(seen, s)
				}
				mu.Unlock()
			}
		}()
		begin := time.Now()
		h.ok(step.args...)
		close(stop)
		<-done
		t.Logf("%s: %.1fs; app replicas seen:\n  %s", step.args[0], time.Since(begin).Seconds(), strings.Join(seen, "\n  "))
		if minHealthy < 2 {
			t.Errorf("%s: at one point only %d app replicas were healthy, want 2 throughout", step.args[0], minHealthy)
		}
		if maxSeen < 3 {
			t.Errorf("%s: never saw a third replica: the new ones did not start before the old ones went", step.args[0])
		}
		rows := appReplicas(name)
		if len(rows) != 2 || healthyCount(rows) != 2 {
			t.Errorf("%s: app replicas at the end %v, want two healthy", step.args[0], rows)
		}
		for _, r := range rows {
			if !strings.HasPrefix(r, step.want+" ") {
				t.Errorf("%s: replica %q, want image %s", step.args[0], r, step.want)
			}
		}
	}
}

// TestScaleFailedUpgradeRollsBack: an upgrade whose first new replica never
// becomes healthy goes back by itself (exit 7): the failed replica is
// removed, both replicas of the previous version still serve, healthy.
func TestScaleFailedUpgradeRollsBack(t *testing.T) {
	testenv.RequireImages(t, "dockerbank/demo-app:2.0", "dockerbank/postgres:15")
	h := newHarness(t)
	dir := writeBrokenBank(t)
	markScalable(t, filepath.Join(dir, "demo"))
	h.extra = []string{"--bank", dir}
	name := uniqueName("sc5b")
	h.cleanup(name)
	h.ok("deploy", "demo", "--name", name, "--set", "DEMO_INTERVAL=1")
	h.ok("scale", name, "app=2")
	begin := time.Now()
	r := h.run("upgrade", name, "--to", "9.9-broken", "--no-backup", "--timeout", "25s")
	t.Logf("failed upgrade and rollback: %.1fs", time.Since(begin).Seconds())
	if r.code != ExitRolledBack || !strings.Contains(r.err, "runs 2.0 again") {
		t.Fatalf("upgrade to a broken version: exit %d (want %d)\n%s", r.code, ExitRolledBack, r.err)
	}
	rows := appReplicas(name)
	if len(rows) != 2 || healthyCount(rows) != 2 {
		t.Errorf("after the rollback: app replicas %v, want two healthy", rows)
	}
	for _, row := range rows {
		if !strings.HasPrefix(row, "dockerbank/demo-app:2.0 ") {
			t.Errorf("after the rollback a replica runs %q, want dockerbank/demo-app:2.0", row)
		}
	}
}
