package engine

import (
	"context"
	"crypto/rand"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/dockerbank/dockerbank/internal/instance/label"
	"github.com/dockerbank/dockerbank/internal/testenv"
)

const debugImage = "dockerbank/busybox:1.36"

// debugTarget runs a busybox container to debug and removes it at the end.
func debugTarget(t *testing.T, ipc string) string {
	t.Helper()
	name := "dbg-target-" + strings.ToLower(rand.Text()[:8])
	out, err := exec.Command("docker", "run", "-d", "--name", name, "--ipc", ipc, debugImage, "sleep", "300").CombinedOutput()
	if err != nil {
		t.Fatalf("docker run: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("docker", "rm", "-f", name).Run() })
	return strings.TrimSpace(string(out))
}

func labelled(t *testing.T, key, value string) []string {
	t.Helper()
	out, err := exec.Command("docker", "ps", "-aq", "--filter", "label="+key+"="+value).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(out))
}

// TestDebugSessionJoinsNamespaces: the debug container sees the target's
// processes, network and (shareable) IPC namespace, and returns the
// command's exit code; nothing remains.
func TestDebugSessionJoinsNamespaces(t *testing.T) {
	testenv.RequireImages(t, debugImage)
	e, err := Connect(t.Context(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	target := debugTarget(t, "shareable")
	tag := "ns-" + strings.ToLower(rand.Text()[:8])
	var out strings.Builder
	code, err := e.DebugSession(t.Context(), DebugOptions{
		Image: debugImage, Target: target, IPC: true, Labels: map[string]string{label.Debug: tag},
		Cmd:     []string{"sh", "-c", `for n in pid net ipc; do [ "$(readlink /proc/self/ns/$n)" = "$(readlink /proc/1/ns/$n)" ] && echo same-$n; done; exit 4`},
		CapDrop: []string{"ALL"}, CapAdd: []string{"SYS_PTRACE"},
	}, SessionOptions{Stdout: &out, Stderr: &out})
	if err != nil {
		t.Fatal(err)
	}
	if code != 4 || out.String() != "same-pid\nsame-net\nsame-ipc\n" {
		t.Errorf("exit %d, output %q; want 4 and the same pid, net and ipc namespaces as the target's PID 1", code, out.String())
	}
	if left := labelled(t, label.Debug, tag); len(left) != 0 {
		t.Errorf("debug container left: %v", left)
	}
}

// TestDebugSessionRemovedOnCancel is Ctrl-C during a debug session: the
// session returns promptly and the debug container is gone.
func TestDebugSessionRemovedOnCancel(t *testing.T) {
	testenv.RequireImages(t, debugImage)
	e, err := Connect(t.Context(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	target := debugTarget(t, "private")
	tag := "cancel-" + strings.ToLower(rand.Text()[:8])
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() {
		// Cancel once the debug container runs.
		for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			out, _ := exec.Command("docker", "ps", "-q", "--filter", "label="+label.Debug+"="+tag, "--filter", "status=running").Output()
			if len(strings.TrimSpace(string(out))) > 0 {
				break
			}
		}
		cancel()
	}()
	start := time.Now()
	_, err = e.DebugSession(ctx, DebugOptions{
		Image: debugImage, Target: target, Cmd: []string{"sleep", "300"},
		Labels: map[string]string{label.Debug: tag}, CapDrop: []string{"ALL"}, CapAdd: []string{"SYS_PTRACE"},
	}, SessionOptions{})
	took := time.Since(start)
	t.Logf("cancelled session returned after %s", took.Round(time.Millisecond))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("DebugSession after cancel = %v, want context.Canceled", err)
	}
	if took > 60*time.Second {
		t.Errorf("cancelled session took %s", took)
	}
	if left := labelled(t, label.Debug, tag); len(left) != 0 {
		t.Errorf("debug container left after cancel: %v", left)
	}
}
