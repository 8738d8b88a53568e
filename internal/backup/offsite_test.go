package backup_test

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"

	"github.com/dockerbank/dockerbank/internal/backup"
	"github.com/dockerbank/dockerbank/internal/site"
	"github.com/dockerbank/dockerbank/internal/testenv"
)

// useCopy writes site.yaml with one off-site copy named offsite on rm.
func (s *siteDir) useCopy(rm remote, pass string, limitUpload int) {
	s.t.Helper()
	acc := rm.access
	acc.LimitUpload = limitUpload
	c := site.Config{APIVersion: "dockerbank/v1"}
	c.Backup.Copies = []site.CopyConfig{{Name: "offsite", Repository: rm.url, PasswordFile: pass, Access: acc}}
	data, err := yaml.Marshal(c)
	if err != nil {
		s.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.dir, "site.yaml"), data, 0o600); err != nil {
		s.t.Fatal(err)
	}
}

// copyRecords reads `snapshots NAME --json`'s copies per group.
func (s *siteDir) copyRecords(name string, extra ...string) map[string][]site.CopyRecord {
	s.t.Helper()
	var gs []struct {
		ID       string            `json:"id"`
		Complete bool              `json:"complete"`
		Copies   []site.CopyRecord `json:"copies"`
	}
	out := s.must(append([]string{"snapshots", name, "--json"}, extra...)...)
	if err := json.Unmarshal([]byte(out), &gs); err != nil {
		s.t.Fatalf("snapshots --json: %v: %s", err, out)
	}
	m := map[string][]site.CopyRecord{}
	for _, g := range gs {
		if g.Complete {
			m[g.ID] = g.Copies
		}
	}
	return m
}

// secretsOf lists the secret values of a remote's access and a password.
func secretsOf(t *testing.T, rm remote, pass string) []string {
	var out []string
	data, _ := os.ReadFile(pass)
	out = append(out, strings.TrimSpace(string(data)))
	if rm.access.CredentialsFile != "" {
		data, _ := os.ReadFile(rm.access.CredentialsFile)
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, "="); ok && (strings.Contains(k, "SECRET") || strings.Contains(k, "PASSWORD")) {
				out = append(out, v)
			}
		}
	}
	return out
}

