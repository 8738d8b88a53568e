package testenv

import (
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) { Main(m) }

// TestPrivateEngine starts a private engine, copies busybox into it, runs
// a container and makes it a swarm, and shows that the main engine, its
// docker0 and its swarm state are untouched, and that stopping the engine
// leaves no bridge and no directory behind.
func TestPrivateEngine(t *testing.T) {
	RequireImages(t, "dockerbank/busybox:1.36")
	ctx := t.Context()
	_, err := net.InterfaceByName("docker0")
	docker0 := err == nil
	mainSwarm := swarmState(t, "")

	d := Engine(t, DockerdOptions{})
	Load(t, d, "dockerbank/busybox:1.36")
	out, err := d.Docker(ctx, "run", "--rm", "dockerbank/busybox:1.36", "echo", "hello")
	if err != nil || strings.TrimSpace(out) != "hello" {
		t.Fatalf("run on the private engine: %q, %v", out, err)
	}
	// A compose-like network of its own, from its own address pool.
	if _, err := d.Docker(ctx, "network", "create", "tnet"); err != nil {
		t.Fatal(err)
	}
	// Containers reach each other by name, as compose's do.
	if _, err := d.Docker(ctx, "run", "-d", "--name", "srv", "--network", "tnet", "dockerbank/busybox:1.36", "sleep", "600"); err != nil {
		t.Fatal(err)
	}
	if out, err := d.Docker(ctx, "run", "--rm", "--network", "tnet", "dockerbank/busybox:1.36", "ping", "-c1", "-W5", "srv"); err != nil {
		t.Errorf("a container does not reach another by name on the private engine: %v: %s", err, out)
	}
	start := time.Now()
	if err := d.SwarmInit(ctx); err != nil {
		t.Fatalf("swarm init on the private engine: %v\n%s", err, d.LogTail(20))
	}
	t.Logf("swarm init on the private engine: %.1fs", time.Since(start).Seconds())
	if got := swarmState(t, d.Socket); got != "active" {
		t.Errorf("private engine's swarm state = %s, want active", got)
	}
	if _, err := net.InterfaceByName("docker_gwbridge"); err == nil {
		t.Error("a host-wide docker_gwbridge exists after the private swarm init")
	}
	if got := swarmState(t, ""); got != mainSwarm {
		t.Errorf("main engine's swarm state changed from %s to %s", mainSwarm, got)
	}
	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(d.Dir); !os.IsNotExist(err) {
		t.Errorf("the private engine's directory %s is still there: %v", d.Dir, err)
	}
	for _, br := range append(d.bridges, "dbe"+strconv.Itoa(d.n)+"g") {
		if _, err := net.InterfaceByName(br); err == nil {
			t.Errorf("bridge %s is left after Stop", br)
		}
	}
	if _, err := net.InterfaceByName("docker0"); docker0 && err != nil {
		t.Errorf("the main engine's docker0 is gone after the private engine ran: %v", err)
	}
	if got := swarmState(t, ""); got != mainSwarm {
		t.Errorf("main engine's swarm state changed from %s to %s", mainSwarm, got)
	}
	if _, err := apiCall(ctx, MainSocket(), "GET", "/_ping", nil); err != nil {
		t.Errorf("the main engine does not answer after the private engine ran: %v", err)
	}
}

func swarmState(t *testing.T, sock string) string {
	t.Helper()
	if sock == "" {
		sock = MainSocket()
	}
	data, err := apiCall(t.Context(), sock, "GET", "/info", nil)
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(data), `"LocalNodeState":"`)
	if i < 0 {
		t.Fatalf("no swarm state in /info")
	}
	rest := string(data)[i+len(`"LocalNodeState":"`):]
	return rest[:strings.Index(rest, `"`)]
}
