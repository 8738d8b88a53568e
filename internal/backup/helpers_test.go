package backup_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dockerbank/dockerbank/internal/testenv"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// needEngine skips (or, with CI=true, fails) a test without a Docker
// engine or restic.
func needEngine(t *testing.T) {
	t.Helper()
	testenv.RequireEngine(t)
	testenv.RequireCommand(t, "restic")
	testenv.RequireRoot(t, "the round-trip tests read volume mountpoints")
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "bk-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "dockerbank")
		// crashtest: the crash tests kill it at named points (crash_hook.go).
		out, err := exec.Command("go", "build", "-tags", "crashtest", "-o", binPath, "github.com/dockerbank/dockerbank/cmd/dockerbank").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("build dockerbank: %v: %s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
}

// uniq makes an instance name unique per test run, so that runs on a
// shared engine (several worktrees, CI) do not clash.
func uniq(name string) string {
	return fmt.Sprintf("%s-%04x", name, uint16(os.Getpid()^int(time.Now().UnixNano())))
}

// site is one test site directory with its own instances.
type siteDir struct {
	t   *testing.T
	dir string
	env []string
}

func newSite(t *testing.T) *siteDir {
	dir := t.TempDir()
	bankDir, _ := filepath.Abs("testdata/bank")
	return &siteDir{t: t, dir: dir, env: []string{"DOCKERBANK_HOME=" + dir, "DOCKERBANK_BANKS=" + bankDir}}
}

type result struct {
	out, err string
	code     int
	signal   syscall.Signal
}

// run runs dockerbank in the site.
func (s *siteDir) run(extraEnv []string, args ...string) result {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Env = append(append(os.Environ(), s.env...), extraEnv...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{out: out.String(), err: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
		if st, ok := ee.Sys().(syscall.WaitStatus); ok && st.Signaled() {
			r.signal = st.Signal()
		}
	} else if err != nil {
		s.t.Fatalf("run dockerbank %v: %v", args, err)
	}
	return r
}

// must runs dockerbank and fails the test when it fails.
func (s *siteDir) must(args ...string) string {
	s.t.Helper()
	r := s.run(nil, args...)
	if r.code != 0 {
		s.t.Fatalf("dockerbank %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.out, tail(r.err, 3000))
	}
	return r.out
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// deploy deploys an instance and removes it (with its data) at the end.
func (s *siteDir) deploy(entry, name string, set ...string) {
	s.t.Helper()
	args := []string{"deploy", entry, "--name", name, "-q"}
	for _, kv := range set {
		args = append(args, "--set", kv)
	}
	s.t.Cleanup(func() { s.remove(name) })
	s.must(args...)
}

func (s *siteDir) remove(name string) {
	s.run(nil, "rm", name, "--purge-data", "--confirm", name, "--force", "-q")
}

func docker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func mountpoint(t *testing.T, volume string) string {
	return docker(t, "volume", "inspect", "--format", "{{.Mountpoint}}", volume)
}

// entry is what a user cares about of one file after a restore.
type entry struct {
	Type   string
	Mode   fs.FileMode
	UID    uint32
	GID    uint32
	MTime  int64
	Size   int64
	SHA256 string
	Link   string
	Xattrs string
}

// tree records every entry below root (root itself as ".").
func tree(t *testing.T, root string, xattrs bool) map[string]entry {
	t.Helper()
	out := map[string]entry{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		e := entry{Mode: fi.Mode(), UID: st.Uid, GID: st.Gid, MTime: fi.ModTime().UnixNano()}
		switch {
		case fi.Mode().IsRegular():
			e.Type, e.Size = "file", fi.Size()
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			h := sha256.New()
			io.Copy(h, f)
			f.Close()
			e.SHA256 = hex.EncodeToString(h.Sum(nil))
		case fi.IsDir():
			e.Type = "dir"
			e.MTime = 0 // directories change when the restore fills them
		case fi.Mode()&fs.ModeSymlink != 0:
			e.Type = "symlink"
			e.Link, _ = os.Readlink(p)
			e.MTime = 0
		default:
			e.Type = "other"
		}
		if xattrs && fi.Mode()&fs.ModeSymlink == 0 {
			buf := make([]byte, 4096)
			if n, err := syscall.Listxattr(p, buf); err == nil && n > 0 {
				var parts []string
				for _, name := range strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00") {
					v := make([]byte, 4096)
					m, _ := syscall.Getxattr(p, name, v)
					if m >= 0 {
						parts = append(parts, name+"="+string(v[:m]))
					}
				}
				e.Xattrs = strings.Join(parts, ";")
			}
		}
		out[filepath.ToSlash(rel)] = e
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// groups reads `snapshots --json`.
func (s *siteDir) groups(name string) []map[string]any {
	s.t.Helper()
	var gs []map[string]any
	out := s.must("snapshots", name, "--json")
	if err := json.Unmarshal([]byte(out), &gs); err != nil {
		s.t.Fatalf("snapshots --json: %v: %s", err, out)
	}
	return gs
}

// containerStates maps container names of an instance to their state.
func containerStates(t *testing.T, instance string) map[string]string {
	out := docker(t, "ps", "-a", "--filter", "label=com.docker.compose.project="+instance, "--format", "{{.Names}} {{.State}}")
	m := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if n, st, ok := strings.Cut(l, " "); ok {
			m[n] = st
		}
	}
	return m
}