// TestOffsiteCopy copies the demo instance's groups to a real SFTP, REST
// and S3 server, applies retention there, loses the primary repository,
// and restores from the copy with every file and record identical. No
// secret appears in any output, the journal or the site.
func TestOffsiteCopy(t *testing.T) {
	needEngine(t)
	for _, kind := range remoteKinds {
		t.Run(kind, func(t *testing.T) {
			rm := startRemote(t, kind)
			s := newSite(t)
			pass := passwordFile(t)
			s.useCopy(rm, pass, 0)
			src := uniq("bk-off-" + kind)
			s.deploy("demo", src, "DEMO_INTERVAL=3600")
			srcFiles := mountpoint(t, src+"_files")
			fillVolume(t, srcFiles)
			var outputs []string
			out := s.must("backup", src, "--json")
			outputs = append(outputs, out)
			var res []struct {
				Group  string `json:"group"`
				Copies []struct {
					Copy     string   `json:"copy"`
					Groups   []string `json:"groups"`
					Verified bool     `json:"verified"`
					Error    string   `json:"error"`
				} `json:"copies"`
			}
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatalf("backup --json: %v: %s", err, out)
			}
			if len(res) != 1 || len(res[0].Copies) != 1 || !res[0].Copies[0].Verified || len(res[0].Copies[0].Groups) != 1 {
				t.Fatalf("backup did not copy and verify its group: %s", out)
			}
			first := res[0].Group
			if recs := s.copyRecords(src)[first]; len(recs) != 1 || recs[0].Copy != "offsite" || recs[0].Verified.IsZero() {
				t.Fatalf("snapshots shows for %s: %+v, want a verified copy on offsite", first, recs)
			}
			outputs = append(outputs, s.must("snapshots", src))

			// A second group, then retention on both repositories: the
			// copy keeps only the newest, verified one.
			if err := os.WriteFile(filepath.Join(srcFiles, "changed.txt"), []byte("second"), 0o644); err != nil {
				t.Fatal(err)
			}
			outputs = append(outputs, s.must("backup", src))
			want := tree(t, srcFiles, true)
			maxID := docker(t, "exec", src+"-db-1", "psql", "-U", "demo", "-tAc", "select max(id) from records")
			rows := func(ctr string) string {
				return docker(t, "exec", ctr, "psql", "-U", "demo", "-tAc",
					"select count(*) || ' ' || md5(string_agg(t::text, '|' order by id)) from records t where id <= "+maxID)
			}
			wantRows := rows(src + "-db-1")
			outputs = append(outputs, s.must("forget", src, "--keep-daily", "1", "--keep-weekly", "0", "--keep-monthly", "0", "--json"))
			onCopy := s.copyRecords(src, "--from", "offsite")
			if len(onCopy) != 1 {
				t.Fatalf("after forget the copy holds %d groups, want 1: %v", len(onCopy), onCopy)
			}
			for g := range onCopy {
				if g == first {
					t.Fatalf("forget kept the older group %s on the copy", g)
				}
			}
			outputs = append(outputs, s.must("verify", src, "--from", "offsite", "--no-drill"))

			// The host's repository is lost: restore from the copy.
			if err := os.RemoveAll(filepath.Join(s.dir, "backups")); err != nil {
				t.Fatal(err)
			}
			cp := src + "-back"
			t.Cleanup(func() { s.remove(cp) })
			outputs = append(outputs, s.must("restore", src, "--as", cp, "--from", "offsite"))
			got := tree(t, mountpoint(t, cp+"_files"), true)
			for p := range got {
				if _, ok := want[p]; !ok && strings.HasPrefix(p, "files/record-") {
					delete(got, p) // written by the restored app after its start
				}
			}
			for _, m := range []map[string]entry{want, got} {
				e := m["files"]
				e.MTime = 0
				m["files"] = e
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("files restored from the %s copy differ:\n%s", kind, diff)
			}
			if got := rows(cp + "-db-1"); got != wantRows {
				t.Errorf("records restored from the %s copy: %s, want %s", kind, got, wantRows)
			}

			// No secret in any output, the journal, or any site file.
			journal, _ := os.ReadFile(filepath.Join(s.dir, "journal.jsonl"))
			outputs = append(outputs, string(journal))
			filepath.Walk(s.dir, func(p string, fi os.FileInfo, err error) error {
				if err == nil && fi.Mode().IsRegular() && fi.Size() < 1<<20 && !strings.Contains(p, "/cache/") {
					data, _ := os.ReadFile(p)
					outputs = append(outputs, p+"\n"+string(data))
				}
				return nil
			})
			for _, sec := range secretsOf(t, rm, pass) {
				for _, o := range outputs {
					if strings.Contains(o, sec) {
						t.Errorf("a secret of the %s copy appears in:\n%s", kind, tail(o, 2000))
					}
				}
			}
		})
	}
}

