package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dockerbank/dockerbank/internal/heal"
	"github.com/dockerbank/dockerbank/internal/observe"
	"github.com/dockerbank/dockerbank/internal/site"
	"github.com/dockerbank/dockerbank/internal/testenv"
)

// TestServeHeals runs `dockerbank serve` (in-process, short heal policy
// windows) against a demo instance on a real engine (a private dockerd)
// and shows:
//   - the app made unhealthy (its health file removed) is restarted within
//     the policy's window, once, and is healthy again;
//   - nothing is restarted while a backup holds the site lock (its quiesce
//     window); once the lock is free, the container is healed;
//   - an app cut off from the instance network (name resolution lost) is
//     not helped by a restart, and the instance is recreated: healthy, and
//     the app resolves db again;
//   - a container that fails again and again (heal: restart in site.yaml)
//     is given up after the cap, with an alert, a journal record and the
//     metrics.
func TestServeHeals(t *testing.T) {
	h := newHarness(t)
	// A private engine (testenv.SharedEngine): the healer restarts and
	// recreates containers, which must never be a user's, and the test
	// must not depend on what the shared engine has left (its default
	// address pools ran out on a loaded machine).
	d := testenv.SharedEngine(t, "dockerbank/postgres:15", "dockerbank/busybox:1.36")
	t.Setenv("DOCKER_HOST", "unix://"+d.Socket)
	name := uniqueName("w6-heal")
	h.cleanup(name)
	// One record at the start only: the app touches its health file after
	// each record, so a removed file stays removed.
	h.ok("deploy", "demo", "--name", name, "--set", "DEMO_INTERVAL=3600")
	app := name + "-app-1"

	var alertsMu sync.Mutex
	var alerts []observe.Alert
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var got []observe.Alert
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &got); err != nil {
			var wrapped struct{ Alerts []observe.Alert }
			json.Unmarshal(body, &wrapped)
			got = wrapped.Alerts
		}
		alertsMu.Lock()
		alerts = append(alerts, got...)
		alertsMu.Unlock()
	}))
	defer hook.Close()

	addr := freeAddr(t)
	stopServe := h.serve(t, "--listen", addr, "--no-scheduler", "--interval", "2s", "--audit-every", "0", "--no-cgroup",
		"--alert-webhook", hook.URL,
		"--heal-check", "2s", "--heal-failures", "3", "--heal-backoff", "20s", "--heal-backoff-max", "40s",
		"--heal-attempts", "2", "--heal-stable", "10s")
	defer stopServe()

	s, err := site.Open(h.site)
	if err != nil {
		t.Fatal(err)
	}
	// The app's heal records (restarts of the app, recreates and give-ups
	// for it). On a loaded machine the db's checks may time out too: the
	// healer then restarts the db as well, which these phases allow.
	healRecords := func() []site.Record {
		recs, err := s.Journal()
		if err != nil {
			t.Fatal(err)
		}
		var out []site.Record
		for _, r := range recs {
			if r.Command == heal.Command && r.Instance == name && (strings.Contains(r.Detail, name+"/app") || strings.Contains(r.Detail, "service app")) {
				out = append(out, r)
			}
		}
		return out
	}
	waitRecord := func(n int, within time.Duration, what string) site.Record {
		t.Helper()
		deadline := time.Now().Add(within)
		for {
			if recs := healRecords(); len(recs) >= n {
				return recs[n-1]
			}
			if time.Now().After(deadline) {
				t.Fatalf("no heal record #%d (%s) within %s; journal: %+v\nserve: %s", n, what, within, healRecords(), h.serveLog())
			}
			time.Sleep(time.Second)
		}
	}
	waitHealthy := func(ctr string, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for docker(t, "inspect", "-f", "{{.State.Health.Status}}", ctr) != "healthy" {
			if time.Now().After(deadline) {
				t.Fatalf("%s is not healthy after %s", ctr, within)
			}
			time.Sleep(time.Second)
		}
	}

	// 1. Health file removed: restarted once, within the window (3 failed
	// checks of 2 s, plus a 2 s look), healthy again.
	started := docker(t, "inspect", "-f", "{{.State.StartedAt}}", app)
	broke := time.Now()
	docker(t, "exec", app, "rm", "/tmp/healthy")
	r := waitRecord(1, 60*time.Second, "restart of the app")
	t.Logf("healed after %.1fs: %s", time.Since(broke).Seconds(), r.Detail)
	if r.Outcome != "ok" || !strings.Contains(r.Detail, "restart "+name+"/app") {
		t.Errorf("first heal record = %+v, want an ok restart of the app", r)
	}
	if now := docker(t, "inspect", "-f", "{{.State.StartedAt}}", app); now == started {
		t.Error("the app container was not restarted")
	}
	waitHealthy(app, 90*time.Second)
	time.Sleep(15 * time.Second) // a second action would come within this time
	if n := len(healRecords()); n != 1 {
		t.Errorf("%d heal records after one breakage, want 1: %+v", n, healRecords())
	}
	if m := h.metrics(t, addr); !strings.Contains(m, `dockerbank_container_heal_total{action="restart",instance="`+name+`",outcome="ok",service="app"} 1`) {
		t.Errorf("metrics lack the restart:\n%s", grepText(m, "heal"))
	}

	// 2. A backup holds the site lock: nothing is restarted meanwhile.
	lock, err := s.Lock(t.Context(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	started = docker(t, "inspect", "-f", "{{.State.StartedAt}}", app)
	docker(t, "exec", app, "rm", "/tmp/healthy")
	time.Sleep(30 * time.Second) // 15 failed checks, 15 looks
	if n := len(healRecords()); n != 1 {
		t.Errorf("the healer acted while the site was locked: %+v", healRecords())
	}
	if now := docker(t, "inspect", "-f", "{{.State.StartedAt}}", app); now != started {
		t.Error("the app was restarted while the site was locked")
	}
	lock.Unlock()
	r = waitRecord(2, 60*time.Second, "restart after the lock")
	if !strings.Contains(r.Detail, "restart "+name+"/app") || r.Outcome != "ok" {
		t.Errorf("heal after the lock = %+v, want a restart of the app", r)
	}
	waitHealthy(app, 90*time.Second)
	time.Sleep(12 * time.Second) // heal-stable: the next breakage is a new episode

	// 3. The app loses the instance network: a restart does not bring it
	// back, so the instance is recreated.
	docker(t, "network", "disconnect", name+"_default", app)
	r = waitRecord(3, 2*time.Minute, "restart of the cut-off app") // each failing check waits for DNS until its 10 s timeout
	if !strings.Contains(r.Detail, "restart "+name+"/app") {
		t.Errorf("first action on the cut-off app = %+v, want a restart", r)
	}
	r = waitRecord(4, 4*time.Minute, "recreate of the instance")
	if !strings.Contains(r.Detail, "recreate instance "+name) || r.Outcome != "ok" {
		t.Fatalf("second action on the cut-off app = %+v, want an ok recreate", r)
	}
	waitHealthy(app, 90*time.Second)
	if out := docker(t, "exec", app, "getent", "hosts", "db"); !strings.Contains(out, "db") {
		t.Errorf("the recreated app does not resolve db: %q", out)
	}
	time.Sleep(12 * time.Second)

	// 4. heal: restart, and a health check that fails whatever is done:
	// two restarts, then healing gives up and alerts.
	if err := os.WriteFile(filepath.Join(h.site, site.ConfigFile), []byte("apiVersion: dockerbank/v1\nheal:\n  instances:\n    "+name+": restart\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	docker(t, "exec", "-u", "root", app, "mv", "/app/healthcheck", "/app/healthcheck.off")
	// Each restart waits out the demo's 60 s start period before its
	// checks count again.
	r = waitRecord(7, 8*time.Minute, "give up")
	if r.Outcome != heal.OutcomeGaveUp {
		t.Errorf("third action on the failing app = %+v, want gave-up", r)
	}
	for i, rec := range healRecords()[4:6] {
		if !strings.Contains(rec.Detail, "restart "+name+"/app") {
			t.Errorf("action %d on the failing app = %+v, want a restart (heal: restart never recreates)", i+1, rec)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		alertsMu.Lock()
		fired := false
		for _, a := range alerts {
			if a.Rule == "ContainerHealGivenUp" && a.Instance == name && a.State == "firing" {
				fired = true
			}
		}
		alertsMu.Unlock()
		if fired {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ContainerHealGivenUp alert was sent; alerts: %+v", alerts)
		}
		time.Sleep(time.Second)
	}
	m := h.metrics(t, addr)
	for _, want := range []string{
		`dockerbank_container_heal_total{action="giveup",instance="` + name + `",outcome="gave-up",service="app"} 1`,
		`dockerbank_container_heal_total{action="recreate",instance="` + name + `",outcome="ok",service="app"} 1`,
		`dockerbank_container_heal_given_up{instance="` + name + `",service="app"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s:\n%s", want, grepText(m, "heal"))
		}
	}
	time.Sleep(10 * time.Second)
	if n := len(healRecords()); n != 7 {
		t.Errorf("%d heal records, want 7: the healer acted after giving up: %+v", n, healRecords()[7:])
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// serve runs `dockerbank serve` in-process until the returned function
// is called (or the test ends).
func (h *harness) serve(t *testing.T, args ...string) func() {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	h.serveOut = &lockedBuffer{}
	a := &app{streams: Streams{In: strings.NewReader(""), Out: h.serveOut, Err: h.serveOut}}
	root := a.rootCommand()
	root.SetArgs(append([]string{"--site", h.site, "serve"}, args...))
	root.SetOut(h.serveOut)
	root.SetErr(h.serveOut)
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	stop := func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Logf("serve: %v", err)
			}
		case <-time.After(time.Minute):
			t.Error("serve did not stop within a minute")
		}
		if a.engine != nil {
			a.engine.Close()
		}
	}
	t.Cleanup(func() {
		select {
		case <-ctx.Done():
		default:
			stop()
		}
	})
	return stop
}

func (h *harness) serveLog() string {
	if h.serveOut == nil {
		return ""
	}
	return h.serveOut.String()
}

// metrics scrapes serve's /metrics, waiting for it to answer.
func (h *harness) metrics(t *testing.T, addr string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get("http://" + addr + "/metrics")
		if err == nil {
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return string(body)
			}
			err = fmt.Errorf("%s", res.Status)
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve's /metrics: %v", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func grepText(s, word string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, word) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
