package deploy

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dockerbank/dockerbank"
	"github.com/dockerbank/dockerbank/internal/bank"
	"github.com/dockerbank/dockerbank/internal/engine"
	"github.com/dockerbank/dockerbank/internal/instance/label"
	"github.com/dockerbank/dockerbank/internal/progress"
	"github.com/dockerbank/dockerbank/internal/site"
	"github.com/dockerbank/dockerbank/internal/testenv"
)

// swarmImages are what the swarm tests run: the demo's database (its app
// image builds from it) and the backup helper.
var swarmImages = []string{"dockerbank/postgres:15", "dockerbank/busybox:1.36"}

var swarmInit struct {
	sync.Mutex
	done bool
}

// swarmEngine returns the package's private engine (testenv.SharedEngine),
// made a single-node swarm at its first use: swarm init/leave never runs on
// the engine that runs a user's instances (on Docker 20.10 it breaks their
// embedded DNS until they restart).
func swarmEngine(t *testing.T) *engine.Engine {
	t.Helper()
	d := testenv.SharedEngine(t, swarmImages...)
	swarmInit.Lock()
	if !swarmInit.done {
		start := time.Now()
		if err := d.SwarmInit(t.Context()); err != nil {
			swarmInit.Unlock()
			t.Fatalf("%v\n%s", err, d.LogTail(20))
		}
		swarmInit.done = true
		t.Logf("private engine made a swarm in %.1fs", time.Since(start).Seconds())
	}
	swarmInit.Unlock()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	e, err := engine.Connect(ctx, engine.Endpoint(d.Host, ""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// TestSwarmDeployDemo deploys the demo entry as a stack on a single-node
// swarm, checks it runs healthy with its data in the instance's named
// volumes, stops and starts it, upgrades it, removes the stack and deploys
// it again onto the same data.
func TestSwarmDeployDemo(t *testing.T) {
	eng := swarmEngine(t)
	ctx := t.Context()
	s, err := site.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b, err := bank.Open(ctx, bank.Source{Name: "embedded", FS: dockerbank.Bank, Root: dockerbank.BankRoot})
	if err != nil {
		t.Fatal(err)
	}
	m := &Manager{Bank: b, Site: s, Engine: eng, Command: "test swarm deploy", HealthTimeout: 4 * time.Minute, Report: testReporter{t}}
	name := fmt.Sprintf("k8-swt-%06d", rand.IntN(1_000_000))
	t.Cleanup(func() {
		ctx := context.Background()
		if err := m.RemoveSwarm(ctx, name); err != nil {
			t.Logf("remove stack: %v", err)
		}
		if _, err := m.Remove(ctx, name, RemoveOptions{PurgeData: true, Confirm: name, Force: true}); err != nil {
			t.Errorf("remove instance and volumes: %v", err)
		}
	})

	start := time.Now()
	if _, err := m.DeploySwarm(ctx, DeployOptions{Entry: "demo", Name: name, Version: "1.0", Set: map[string]string{"DEMO_INTERVAL": "1"}}); err != nil {
		t.Fatal(err)
	}
	t.Logf("demo healthy on swarm after %.1fs", time.Since(start).Seconds())
	if !m.IsSwarm(name) {
		t.Error("instance is not marked as a swarm instance")
	}
	svcs, err := eng.StackServices(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if len(svcs) != 2 {
		t.Fatalf("stack services = %+v, want app and db", svcs)
	}
	for _, sv := range svcs {
		if sv.Running != 1 || sv.Desired != 1 {
			t.Errorf("service %s: %d/%d tasks running", sv.Name, sv.Running, sv.Desired)
		}
	}

	// Data lives in the instance's named volumes, labelled like compose's.
	db, app := running(t, eng, name, "db"), running(t, eng, name, "app")
	wantMounts := map[string]map[string]string{
		db:  {"/var/lib/postgresql/data": name + "_pgdata"},
		app: {"/data": name + "_files", "/audit": name + "_audit"},
	}
	for id, mounts := range wantMounts {
		info, err := eng.Inspect(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, mp := range info.Mounts {
			got[mp.Destination] = mp.Name
		}
		for target, vol := range mounts {
			if got[target] != vol {
				t.Errorf("container %s: %s is mounted from %q, want named volume %s", id[:12], target, got[target], vol)
			}
		}
	}
	vols, err := eng.Volumes(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	labelled := map[string]bool{}
	for _, v := range vols {
		if v.Labels[label.Instance] == name && v.Labels[label.Class] == bank.ClassUserdata && v.Labels[engine.LabelStack] == name {
			labelled[v.Name] = true
		}
	}
	for _, v := range []string{"pgdata", "files", "audit"} {
		if !labelled[name+"_"+v] {
			t.Errorf("volume %s_%s missing or not labelled userdata of the instance", name, v)
		}
	}
	before := waitRecords(t, eng, db, 2)

	// Stop scales the services to 0 and keeps them; start converges back.
	if err := m.Stop(ctx, name); err != nil {
		t.Fatal(err)
	}
	ctrs, err := eng.Containers(ctx, map[string]string{engine.LabelStack: name})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range ctrs {
		if c.State == "running" {
			t.Errorf("container %s still running after stop", c.Name)
		}
	}
	if err := m.Start(ctx, name); err != nil {
		t.Fatal(err)
	}
	before = waitRecords(t, eng, running(t, eng, name, "db"), before+1)

	// A task's container stopped through the engine (as backup quiesces
	// it) stays stopped: swarm does not replace it; starting it brings the
	// service back.
	appID := running(t, eng, name, "app")
	if err := eng.StopContainer(ctx, appID, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if n := countRunning(t, eng, name, "app"); n != 0 {
		t.Errorf("%d app containers run after StopContainer; swarm replaced the stopped task", n)
	}
	if err := eng.StartContainer(ctx, appID); err != nil {
		t.Fatal(err)
	}
	if n := countRunning(t, eng, name, "app"); n != 1 {
		t.Errorf("%d app containers run after StartContainer, want 1", n)
	}

	// Upgrade updates the services in place, onto the same volumes.
	if err := m.Upgrade(ctx, name, UpgradeOptions{To: "2.0", NoBackup: true}); err != nil {
		t.Fatal(err)
	}
	svcs, err = eng.StackServices(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	for _, sv := range svcs {
		if sv.Name == name+"_app" && sv.Image != "dockerbank/demo-app:2.0" {
			t.Errorf("app image after upgrade = %s, want dockerbank/demo-app:2.0", sv.Image)
		}
	}
	before = waitRecords(t, eng, running(t, eng, name, "db"), before+1)

	// Remove the stack: the volumes and their data stay, and a new deploy
	// of the same instance (now 2.0) runs on them.
	if err := m.RemoveSwarm(ctx, name); err != nil {
		t.Fatal(err)
	}
	if ctrs, _ := eng.Containers(ctx, map[string]string{engine.LabelStack: name}); len(ctrs) != 0 {
		t.Errorf("%d containers left after removing the stack", len(ctrs))
	}
	if _, err := m.DeploySwarm(ctx, DeployOptions{Entry: "demo", Name: name}); err != nil {
		t.Fatal(err)
	}
	after := waitRecords(t, eng, running(t, eng, name, "db"), before)
	if after < before {
		t.Errorf("records after redeploy = %d, before = %d: data was lost", after, before)
	}
	// The audit log volume keeps a line per start: deploy, start, upgrade,
	// redeploy (the last one is written shortly after the app turns healthy).
	app2 := running(t, eng, name, "app")
	deadline := time.Now().Add(time.Minute)
	for {
		out, err := eng.ExecOutput(ctx, app2, "grep", "-c", "start version", "/audit/audit.log")
		starts, _ := strconv.Atoi(strings.TrimSpace(out))
		if err == nil && starts >= 4 {
			break
		}
		if time.Now().After(deadline) {
			log, _ := eng.ExecOutput(ctx, app2, "grep", "-v", "insert record", "/audit/audit.log")
			t.Fatalf("audit log records %q starts (%v), want 4 on the same volume:\n%s", out, err, log)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

type testReporter struct{ t *testing.T }

func (r testReporter) Report(e progress.Event) { r.t.Logf("%+v", e) }

// running returns the id of the running container of a service.
func running(t *testing.T, eng *engine.Engine, stack, service string) string {
	t.Helper()
	ctrs, err := eng.Containers(t.Context(), map[string]string{engine.LabelStack: stack, engine.LabelService: service})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range ctrs {
		if c.State == "running" {
			return c.ID
		}
	}
	t.Fatalf("no running container of %s in stack %s", service, stack)
	return ""
}

func countRunning(t *testing.T, eng *engine.Engine, stack, service string) int {
	t.Helper()
	ctrs, err := eng.Containers(t.Context(), map[string]string{engine.LabelStack: stack, engine.LabelService: service})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range ctrs {
		if c.State == "running" {
			n++
		}
	}
	return n
}

// waitRecords polls until the demo database holds at least n records.
func waitRecords(t *testing.T, eng *engine.Engine, db string, n int) int {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		out, err := eng.ExecOutput(t.Context(), db, "psql", "-U", "demo", "-d", "demo", "-tAc", "select count(*) from records")
		got, _ := strconv.Atoi(strings.TrimSpace(out))
		if err == nil && got >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("records = %q (%v), want at least %d", out, err, n)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
