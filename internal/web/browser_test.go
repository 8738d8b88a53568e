package web

import (
	"context"
	"flag"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/dockerbank/dockerbank/internal/engine"
	"github.com/dockerbank/dockerbank/internal/instance/label"
	"github.com/dockerbank/dockerbank/internal/observe"
	"github.com/dockerbank/dockerbank/internal/site"
	"github.com/dockerbank/dockerbank/internal/testenv"
)

var screenshots = flag.String("screenshots", "", "save the browser test's screenshots in this directory (e.g. ../../docs/screenshots)")

// engineActions restarts an instance's containers on the engine and
// journals it, as the deploy job does for serve.
type engineActions struct {
	e *engine.Engine
	s *site.Site
}

func (a *engineActions) Restart(ctx context.Context, instance, who string) error {
	cs, err := a.e.Containers(ctx, map[string]string{label.Instance: instance})
	if err != nil {
		return err
	}
	for _, c := range cs {
		if err := a.e.RestartContainer(ctx, c.ID, 5); err != nil {
			return err
		}
	}
	return a.s.Append(site.Record{Command: "dockerbank serve: restart " + instance + " (dashboard user " + who + ")", Instance: instance, Outcome: "ok", Detail: "restarted"})
}

func startedAt(t *testing.T, id string) string {
	out, err := exec.Command("docker", "inspect", "-f", "{{.State.StartedAt}}", id).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// TestBrowser drives the dashboard in headless Chromium against real
// containers: login is required, the dashboard lists the instances, the
// restart action restarts them, and a POST without CSRF token gets 403.
func TestBrowser(t *testing.T) {
	e, err := engine.Connect(t.Context(), engine.Options{})
	if err != nil {
		testenv.Missing(t, "no engine: %v", err)
	}
	defer e.Close()
	b := startBrowser(t)

	s, err := site.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	in := "wt-br-" + strings.ToLower(now.Format("150405"))
	for _, name := range []string{in, in + "-b"} {
		if err := s.Save(&site.Instance{Name: name, Entry: "demo", Version: "2.0", State: site.StateUp, Created: now, Changed: now}); err != nil {
			t.Fatal(err)
		}
	}
	var ids []string
	for _, svc := range []string{"app", "db"} {
		role := map[string]string{"app": "app", "db": "database"}[svc]
		out, err := exec.Command("docker", "run", "-d", "--name", in+"-"+svc,
			"--label", label.Instance+"="+in, "--label", "com.docker.compose.service="+svc, "--label", label.Role+"="+role,
			"dockerbank/busybox:1.36", "sh", "-c", `trap 'exit 0' TERM; while :; do head -c 200000 /dev/urandom > /dev/null; sleep 0.2; done`).CombinedOutput()
		if err != nil {
			testenv.Missing(t, "docker run: %v: %s (run scripts/images.sh)", err, out)
		}
		id := strings.TrimSpace(string(out))
		ids = append(ids, id)
		t.Cleanup(func() { exec.Command("docker", "rm", "-f", id).Run() })
	}
	// What the protect and audit jobs record: a backup of 50 MiB in 12 s
	// and a failed drill; the images audited by the serve auditor.
	rec, _ := s.Instance(in)
	rec.LastBackup, rec.LastBackupBytes, rec.LastBackupSeconds = now, 50<<20, 12
	if err := s.Save(rec); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveDrill(in, site.Drill{Time: now, OK: false, Detail: "table records differs"}); err != nil {
		t.Fatal(err)
	}
	aud := &observe.Auditor{Saver: e}
	aud.AuditDue(t.Context(), []string{"dockerbank/busybox:1.36"})
	col := &observe.Collector{Engine: e, Site: s, Audit: aud}
	// A second engine that does not answer shows as down.
	remote := &observe.Collector{Name: "remote", Connect: func(context.Context) (*engine.Engine, error) {
		return nil, engine.ErrUnreachable
	}}
	remote.Refresh(t.Context())
	if e.IsLocal() {
		col.Cgroup = observe.HostCgroup()
	}
	for i := 0; i < 12; i++ { // some history for the charts
		if err := col.Refresh(t.Context()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(150 * time.Millisecond)
	}
	if err := SetPassword(s, testPassword); err != nil {
		t.Fatal(err)
	}
	ev := &observe.Evaluator{}
	ev.Eval(t.Context(), col.Snapshot())
	srv := &Server{Site: s, Collector: col, Engines: []*observe.Collector{remote}, Registry: observe.Registry(col), Auth: &Auth{Site: s}, Actions: &engineActions{e, s}, Alerts: ev}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	shots := *screenshots

	t.Run("login required", func(t *testing.T) {
		b.t = t
		b.navigate(ts.URL + "/")
		b.waitFor("the login page", `location.pathname === '/login' && document.getElementById('password')`)
		if got := b.eval(`document.querySelectorAll('table').length`); got != 0.0 {
			t.Errorf("login page shows %v tables", got)
		}
		b.screenshot(shots, "login.png")
	})
	t.Run("wrong password stays out", func(t *testing.T) {
		b.t = t
		b.eval(`document.getElementById('password').value = 'not the password'; document.getElementById('login').submit(); true`)
		b.waitFor("the error", `location.search.includes('error=1') && document.body.innerText.includes('Wrong password')`)
	})
	t.Run("dashboard lists the instances", func(t *testing.T) {
		b.t = t
		b.eval(`document.getElementById('password').value = ` + jsString(testPassword) + `; document.getElementById('login').submit(); true`)
		b.waitFor("the dashboard", `location.pathname === '/' && document.getElementById('instances')`)
		rows := b.eval(`[...document.querySelectorAll('#instances tbody tr')].map(r => r.dataset.instance).join(',')`)
		if rows != in+","+in+"-b" {
			t.Errorf("dashboard rows = %v, want %s,%s-b", rows, in, in)
		}
		row := b.eval(`document.querySelector('tr[data-instance="` + in + `"]').innerText`).(string)
		for _, want := range []string{"running", "app", "db", "MiB"} {
			if !strings.Contains(row, want) && !strings.Contains(row, "KiB") {
				t.Errorf("row lacks %q: %s", want, row)
			}
		}
		if h := b.eval(`document.querySelector('tr[data-instance="` + in + `-b"] .badge').innerText`); h != "missing" {
			t.Errorf("instance without containers shows %v, want missing", h)
		}
		for sel, want := range map[string]string{
			".backup":   "50.0 MiB in 12 s",
			".drill":    "failed",
			".findings": "dockerbank/busybox:1.36",
		} {
			if got := b.eval(`document.querySelector('tr[data-instance="` + in + `"] ` + sel + `').innerText`).(string); !strings.Contains(got, want) {
				t.Errorf("%s cell = %q, want it to contain %q", sel, got, want)
			}
		}
		if got := b.eval(`document.querySelector('.alerts').innerText`).(string); !strings.Contains(got, "RestoreDrillFailed") {
			t.Errorf("alerts banner = %q, want RestoreDrillFailed", got)
		}
		engines := b.eval(`[...document.querySelectorAll('section.engine')].map(s => s.dataset.engine + ':' + s.querySelector('.badge').innerText).join(',')`)
		if engines != "local:up,remote:down" {
			t.Errorf("engines = %v, want local:up,remote:down", engines)
		}
		b.screenshot(shots, "dashboard.png")
	})
	t.Run("restart action works", func(t *testing.T) {
		b.t = t
		before := startedAt(t, ids[0])
		b.eval(`document.querySelector('tr[data-instance="` + in + `"] button.restart').click(); true`)
		b.waitFor("the instance page after the restart", `location.pathname === '/instances/`+in+`' && document.querySelector('.flash') && document.querySelector('.flash').innerText.includes('restarted')`)
		if after := startedAt(t, ids[0]); after == before {
			t.Errorf("container not restarted: started at %s before and after", after)
		}
		if c := b.eval(`[...document.querySelectorAll('table')[0].rows].slice(1).map(r => r.cells[5].innerText).join(',')`); c != "1,1" {
			t.Errorf("restarts column = %v, want 1,1", c)
		}
		if got := b.eval(`document.body.innerText.includes('dashboard user admin')`); got != true {
			t.Errorf("the journal on the instance page does not show the restart")
		}
		if n := b.eval(`document.querySelectorAll('svg.chart polyline').length`); n.(float64) < 2 {
			t.Errorf("%v charts drawn, want the CPU and memory charts", n)
		}
		b.screenshot(shots, "instance.png")
	})
	t.Run("POST without CSRF token is refused", func(t *testing.T) {
		b.t = t
		before := startedAt(t, ids[0])
		// A form as another page would post it: same session cookie, no token.
		b.eval(`(() => { const f = document.createElement('form'); f.method = 'post'; f.action = '/instances/` + in + `/restart'; document.body.appendChild(f); f.submit(); return true })()`)
		b.waitFor("the refusal", `document.body.innerText.includes('CSRF')`)
		if status := b.eval(`performance.getEntriesByType('navigation')[0].responseStatus`); status != 403.0 {
			t.Errorf("status %v, want 403", status)
		}
		if after := startedAt(t, ids[0]); after != before {
			t.Errorf("the container restarted without a CSRF token")
		}
	})
	t.Run("journal", func(t *testing.T) {
		b.t = t
		b.navigate(ts.URL + "/journal")
		b.waitFor("the journal", `document.getElementById('journal') && document.body.innerText.includes('serve login')`)
		b.screenshot(shots, "journal.png")
	})
}