// randomFiles writes n MiB of random data into dir.
func randomFiles(t *testing.T, dir string, n int) {
	t.Helper()
	buf := make([]byte, 1<<20)
	for i := 0; i < n; i++ {
		rand.Read(buf)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("blob-%03d.bin", i)), buf, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestOffsiteFaults cuts copies the way real ones fail: the server killed
// in the middle of a copy, and the server's disk full. Each gives a clear
// error in bounded time, no group is shown copied that is not, the next
// run resumes, and restic check on the copy passes.
func TestOffsiteFaults(t *testing.T) {
	needEngine(t)
	t.Run("server-killed", func(t *testing.T) {
		for _, kind := range []string{"rest", "sftp"} {
			t.Run(kind, func(t *testing.T) {
				rm := startRemote(t, kind)
				s := newSite(t)
				s.useCopy(rm, passwordFile(t), 2048)
				src := uniq("bk-kill-" + kind)
				s.deploy("demo", src, "DEMO_INTERVAL=3600")
				randomFiles(t, mountpoint(t, src+"_files"), 48)
				s.must("backup", src, "--no-copy")
				done := make(chan result, 1)
				start := time.Now()
				go func() { done <- s.run(nil, "backup", "copy", src) }()
				waitFor(t, "the copy to upload data", func() bool { return countFiles(filepath.Join(rm.repoDir, "data")) > 0 })
				rm.server.Kill()
				var r result
				select {
				case r = <-done:
				case <-time.After(4 * time.Minute):
					t.Fatal("copy to a killed server still runs after 4 min")
				}
				t.Logf("copy to a killed %s server ended after %s, exit %d: %s", kind, time.Since(start).Round(time.Second), r.code, tail(r.err, 600))
				if r.code == 0 {
					t.Fatalf("copy to a killed server succeeded: %s", r.out)
				}
				if !strings.Contains(r.err, "offsite") {
					t.Errorf("the error does not name the copy: %s", r.err)
				}
				for g, recs := range s.copyRecords(src) {
					for _, rec := range recs {
						if !rec.Verified.IsZero() {
							t.Errorf("group %s shown verified on %s after a cut copy", g, rec.Copy)
						}
					}
				}
				rm.server.Start()
				if r := s.run(nil, "backup", "copy", src); r.code != 0 {
					// A server that writes files in place (rclone serve
					// restic) killed while writing a snapshot file leaves it
					// damaged, and restic 0.14 cannot remove it: the error
					// must name it, and deleting it on the server, as it
					// says, lets the copy run again.
					m := regexp.MustCompile(`delete snapshots/([0-9a-f]+)\* on the server`).FindStringSubmatch(r.err)
					if kind != "rest" || m == nil {
						t.Fatalf("the copy after the server came back failed: exit %d\n%s", r.code, r.err)
					}
					damaged, _ := filepath.Glob(filepath.Join(rm.repoDir, "snapshots", m[1]+"*"))
					if len(damaged) != 1 {
						t.Fatalf("the error names snapshot file %s, the server holds %q", m[1], damaged)
					}
					t.Logf("the killed server left snapshot file %s damaged; deleting it as the error says", filepath.Base(damaged[0]))
					if err := os.Remove(damaged[0]); err != nil {
						t.Fatal(err)
					}
					s.must("backup", "copy", src)
				}
				for g, recs := range s.copyRecords(src) {
					if len(recs) != 1 || recs[0].Verified.IsZero() {
						t.Errorf("after the resumed copy group %s: %+v, want verified on offsite", g, recs)
					}
				}
				s.must("verify", src, "--from", "offsite", "--no-drill", "--read-data-subset", "100%")
				if kind != "rest" {
					return
				}
				// The same damage on purpose, after the fact: a snapshot
				// file of the copy cut short on the server. verify names
				// it; once it is deleted as the error says, the next copy
				// and verify pass.
				snaps, _ := filepath.Glob(filepath.Join(rm.repoDir, "snapshots", "*"))
				if len(snaps) == 0 {
					t.Fatal("no snapshot files on the server")
				}
				if err := os.Truncate(snaps[0], 40); err != nil {
					t.Fatal(err)
				}
				r = s.run(nil, "verify", src, "--from", "offsite", "--no-drill")
				name := filepath.Base(snaps[0])
				if r.code == 0 || !strings.Contains(r.err, "delete snapshots/"+name[:10]+"* on the server") {
					t.Fatalf("verify of a copy with snapshot file %s cut short: exit %d\n%s", name, r.code, r.err)
				}
				if err := os.Remove(snaps[0]); err != nil {
					t.Fatal(err)
				}
				s.must("backup", "copy", src)
				s.must("verify", src, "--from", "offsite", "--no-drill")
			})
		}
	})
	t.Run("disk-full", func(t *testing.T) {
		if os.Geteuid() != 0 {
			testenv.Missing(t, "mounting a small tmpfs needs root")
		}
		root := filepath.Join(t.TempDir(), "small")
		if err := os.Mkdir(root, 0o700); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=12m,mode=0700", "tmpfs", root).CombinedOutput(); err != nil {
			t.Fatalf("mount tmpfs: %v: %s", err, out)
		}
		t.Cleanup(func() { syscall.Unmount(root, syscall.MNT_DETACH) })
		sftp := testenv.StartSFTP(t, root)
		rm := remote{name: "sftp", url: sftp.Repository("clinic"), access: site.Access{SSHConfigFile: sftp.ClientConfig, StallTimeout: "15s"}, server: sftp.Server, repoDir: filepath.Join(root, "clinic")}
		s := newSite(t)
		s.useCopy(rm, passwordFile(t), 0)
		src := uniq("bk-full")
		s.deploy("demo", src, "DEMO_INTERVAL=3600")
		randomFiles(t, mountpoint(t, src+"_files"), 24)
		s.must("backup", src, "--no-copy")
		start := time.Now()
		r := s.run(nil, "backup", "copy", src)
		t.Logf("copy to a full disk ended after %s, exit %d: %s", time.Since(start).Round(time.Second), r.code, tail(r.err, 600))
		if r.code == 0 {
			t.Fatalf("copy to a 12 MiB disk succeeded: %s", r.out)
		}
		// OpenSSH's sftp server answers a full disk with SSH_FX_FAILURE,
		// which restic retries: the stall ends the run and quotes restic's
		// last retry message. Whether restic has printed one before the
		// stall timeout depends on its backoff and the machine's load (a
		// CI run saw the stall first), so the stall's own message counts
		// as the clear, bounded error too.
		low := strings.ToLower(r.err)
		switch {
		case strings.Contains(low, "no space left"), strings.Contains(low, "failure"):
		case strings.Contains(low, "stopped answering"):
			t.Logf("the stall ended the copy before restic reported the full disk")
		default:
			t.Errorf("the error says neither that the disk is full nor that the copy stalled: %s", r.err)
		}
		for g, recs := range s.copyRecords(src) {
			for _, rec := range recs {
				if !rec.Verified.IsZero() {
					t.Errorf("group %s shown verified after a copy to a full disk", g)
				}
			}
		}
		if out, err := exec.Command("mount", "-o", "remount,size=256m", root).CombinedOutput(); err != nil {
			t.Fatalf("grow tmpfs: %v: %s", err, out)
		}
		s.must("backup", "copy", src)
		for g, recs := range s.copyRecords(src) {
			if len(recs) != 1 || recs[0].Verified.IsZero() {
				t.Errorf("after the resumed copy group %s: %+v, want verified", g, recs)
			}
		}
		s.must("verify", src, "--from", "offsite", "--no-drill", "--read-data-subset", "100%")
	})
}

