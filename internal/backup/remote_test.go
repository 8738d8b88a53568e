package backup_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dockerbank/dockerbank/internal/backup"
	"github.com/dockerbank/dockerbank/internal/site"
	"github.com/dockerbank/dockerbank/internal/testenv"
)

// remote is one real server with a repository on it, as site.yaml would
// name it.
type remote struct {
	name   string
	url    string
	access site.Access
	server *testenv.Server
	// disk is where the server keeps the repository (for restic check
	// run directly against it).
	repoDir string
}

// startRemote starts one of the three servers an off-site copy can live
// on: sftp (OpenSSH), rest (rclone serve restic, TLS) or s3 (SeaweedFS).
// testStall is the stall timeout of the test repositories: short, so the
// frozen-server case ends quickly, but above the longest quiet phase of a
// restic run on a tiny repository on a loaded 2-core CI machine (a prune
// once moved under 64 KiB in 15 s there).
const testStall = "30s"

func startRemote(t *testing.T, kind string) remote {
	t.Helper()
	testenv.RequireCommand(t, "restic")
	switch kind {
	case "sftp":
		sftp := testenv.StartSFTP(t, "")
		return remote{name: "sftp", url: sftp.Repository("clinic"), access: site.Access{SSHConfigFile: sftp.ClientConfig, StallTimeout: testStall},
			server: sftp.Server, repoDir: filepath.Join(sftp.Root, "clinic")}
	case "rest":
		rest := testenv.StartREST(t)
		return remote{name: "rest", url: rest.Repository("clinic"), access: site.Access{CredentialsFile: rest.CredentialsFile, CACertFile: rest.CACert, StallTimeout: testStall},
			server: rest.Server, repoDir: filepath.Join(rest.Root, "clinic")}
	case "s3":
		s3 := testenv.StartS3(t)
		return remote{name: "s3", url: s3.Repository("clinic"), access: site.Access{CredentialsFile: s3.CredentialsFile, StallTimeout: testStall}, server: s3.Server}
	}
	t.Fatalf("no server kind %s", kind)
	return remote{}
}

var remoteKinds = []string{"sftp", "rest", "s3"}

func passwordFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "offsite.pass")
	if err := os.WriteFile(p, []byte(rand.Text()+rand.Text()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRemoteRepositories drives restic through dockerbank's repository
// settings against a real SFTP, REST and S3 server: a round trip, check,
// forget and prune, a repository locked by a dead process of another
// host (a clear error at once, the lock removed once its lease ended), a
// wrong credential, and a server that
// stops answering (a clear error after the stall timeout, not a hang).
func TestRemoteRepositories(t *testing.T) {
	for _, kind := range remoteKinds {
		t.Run(kind, func(t *testing.T) {
			rm := startRemote(t, kind)
			ctx := t.Context()
			r, err := backup.Open(rm.url, passwordFile(t), rm.access)
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Init(ctx); err != nil {
				t.Fatal(err)
			}
			data := make([]byte, 2<<20)
			rand.Read(data)
			sum, err := r.BackupStdin(ctx, bytes.NewReader(data), "blob", []string{"dockerbank", "round=1"})
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if err := r.Dump(ctx, sum.SnapshotID, "/blob", &got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), data) {
				t.Fatalf("round trip over %s: %d bytes back, want the %d written", rm.name, got.Len(), len(data))
			}
			if err := r.Check(ctx, "100%"); err != nil {
				t.Fatal(err)
			}
			sum2, err := r.BackupStdin(ctx, strings.NewReader("second"), "blob", []string{"dockerbank", "round=2"})
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Forget(ctx, []string{sum.SnapshotID}); err != nil {
				t.Fatal(err)
			}
			if err := r.Prune(ctx); err != nil {
				t.Fatal(err)
			}
			snaps, err := r.Snapshots(ctx, "dockerbank")
			if err != nil {
				t.Fatal(err)
			}
			if len(snaps) != 1 || !strings.HasPrefix(snaps[0].ID, sum2.SnapshotID) {
				t.Fatalf("after forget: %v, want only %s", snaps, sum2.SnapshotID)
			}

			// A backup on another host died holding its lock.
			deadLock(t, rm, r)
			start := time.Now()
			err = r.Check(ctx, "")
			if !errors.Is(err, backup.ErrLocked) || !strings.Contains(err.Error(), "farhost") {
				t.Fatalf("check of a repository locked by farhost: %v, want ErrLocked naming the host", err)
			}
			if d := time.Since(start); d > 30*time.Second {
				t.Errorf("the lock error took %s", d)
			}
			// Our own non-exclusive work still goes on beside that lock.
			if _, err := r.BackupStdin(ctx, strings.NewReader("beside"), "blob", []string{"dockerbank"}); err != nil {
				t.Fatalf("backup beside a stale shared lock: %v", err)
			}
			removeLocks(t, r)

			// The lease. A lock of a restic on another host that died a
			// minute ago is live for restic, which cannot see that host's
			// processes: the run stops at once naming the holder, and
			// Unlock leaves the lock alone. Once the lease has ended (30
			// min after the lock's last refresh) Unlock removes it and the
			// run goes on.
			fresh := putLock(t, rm, r, resticLock{Time: time.Now().Add(-time.Minute), Exclusive: true, Hostname: "farhost", Username: "backup", PID: 4242})
			if err := r.Unlock(ctx); err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(locks(t, r), fresh) {
				t.Fatalf("Unlock removed the live lock of another host")
			}
			start = time.Now()
			_, err = r.BackupStdin(ctx, strings.NewReader("blocked"), "blob", []string{"dockerbank"})
			if !errors.Is(err, backup.ErrLocked) || !strings.Contains(err.Error(), "farhost") {
				t.Fatalf("backup beside an exclusive lock of farhost taken a minute ago: %v, want ErrLocked naming the host", err)
			}
			if d := time.Since(start); d > 30*time.Second {
				t.Errorf("the lock error took %s", d)
			}
			t.Logf("fresh foreign lock: %v", err)
			dropLock(t, rm, fresh)
			stale := putLock(t, rm, r, resticLock{Time: time.Now().Add(-31 * time.Minute), Exclusive: true, Hostname: "farhost", Username: "backup", PID: 4242})
			// restic 0.14 refuses to lock beside any lock until restic
			// unlock removed the stale ones: our runs do that when a lock
			// stops them, and try again.
			if err := r.Check(ctx, ""); err != nil {
				t.Logf("check beside a lock past its lease, before Unlock: %v", err)
			}
			if err := r.Unlock(ctx); err != nil {
				t.Fatal(err)
			}
			if slices.Contains(locks(t, r), stale) {
				t.Fatalf("Unlock left the lock of another host past its lease")
			}
			if err := r.Check(ctx, ""); err != nil {
				t.Fatalf("check after the stale lock went: %v", err)
			}

			// A wrong credential fails at once and names no secret.
			if rm.access.CredentialsFile != "" {
				bad := site.Access{CredentialsFile: wrongCredentials(t, rm.access.CredentialsFile), CACertFile: rm.access.CACertFile, StallTimeout: testStall}
				br, err := backup.Open(rm.url, r.PasswordFile, bad)
				if err != nil {
					t.Fatal(err)
				}
				cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
				_, err = br.Snapshots(cctx)
				cancel()
				if err == nil {
					t.Fatal("a wrong credential opened the repository")
				}
				secret, _ := os.ReadFile(rm.access.CredentialsFile)
				for _, line := range strings.Split(string(secret), "\n") {
					if _, v, ok := strings.Cut(line, "="); ok && len(v) > 8 && strings.Contains(err.Error(), v) {
						t.Errorf("the error shows a secret: %v", err)
					}
				}
				t.Logf("wrong credential: %v", err)
			}

			// The server stops answering during a backup: the run ends
			// with a clear error once nothing moved for the stall timeout.
			// (The kernel's socket buffers take what restic sends until
			// they are full: the stall is seen once they are.)
			big := make([]byte, 160<<20)
			rand.Read(big)
			slow := *r
			slow.LimitUpload = 8192 // KiB/s: the upload is still running when the server freezes
			done := make(chan error, 1)
			start = time.Now()
			go func() {
				_, err := slow.BackupStdin(ctx, bytes.NewReader(big), "big", []string{"dockerbank"})
				done <- err
			}()
			time.Sleep(3 * time.Second)
			rm.server.Freeze()
			select {
			case err = <-done:
			case <-time.After(3 * time.Minute):
				t.Fatal("backup to a frozen server still runs after 3 min")
			}
			rm.server.Thaw()
			if !errors.Is(err, backup.ErrStalled) && !errors.Is(err, backup.ErrRepository) {
				t.Fatalf("backup to a frozen server: %v, want a stall or repository error", err)
			}
			t.Logf("frozen server after %s: %v", time.Since(start).Round(time.Second), err)
			if err := r.Unlock(ctx); err != nil {
				t.Fatal(err)
			}
			if err := r.Check(ctx, ""); err != nil {
				t.Fatalf("restic check after the cut: %v", err)
			}
		})
	}
}

// wrongCredentials writes a credentials file with every secret changed.
func wrongCredentials(t *testing.T, path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		k, v, _ := strings.Cut(line, "=")
		if strings.Contains(k, "SECRET") || strings.Contains(k, "PASSWORD") {
			v = "wrong-" + v[:4]
		}
		out = append(out, k+"="+v)
	}
	p := filepath.Join(t.TempDir(), "wrong.credentials")
	if err := os.WriteFile(p, []byte(strings.Join(out, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// deadLock leaves a lock of a restic that ran on host "farhost" and was
// killed: a real restic in its own UTS namespace, killed while it holds
// its lock.
func deadLock(t *testing.T, rm remote, r *backup.Restic) {
	t.Helper()
	testenv.RequireCommand(t, "unshare")
	cmd := exec.Command("unshare", "--uts", "sh", "-c", "hostname farhost && exec restic backup --stdin --stdin-filename held "+strings.Join(globalArgs(r), " "))
	cmd.Env = append(os.Environ(), "RESTIC_REPOSITORY="+r.Repository, "RESTIC_PASSWORD_FILE="+r.PasswordFile)
	cmd.Env = append(cmd.Env, r.Env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if ids := locks(t, r); len(ids) > 0 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("the farhost restic took no lock in 60 s: %s", errb.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
}

func globalArgs(r *backup.Restic) []string {
	var a []string
	for _, o := range r.Options {
		a = append(a, "-o", "'"+o+"'")
	}
	if r.CACert != "" {
		a = append(a, "--cacert", r.CACert)
	}
	return a
}

func locks(t *testing.T, r *backup.Restic) []string {
	args := append([]string{"list", "locks", "--no-lock"}, unquote(globalArgs(r))...)
	cmd := exec.Command("restic", args...)
	cmd.Env = append(os.Environ(), "RESTIC_REPOSITORY="+r.Repository, "RESTIC_PASSWORD_FILE="+r.PasswordFile)
	cmd.Env = append(cmd.Env, r.Env...)
	out, err := cmd.Output()
	if err != nil {
		return nil
	}
	return strings.Fields(string(out))
}

func removeLocks(t *testing.T, r *backup.Restic) {
	t.Helper()
	args := append([]string{"unlock", "--remove-all"}, unquote(globalArgs(r))...)
	cmd := exec.Command("restic", args...)
	cmd.Env = append(os.Environ(), "RESTIC_REPOSITORY="+r.Repository, "RESTIC_PASSWORD_FILE="+r.PasswordFile)
	cmd.Env = append(cmd.Env, r.Env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("restic unlock --remove-all: %v: %s", err, out)
	}
}

func unquote(a []string) []string {
	out := make([]string, len(a))
	for i, s := range a {
		out[i] = strings.Trim(s, "'")
	}
	return out
}

// resticCmd runs the restic program on r's repository with r's access
// (as an operator would), for what dockerbank itself never does.
func resticCmd(t *testing.T, r *backup.Restic, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command("restic", append(args, unquote(globalArgs(r))...)...)
	cmd.Env = append(os.Environ(), "RESTIC_REPOSITORY="+r.Repository, "RESTIC_PASSWORD_FILE="+r.PasswordFile)
	cmd.Env = append(cmd.Env, r.Env...)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("restic %s: %w: %s", strings.Join(args, " "), err, errb.String())
	}
	return out, nil
}

// resticLock is restic's lock file (internal/restic/lock.go).
type resticLock struct {
	Time      time.Time `json:"time"`
	Exclusive bool      `json:"exclusive"`
	Hostname  string    `json:"hostname"`
	Username  string    `json:"username"`
	PID       int       `json:"pid"`
	UID       uint32    `json:"uid"`
	GID       uint32    `json:"gid"`
}

// putLock stores a lock in the repository the way the restic that held
// it wrote it: encrypted with the repository's master key, named by the
// SHA-256 of its contents, written into the server's storage (the
// directory sshd and rclone serve; the S3 bucket through rclone). It
// returns the lock's ID.
func putLock(t *testing.T, rm remote, r *backup.Restic, l resticLock) string {
	t.Helper()
	master, err := resticCmd(t, r, "cat", "masterkey", "--no-lock")
	if err != nil {
		t.Fatal(err)
	}
	plain, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := backup.SealWithMasterKey(master, plain)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(sealed)
	id := hex.EncodeToString(sum[:])
	if rm.repoDir != "" {
		if err := os.WriteFile(filepath.Join(rm.repoDir, "locks", id), sealed, 0o600); err != nil {
			t.Fatal(err)
		}
		return id
	}
	f := filepath.Join(t.TempDir(), id)
	if err := os.WriteFile(f, sealed, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := rcloneS3(t, rm, "copyto", f, "locks/"+id).CombinedOutput(); err != nil {
		t.Fatalf("rclone copyto: %v: %s", err, out)
	}
	return id
}

// dropLock removes a lock file from the server's storage.
func dropLock(t *testing.T, rm remote, id string) {
	t.Helper()
	if rm.repoDir != "" {
		if err := os.Remove(filepath.Join(rm.repoDir, "locks", id)); err != nil {
			t.Fatal(err)
		}
		return
	}
	if out, err := rcloneS3(t, rm, "deletefile", "locks/"+id).CombinedOutput(); err != nil {
		t.Fatalf("rclone deletefile: %v: %s", err, out)
	}
}

// rcloneS3 runs rclone on the S3 server's bucket of rm: the last argument
// is a path inside the bucket.
func rcloneS3(t *testing.T, rm remote, args ...string) *exec.Cmd {
	t.Helper()
	testenv.RequireCommand(t, "rclone")
	u, err := url.Parse(strings.TrimPrefix(rm.url, "s3:"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(rm.access.CredentialsFile)
	if err != nil {
		t.Fatal(err)
	}
	// The AWS SDK in rclone reads AWS_* (a CA bundle it cannot use over
	// http): only the server's own settings go in.
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	env = append(env, "RCLONE_CONFIG=/dev/null", "RCLONE_S3_PROVIDER=Other", "RCLONE_S3_ENDPOINT="+u.Scheme+"://"+u.Host)
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		k, v, _ := strings.Cut(line, "=")
		env = append(env, "RCLONE_S3_"+strings.TrimPrefix(k, "AWS_")+"="+v)
	}
	args[len(args)-1] = ":s3:" + strings.Trim(u.Path, "/") + "/" + args[len(args)-1]
	cmd := exec.Command("rclone", args...)
	cmd.Env = env
	return cmd
}
