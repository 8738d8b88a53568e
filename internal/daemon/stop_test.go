package daemon

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dockerbank/dockerbank/internal/backup"
	"github.com/dockerbank/dockerbank/internal/site"
	"github.com/dockerbank/dockerbank/internal/testenv"
)

// TestServeStopsCleanlyDuringScheduledBackup sends SIGTERM to a real
// `dockerbank serve` process while its scheduler's backup of a demo
// instance holds the instance's app container stopped for the capture.
// The process must exit 0 within a bounded time, every container of the
// instance must run afterwards, and the backup group must be complete
// (the backup finished within --stop-grace) or not listed as complete
// (it was cancelled; its containers were started again). The healer runs
// too (it must not act on the quiesced container, and is joined at stop).
func TestServeStopsCleanlyDuringScheduledBackup(t *testing.T) {
	if testing.Short() {
		t.Skip("real engine and a real serve process; skipped with -short")
	}
	testenv.RequireImages(t, "dockerbank/postgres:15", "dockerbank/demo-app:2.0", backup.HelperImage)
	testenv.RequireCommand(t, "restic")
	bin := buildDockerbank(t)

	// The demo entry, with its file volume captured under quiesce: stop,
	// so that the scheduled backup stops the app container.
	bankDir := t.TempDir()
	copyDir(t, filepath.Join(testenv.RepoRoot(t), "bank", "entries", "demo"), filepath.Join(bankDir, "demo"))
	composePath := filepath.Join(bankDir, "demo", "compose.yaml")
	compose, err := os.ReadFile(composePath)
	if err != nil {
		t.Fatal(err)
	}
	stopFiles := strings.Replace(string(compose), "x-dockerbank: {class: userdata, backup: files, quiesce: none}",
		"x-dockerbank: {class: userdata, backup: files, quiesce: stop}", 1)
	if stopFiles == string(compose) {
		t.Fatal("the demo compose file no longer declares its files volume as expected; update this test")
	}
	if err := os.WriteFile(composePath, []byte(stopFiles), 0o644); err != nil {
		t.Fatal(err)
	}

	sd := t.TempDir()
	env := append(os.Environ(), "DOCKERBANK_HOME="+sd, "DOCKERBANK_BANKS="+bankDir)
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("dockerbank %s: %v\n%s", strings.Join(args, " "), err, errb.String())
		}
		return out.String()
	}
	name := "stop-" + strings.ToLower(rand.Text()[:6])
	t.Cleanup(func() {
		cmd := exec.Command(bin, "rm", name, "--purge-data", "--confirm", name, "--force", "-q")
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Logf("rm %s: %v: %s", name, err, out)
		}
	})
	start := time.Now()
	run("deploy", "demo", "--name", name, "-q")
	t.Logf("deploy took %.1fs", time.Since(start).Seconds())

	// Enough data that the capture (and so the quiesce) lasts seconds.
	app := containerOf(t, name, "app")
	if out, err := exec.Command("docker", "exec", app, "dd", "if=/dev/urandom", "of=/data/bulk", "bs=1M", "count=150").CombinedOutput(); err != nil {
		t.Fatalf("fill the file volume: %v: %s", err, out)
	}

	s, err := site.Open(sd)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		grace string
		// complete: the backup must finish (true) or be cancelled (false).
		complete bool
	}{
		{"cancelled at once", "0s", false},
		{"finished within the grace", "3m", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// The entry's daily backup is due: the instance was created
			// long before its last 02:00 and has no backup yet.
			in, err := s.Instance(name)
			if err != nil {
				t.Fatal(err)
			}
			in.Created, in.LastBackup = time.Now().Add(-8*24*time.Hour), time.Time{}
			if err := s.Save(in); err != nil {
				t.Fatal(err)
			}
			before := len(journal(t, s))
			serve := exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--audit-every", "0",
				"--interval", "1h", "--schedule-check", "1s", "--stop-grace", tt.grace)
			serve.Env = env
			var out syncBuffer
			serve.Stdout, serve.Stderr = &out, &out
			if err := serve.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- serve.Wait() }()
			t.Cleanup(func() {
				if serve.ProcessState == nil {
					serve.Process.Kill()
					<-exited
				}
			})

			// Wait until the backup has stopped the app container.
			var quiesced site.Record
			deadline := time.Now().Add(4 * time.Minute)
			for quiesced.Op == "" {
				for _, r := range journal(t, s)[before:] {
					if r.Instance == name && r.Outcome == backup.OutcomeStop {
						quiesced = r
					}
				}
				if time.Now().After(deadline) {
					t.Fatalf("no backup stopped a container of %s within 4m; serve:\n%s", name, out.String())
				}
				select {
				case err := <-exited:
					t.Fatalf("serve ended early: %v\n%s", err, out.String())
				case <-time.After(100 * time.Millisecond):
				}
			}
			if state := containerState(t, app); state == "running" {
				t.Logf("app container still %s when the quiesce record appeared", state)
			}
			sent := time.Now()
			if err := serve.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			const bound = 4 * time.Minute
			select {
			case err := <-exited:
				if err != nil {
					t.Fatalf("serve exited with %v after SIGTERM; want 0\n%s", err, out.String())
				}
			case <-time.After(bound):
				t.Fatalf("serve did not exit within %s of SIGTERM\n%s", bound, out.String())
			}
			t.Logf("serve exited 0 %.1fs after SIGTERM (stop grace %s)", time.Since(sent).Seconds(), tt.grace)

			// Every container of the instance runs.
			for _, id := range containersOf(t, name) {
				if st := containerState(t, id); st != "running" {
					t.Errorf("container %s of %s is %s after serve stopped", id, name, st)
				}
			}
			if p, err := backup.Pending(s); err != nil || len(p) > 0 {
				t.Errorf("quiesce records without a resumed record: %+v, %v", p, err)
			}

			// The group is complete, or not listed as complete.
			outcome := ""
			for _, r := range journal(t, s)[before:] {
				if r.Op == quiesced.Op && (r.Outcome == "ok" || r.Outcome == "failed") {
					outcome = r.Outcome
				}
			}
			var groups []backup.Group
			if err := json.Unmarshal([]byte(run("snapshots", name, "--json")), &groups); err != nil {
				t.Fatal(err)
			}
			listed := map[string]bool{}
			for _, g := range groups {
				if g.ID == quiesced.Op {
					listed[g.State] = true
					if g.Complete != (outcome == "ok") {
						t.Errorf("group %s listed with complete=%v, but its backup's outcome is %q", g.ID, g.Complete, outcome)
					}
				}
			}
			t.Logf("group %s: backup outcome %q, listed %v", quiesced.Op, outcome, listed)
			switch {
			case tt.complete && (outcome != "ok" || !listed[backup.StateComplete]):
				t.Errorf("the backup did not finish within --stop-grace %s: outcome %q, listed %v\n%s", tt.grace, outcome, listed, out.String())
			case !tt.complete && outcome != "failed":
				t.Errorf("the backup was not cancelled with --stop-grace %s: outcome %q\n%s", tt.grace, outcome, out.String())
			}
			// The scheduler journals a cancelled backup as interrupted
			// (run again at the next start), a finished one as ok.
			want := OutcomeInterrupted
			if tt.complete {
				want = "ok"
			}
			var sched []string
			for _, r := range journal(t, s)[before:] {
				if r.Command == SchedulerCommand && r.Instance == name {
					sched = append(sched, r.Outcome+": "+r.Detail)
				}
			}
			if len(sched) == 0 || !strings.HasPrefix(sched[0], want+": backup") {
				t.Errorf("scheduler records %q; want the first to be %s", sched, want)
			}
		})
	}
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func buildDockerbank(t *testing.T) string {
	t.Helper()
	root := testenv.RepoRoot(t)
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "daemon-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "dockerbank")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/dockerbank")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build dockerbank: %v: %s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return os.WriteFile(dst, data, info.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
}

func journal(t *testing.T, s *site.Site) []site.Record {
	t.Helper()
	recs, err := s.Journal()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func containersOf(t *testing.T, project string) []string {
	t.Helper()
	out, err := exec.Command("docker", "ps", "-aq", "--filter", "label=com.docker.compose.project="+project).Output()
	if err != nil {
		t.Fatal(err)
	}
	ids := strings.Fields(string(out))
	if len(ids) == 0 {
		t.Fatalf("no containers of %s", project)
	}
	return ids
}

func containerOf(t *testing.T, project, service string) string {
	t.Helper()
	out, err := exec.Command("docker", "ps", "-aq", "--filter", "label=com.docker.compose.project="+project,
		"--filter", "label=com.docker.compose.service="+service).Output()
	if err != nil {
		t.Fatal(err)
	}
	ids := strings.Fields(string(out))
	if len(ids) != 1 {
		t.Fatalf("containers of %s/%s: %q", project, service, ids)
	}
	return ids[0]
}

func containerState(t *testing.T, id string) string {
	t.Helper()
	out, err := exec.Command("docker", "inspect", "--format", "{{.State.Status}}", id).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// syncBuffer is a bytes.Buffer safe for the writes of a process and the
// reads of the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
