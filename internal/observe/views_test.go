package observe

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dockerbank/dockerbank/internal/engine"
	"github.com/dockerbank/dockerbank/internal/instance/label"
	"github.com/dockerbank/dockerbank/internal/site"
)

// The debug views on real containers: logs multiplexed and prefixed with
// secrets redacted and grep applied; inspect with secrets redacted and
// volume classes; exec with its exit code.
func TestDebugViews(t *testing.T) {
	e := connect(t)
	ctx := t.Context()
	s, err := site.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	in := testInstance(t)
	now := time.Now().UTC()
	if err := s.Save(&site.Instance{Name: in, Entry: "demo", Version: "2.0", State: site.StateUp, Created: now, Changed: now}); err != nil {
		t.Fatal(err)
	}
	secret, err := s.Secret(in, "db_password", 24)
	if err != nil {
		t.Fatal(err)
	}
	vol := in + "_data"
	docker(t, "volume", "create", "--label", label.Instance+"="+in, "--label", label.Class+"=userdata", "--label", label.Backup+"=files", vol)
	t.Cleanup(func() { docker(t, "volume", "rm", "-f", vol) })
	script := `echo "hello from $SVC"; echo "connecting with $DB_PASSWORD" >&2; echo "done $SVC"; sleep 600`
	run(t, in, "db", script, "-e", "SVC=db", "-e", "DB_PASSWORD="+secret, "-v", vol+":/data")
	run(t, in, "app", script, "-e", "SVC=app", "-e", "DB_PASSWORD="+secret, "-e", "DATABASE_URL=postgres://app:"+secret+"@db/app", "-e", "TZ=UTC")
	cs, err := Containers(ctx, e, s, in, "")
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "both containers to log", func() bool {
		var b bytes.Buffer
		Logs(ctx, e, cs, LogsOptions{}, &b)
		return strings.Count(b.String(), "done") == 2
	})

	t.Run("logs", func(t *testing.T) {
		var b bytes.Buffer
		if err := Logs(ctx, e, cs, LogsOptions{Secrets: map[string]string{"db_password": secret}}, &b); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		for _, want := range []string{"app | hello from app", "db  | hello from db", "db  | connecting with [redacted]"} {
			if !strings.Contains(out, want) {
				t.Errorf("logs lack %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, secret) {
			t.Errorf("logs show the secret:\n%s", out)
		}
		b.Reset()
		Logs(ctx, e, cs, LogsOptions{Grep: regexp.MustCompile(`^hello`)}, &b)
		if got := strings.Count(b.String(), "\n"); got != 2 {
			t.Errorf("grep kept %d lines, want 2:\n%s", got, b.String())
		}
	})
	t.Run("inspect", func(t *testing.T) {
		views, err := Inspect(ctx, e, s, in, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(views) != 2 {
			t.Fatalf("%d views, want 2", len(views))
		}
		app, db := views[0], views[1]
		env := strings.Join(app.Env, "\n")
		for _, want := range []string{"DB_PASSWORD=[redacted]", "DATABASE_URL=[redacted]", "TZ=UTC", "SVC=app"} {
			if !strings.Contains(env, want) {
				t.Errorf("app env lacks %q:\n%s", want, env)
			}
		}
		if strings.Contains(env, secret) {
			t.Errorf("inspect shows the secret")
		}
		var found bool
		for _, m := range db.Mounts {
			if m.Name == vol {
				found = true
				if m.Class != "userdata" || m.Backup != "files" || m.Destination != "/data" {
					t.Errorf("mount %+v, want class userdata backup files at /data", m)
				}
			}
		}
		if !found {
			t.Errorf("db mounts %+v lack %s", db.Mounts, vol)
		}
	})
	t.Run("exec", func(t *testing.T) {
		c, err := One(ctx, e, s, in, "app")
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		code, err := e.ExecSession(ctx, c.ID, []string{"sh", "-c", "echo $SVC; exit 3"}, engine.SessionOptions{Stdout: &out})
		if err != nil {
			t.Fatal(err)
		}
		if code != 3 || strings.TrimSpace(out.String()) != "app" {
			t.Errorf("exec: code %d output %q, want 3 and app", code, out.String())
		}
		if _, err := One(ctx, e, s, in, "nope"); err == nil {
			t.Errorf("no error for a missing service")
		}
	})
	t.Run("top", func(t *testing.T) {
		p, err := e.Top(ctx, cs[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(strings.Join(p.Titles, " "), "PID") || len(p.Rows) == 0 {
			t.Errorf("top: %+v", p)
		}
	})
}