func countFiles(dir string) int {
	n := 0
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n++
		}
		return nil
	})
	return n
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 3 min for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestOffsiteCopyRefusals runs `backup copy` where it must not go on: a
// copy whose password file holds the wrong password, and a copy locked by
// a restic of another host that died a minute ago. Each ends at once with
// an error that says what and what to do, records nothing as copied, and
// the next run copies once the cause is gone (the lock's lease ended). A
// half-written index file that a dead server kept is rebuilt. The traffic
// limits of site.yaml and of the command line reach restic.
func TestOffsiteCopyRefusals(t *testing.T) {
	needEngine(t)
	rm := startRemote(t, "rest")
	s := newSite(t)
	pass := passwordFile(t)
	s.useCopy(rm, pass, 444)
	// Every restic start is logged with its arguments.
	argLog := filepath.Join(t.TempDir(), "restic-args")
	wrapper := filepath.Join(t.TempDir(), "restic")
	if err := os.WriteFile(wrapper, []byte("#!/bin/sh\nprintf '%s\\n' \"$*\" >>"+argLog+"\nexec restic \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	logged := []string{"DOCKERBANK_RESTIC=" + wrapper}
	starts := func() []string {
		data, _ := os.ReadFile(argLog)
		os.Remove(argLog)
		return strings.Split(strings.TrimSpace(string(data)), "\n")
	}
	src := uniq("bk-refuse")
	s.deploy("demo", src, "DEMO_INTERVAL=3600")
	s.must("backup", src, "--no-copy")

	// Limits: the copy's limitUpload from site.yaml, a download limit
	// given for this run; the flag wins over site.yaml.
	r := s.run(logged, "backup", "copy", src, "--limit-download", "555")
	if r.code != 0 {
		t.Fatalf("backup copy: exit %d: %s", r.code, r.err)
	}
	copyStarts := 0
	for _, l := range starts() {
		op, _, _ := strings.Cut(l, " ")
		if op == "copy" || op == "stats" || op == "check" {
			copyStarts++
			if !strings.Contains(l, "--limit-upload 444") || !strings.Contains(l, "--limit-download 555") {
				t.Errorf("restic %s on the copy ran without the limits (site 444 up, flag 555 down): %s", op, l)
			}
		}
	}
	if copyStarts < 2 {
		t.Errorf("saw %d restic copy/stats/check starts, want at least 2", copyStarts)
	}
	s.must("backup", src, "--no-copy")
	r = s.run(logged, "backup", "copy", src, "--limit-upload", "333")
	if r.code != 0 {
		t.Fatalf("backup copy: exit %d: %s", r.code, r.err)
	}
	for _, l := range starts() {
		if strings.HasPrefix(l, "copy ") && (!strings.Contains(l, "--limit-upload 333") || strings.Contains(l, "--limit-download")) {
			t.Errorf("restic copy with --limit-upload 333 over site.yaml's 444 and no download limit: %s", l)
		}
	}
	second := s.copyRecords(src)

	// A third group, and a password file with a wrong password.
	s.must("backup", src, "--no-copy")
	var third string
	for g := range s.copyRecords(src) {
		if _, ok := second[g]; !ok {
			third = g
		}
	}
	if third == "" {
		t.Fatal("no new group after the third backup")
	}
	notCopied := func(what string) {
		t.Helper()
		if recs := s.copyRecords(src)[third]; len(recs) != 0 {
			t.Errorf("after %s, group %s is recorded on the copy: %+v", what, third, recs)
		}
	}
	wrong := passwordFile(t)
	s.useCopy(rm, wrong, 0)
	start := time.Now()
	r = s.run(nil, "backup", "copy", src)
	t.Logf("copy with a wrong password: exit %d after %s: %s", r.code, time.Since(start).Round(time.Second), tail(r.err, 600))
	if r.code == 0 {
		t.Fatalf("copy with a wrong password succeeded: %s", r.out)
	}
	if !strings.Contains(r.err, "wrong backup repository password") || !strings.Contains(r.err, wrong) {
		t.Errorf("the error does not say the password in %s is wrong: %s", wrong, r.err)
	}
	for _, sec := range secretsOf(t, rm, wrong) {
		if strings.Contains(r.err+r.out, sec) {
			t.Errorf("the error shows the password")
		}
	}
	notCopied("a wrong password")

	// A restic of another host took an exclusive lock a minute ago and
	// died: the copy stops at once, naming it, and leaves it alone.
	s.useCopy(rm, pass, 0)
	cr, err := backup.Open(rm.url, pass, rm.access)
	if err != nil {
		t.Fatal(err)
	}
	fresh := putLock(t, rm, cr, resticLock{Time: time.Now().Add(-time.Minute), Exclusive: true, Hostname: "farhost", Username: "backup", PID: 4242})
	start = time.Now()
	r = s.run(nil, "backup", "copy", src)
	d := time.Since(start)
	t.Logf("copy beside a fresh foreign lock: exit %d after %s: %s", r.code, d.Round(time.Second), tail(r.err, 600))
	if r.code == 0 {
		t.Fatalf("copy beside an exclusive lock of another host succeeded: %s", r.out)
	}
	if !strings.Contains(r.err, "backup repository locked") || !strings.Contains(r.err, "farhost") || !strings.Contains(r.err, "unlock") {
		t.Errorf("the error does not name the lock's host and how to clear it: %s", r.err)
	}
	if d > time.Minute {
		t.Errorf("the lock error took %s", d)
	}
	notCopied("a locked copy")
	if !slices.Contains(locks(t, cr), fresh) {
		t.Errorf("the copy removed the live lock of another host")
	}

	// Past its lease (30 min since its last refresh) the lock goes, and
	// the copy goes on.
	dropLock(t, rm, fresh)
	stale := putLock(t, rm, cr, resticLock{Time: time.Now().Add(-31 * time.Minute), Exclusive: true, Hostname: "farhost", Username: "backup", PID: 4242})
	s.must("backup", "copy", src)
	if recs := s.copyRecords(src)[third]; len(recs) != 1 || recs[0].Verified.IsZero() {
		t.Errorf("after the lease ended, group %s on the copy: %+v, want verified", third, recs)
	}
	if slices.Contains(locks(t, cr), stale) {
		t.Errorf("the lock past its lease is still there")
	}

	// A server that died while restic uploaded an index kept the file
	// half-written (rclone serve restic writes in place): the next copy
	// rebuilds the index and goes on, and restic check passes.
	idx, err := os.ReadDir(filepath.Join(rm.repoDir, "index"))
	if err != nil || len(idx) == 0 {
		t.Fatalf("index files on the copy: %v, %v", idx, err)
	}
	whole, err := os.ReadFile(filepath.Join(rm.repoDir, "index", idx[0].Name()))
	if err != nil {
		t.Fatal(err)
	}
	half := filepath.Join(rm.repoDir, "index", strings.Repeat("0f", 32))
	if err := os.WriteFile(half, whole[:len(whole)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	s.must("backup", src, "--no-copy")
	s.must("backup", "copy", src)
	if _, err := os.Stat(half); err == nil {
		t.Errorf("the half-written index file is still there")
	}
	for g, recs := range s.copyRecords(src) {
		if len(recs) == 1 && recs[0].Verified.IsZero() {
			t.Errorf("group %s copied but not verified after the index was rebuilt", g)
		}
	}
	if err := cr.Check(t.Context(), ""); err != nil {
		t.Errorf("restic check of the copy after the index was rebuilt: %v", err)
	}
}

// TestOffsiteCopyFromRecords: once a copy holds groups, the next copy
// learns what it holds from the site's records and restic copy's output
// instead of listing it (three restic starts on it: copy, the manifest
// read back, stats), and still finds out what the records miss: a group
// removed from the copy behind the site's back is copied again, and a copy
// repository that is gone is created anew with every group.
func TestOffsiteCopyFromRecords(t *testing.T) {
	needEngine(t)
	rm := startRemote(t, "sftp")
	s := newSite(t)
	pass := passwordFile(t)
	s.useCopy(rm, pass, 0)
	argLog := filepath.Join(t.TempDir(), "restic-args")
	wrapper := filepath.Join(t.TempDir(), "restic")
	script := "#!/bin/sh\ncase \"$RESTIC_REPOSITORY\" in sftp:*) w=copy;; *) w=primary;; esac\necho \"$w $1\" >>" + argLog + "\nexec restic \"$@\"\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	logged := []string{"DOCKERBANK_RESTIC=" + wrapper}
	name := uniq("bk-rec")
	onCopyStarts := func() []string {
		data, _ := os.ReadFile(argLog)
		os.Remove(argLog)
		var ops []string
		for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			if op, ok := strings.CutPrefix(l, "copy "); ok {
				ops = append(ops, op)
			}
		}
		slices.Sort(ops)
		return ops
	}
	type copyRes struct {
		Groups   []string `json:"groups"`
		Present  []string `json:"present"`
		Verified bool     `json:"verified"`
	}
	copyJSON := func(env []string) copyRes {
		t.Helper()
		r := s.run(env, "backup", "copy", name, "--json")
		if r.code != 0 {
			t.Fatalf("backup copy: exit %d: %s", r.code, tail(r.err, 2000))
		}
		var rs []copyRes
		if err := json.Unmarshal([]byte(r.out), &rs); err != nil || len(rs) != 1 || !rs[0].Verified {
			t.Fatalf("backup copy --json: %v: %s", err, r.out)
		}
		return rs[0]
	}
	s.deploy("demo", name, "DEMO_INTERVAL=3600")
	backupGroup := func() string {
		var res []struct {
			Group string `json:"group"`
		}
		out := s.must("backup", name, "--no-copy", "--json")
		if err := json.Unmarshal([]byte(out), &res); err != nil || len(res) != 1 {
			t.Fatalf("backup --json: %v: %s", err, out)
		}
		return res[0].Group
	}
	first := backupGroup()
	if r := copyJSON(nil); !slices.Equal(r.Groups, []string{first}) {
		t.Fatalf("the first copy copied %v, want [%s]", r.Groups, first)
	}
	onCopy := func() []string {
		var ids []string
		for g := range s.copyRecords(name, "--from", "offsite") {
			ids = append(ids, g)
		}
		slices.Sort(ids)
		return ids
	}

	// The next group: no listing of the copy.
	second := backupGroup()
	os.Remove(argLog)
	if r := copyJSON(logged); !slices.Equal(r.Groups, []string{second}) {
		t.Errorf("the incremental copy copied %v, want [%s]", r.Groups, second)
	}
	if got, want := onCopyStarts(), []string{"copy", "dump", "stats"}; !slices.Equal(got, want) {
		t.Errorf("restic starts on the copy for an incremental copy: %v, want %v", got, want)
	}
	if got, want := onCopy(), []string{first, second}; !slices.Equal(got, want) {
		t.Errorf("groups on the copy: %v, want %v", got, want)
	}

	// The first group removed from the copy behind the site's back: the
	// next copy copies it again and checks it there.
	cr, err := backup.Open(rm.url, pass, rm.access)
	if err != nil {
		t.Fatal(err)
	}
	snaps, err := cr.Snapshots(t.Context(), "group="+first)
	if err != nil || len(snaps) == 0 {
		t.Fatalf("snapshots of %s on the copy: %v, %v", first, snaps, err)
	}
	var ids []string
	for _, sn := range snaps {
		ids = append(ids, sn.ID)
	}
	if err := cr.Forget(t.Context(), ids); err != nil {
		t.Fatal(err)
	}
	if r := copyJSON(nil); !slices.Contains(r.Groups, first) || !slices.Contains(r.Present, second) {
		t.Errorf("after %s went from the copy, the copy copied %v (present %v), want it copied again", first, r.Groups, r.Present)
	}
	if got, want := onCopy(), []string{first, second}; !slices.Equal(got, want) {
		t.Errorf("groups on the copy after it was healed: %v, want %v", got, want)
	}
	for g, recs := range s.copyRecords(name) {
		if len(recs) != 1 || recs[0].Verified.IsZero() {
			t.Errorf("group %s: %+v, want verified on offsite", g, recs)
		}
	}

	// The copy repository gone: created anew, every group copied. (sftp:
	// with rest:, removing the directory under a running rclone serve
	// restic made restic report a wrong password, not a missing
	// repository; not investigated.)
	if err := os.RemoveAll(rm.repoDir); err != nil {
		t.Fatal(err)
	}
	if r := copyJSON(nil); !slices.Equal(r.Groups, []string{first, second}) {
		t.Errorf("into a new copy repository the copy copied %v, want both groups", r.Groups)
	}
	if got, want := onCopy(), []string{first, second}; !slices.Equal(got, want) {
		t.Errorf("groups on the new copy: %v, want %v", got, want)
	}
	s.must("verify", name, "--from", "offsite", "--no-drill", "--read-data-subset", "100%")
}
