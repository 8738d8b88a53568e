package backup

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"
)

// ErrWrongPassword means the repository exists but the key file's password
// does not open it.
var ErrWrongPassword = errors.New("wrong backup repository password")

// ErrRepository means the repository could not be reached or used.
var ErrRepository = errors.New("backup repository unusable")

// Restic drives the restic program on one repository.
type Restic struct {
	Bin          string // default "restic" on PATH
	Repository   string // path or restic URL
	PasswordFile string
	// Host is the hostname recorded in snapshots; it keeps parent
	// selection stable when the machine is renamed.
	Host string
	// KeyHint names the key file restic tries first (see fastkey.go).
	KeyHint string
	// Compression is passed to restic backup as --compression (auto,
	// off, max); "" leaves restic's default (auto).
	Compression string
	// Remote holds how a remote repository is reached (see remote.go).
	Remote
}

// Snapshot is restic's JSON description of one snapshot.
type Snapshot struct {
	ID      string    `json:"id"`
	ShortID string    `json:"short_id"`
	Time    time.Time `json:"time"`
	Paths   []string  `json:"paths"`
	Tags    []string  `json:"tags"`
	Parent  string    `json:"parent,omitempty"`
	// Original is the snapshot this one was copied (or retagged) from.
	Original string `json:"original,omitempty"`
}

// Tag returns the value of a key=value tag.
func (s Snapshot) Tag(key string) string {
	for _, t := range s.Tags {
		if k, v, ok := strings.Cut(t, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// HasTag reports whether the snapshot has the plain tag t.
func (s Snapshot) HasTag(t string) bool {
	for _, x := range s.Tags {
		if x == t {
			return true
		}
	}
	return false
}

func (r *Restic) bin() string {
	if r.Bin != "" {
		return r.Bin
	}
	return "restic"
}

func (r *Restic) command(ctx context.Context, args ...string) *resticCmd {
	ctx, cancel := context.WithCancelCause(ctx)
	if len(args) > 0 {
		args = append(append([]string{args[0]}, r.globalFlags()...), args[1:]...)
	}
	cmd := exec.CommandContext(ctx, r.bin(), args...)
	cmd.Env = append(os.Environ(), "RESTIC_REPOSITORY="+r.Repository, "RESTIC_PASSWORD_FILE="+r.PasswordFile,
		"RESTIC_PASSWORD=", "RESTIC_PASSWORD_COMMAND=", "RESTIC_KEY_HINT="+r.KeyHint)
	// Credentials (and a URL holding one) come last: they win.
	cmd.Env = append(cmd.Env, r.Env...)
	// restic dies with dockerbank: an orphaned restic would keep writing
	// after a crash. Its stale lock is ignored by later runs (same host,
	// dead PID).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 10 * time.Second
	return &resticCmd{Cmd: cmd, r: r, op: args[0], ctx: ctx, cancel: cancel}
}

// run runs restic and returns its standard output; a failure carries the
// tail of its standard error.
func (r *Restic) run(ctx context.Context, stdin io.Reader, args ...string) ([]byte, error) {
	return r.runEnv(ctx, stdin, nil, args...)
}

// runEnv is run with extra environment (restic copy's source).
func (r *Restic) runEnv(ctx context.Context, stdin io.Reader, env []string, args ...string) ([]byte, error) {
	// PDEATHSIG fires when the thread that started the child exits: keep
	// this goroutine on its thread until restic is reaped.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cmd := r.command(ctx, args...)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdin = stdin
	var out bytes.Buffer
	errBuf := &limitedBuffer{max: 16 << 10}
	cmd.Stdout = &out
	cmd.Stderr = errBuf
	if err := cmd.Run(); err != nil {
		return out.Bytes(), r.wrap(args[0], err, errBuf.String())
	}
	return out.Bytes(), nil
}

func (r *Restic) wrap(op string, err error, stderr string) error {
	if serr := r.stallError(op, err, stderr); serr != nil {
		return serr
	}
	msg := r.scrub(strings.TrimSpace(stderr))
	if lerr := r.lockError(op, msg); lerr != nil {
		return lerr
	}
	if m := damagedSnapshot.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("restic %s on %s: %w: snapshot file %s... on it is damaged: its bytes do not match its name, as when the server stopped while writing it "+
			"(a REST server that writes files in place, such as rclone serve restic, when it is killed). Nothing can read it, and a copy that is run again "+
			"stores its snapshot under a new name; restic 0.14 cannot remove it: delete snapshots/%s* on the server, then run the command again",
			op, r.Repository, ErrRepository, m[1], m[1])
	}
	switch {
	case strings.Contains(msg, "wrong password"):
		return fmt.Errorf("restic %s on %s: %w: the password in %s does not open it; restore that file from your escrow copy (`dockerbank backup key show` prints the site's)",
			op, r.Repository, ErrWrongPassword, r.PasswordFile)
	case strings.Contains(msg, "no space left on device"):
		return fmt.Errorf("restic %s on %s: %w: no space left on device; free space or point backup.repository in site.yaml elsewhere", op, r.Repository, ErrRepository)
	}
	if msg == "" {
		msg = r.scrub(err.Error())
	}
	return fmt.Errorf("restic %s on %s: %w: %s", op, r.Repository, ErrRepository, lastLines(msg, 6))
}

// damagedSnapshot finds restic's report of a snapshot file whose bytes do
// not hash to its name (the short ID it prints).
var damagedSnapshot = regexp.MustCompile(`load <snapshot/([0-9a-f]{6,64})>: invalid data returned`)

// lastLines returns the last n lines of restic's output, without the
// lines of a Go stack trace (restic prints one under some errors, after
// the message that says what happened).
func lastLines(s string, n int) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		t := strings.TrimSpace(l)
		if strings.Contains(t, ".go:") || strings.HasPrefix(t, "github.com/") || strings.HasPrefix(t, "golang.org/") || strings.HasPrefix(t, "runtime.") || strings.HasPrefix(t, "runtime/") {
			continue
		}
		lines = append(lines, l)
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "; ")
}

// local reports whether the repository is a local directory.
func (r *Restic) local() bool {
	return !strings.Contains(r.Repository, ":") || strings.HasPrefix(r.Repository, "local:")
}

// localDir is the directory of a local repository.
func (r *Restic) localDir() string {
	return strings.TrimPrefix(r.Repository, "local:")
}

// Exists reports whether the repository is initialised; it opens it, so
// it also checks the password.
func (r *Restic) Exists(ctx context.Context) (bool, error) {
	_, err := r.run(ctx, nil, "cat", "config", "--no-lock")
	if err == nil {
		return true, nil
	}
	if errors.Is(err, ErrWrongPassword) {
		return true, err
	}
	if missing(err) {
		return false, nil
	}
	return false, err
}

// missing reports whether a restic error says that no repository is at
// the location (its config file is not there).
func missing(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "Is there a repository at the following location?") ||
		strings.Contains(err.Error(), "unable to open config file"))
}

// Init creates the repository.
func (r *Restic) Init(ctx context.Context) error {
	_, err := r.run(ctx, nil, "init")
	return err
}

// Unlock removes stale locks only (those of dead processes or older than
// restic's lease); locks of running processes stay. restic itself takes a
// zombie (a killed restic whose parent died, on a host whose init does not
// reap orphans) for a live process; such locks of this host are removed
// here too, for local repositories.
func (r *Restic) Unlock(ctx context.Context) error {
	if r.local() {
		// No lock files: nothing to do, and no restic start (~0.5 s).
		if ents, err := os.ReadDir(filepath.Join(r.localDir(), "locks")); err == nil && len(ents) == 0 {
			return nil
		}
	}
	if _, err := r.run(ctx, nil, "unlock"); err != nil {
		return err
	}
	return r.clearDeadLocks(ctx)
}

func (r *Restic) clearDeadLocks(ctx context.Context) error {
	if !r.local() {
		return nil // a remote backend: restic's own lease (30 min) applies
	}
	out, err := r.run(ctx, nil, "list", "locks", "--no-lock")
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	for _, id := range strings.Fields(string(out)) {
		raw, err := r.run(ctx, nil, "cat", "lock", id, "--no-lock")
		if err != nil {
			continue // removed meanwhile
		}
		var l struct {
			Hostname string `json:"hostname"`
			PID      int    `json:"pid"`
		}
		if json.Unmarshal(raw, &l) != nil || l.Hostname != host || processAlive(l.PID) {
			continue
		}
		if err := os.Remove(filepath.Join(r.localDir(), "locks", id)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove dead lock %s of pid %d: %w", id, l.PID, err)
		}
	}
	return nil
}

// processAlive reports whether pid runs (a zombie does not).
func processAlive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses.
	s := string(stat)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z' && s[i+2] != 'X'
	}
	return true
}

// BackupSummary is restic's summary of one backup run.
type BackupSummary struct {
	SnapshotID     string  `json:"snapshot_id"`
	FilesNew       int64   `json:"files_new"`
	FilesChanged   int64   `json:"files_changed"`
	FilesUnchanged int64   `json:"files_unmodified"`
	DataAdded      int64   `json:"data_added"`
	BytesProcessed int64   `json:"total_bytes_processed"`
	FilesProcessed int64   `json:"total_files_processed"`
	Duration       float64 `json:"total_duration"`
}

// Status is restic's progress of a running backup.
type Status struct {
	BytesDone  int64   `json:"bytes_done"`
	TotalBytes int64   `json:"total_bytes"`
	FilesDone  int64   `json:"files_done"`
	TotalFiles int64   `json:"total_files"`
	Seconds    float64 `json:"seconds_elapsed"`
}

// BackupStdin stores stream as one file named filename in a new snapshot.
func (r *Restic) BackupStdin(ctx context.Context, stream io.Reader, filename string, tags []string) (BackupSummary, error) {
	return r.backup(ctx, stream, "", tags, nil, "--stdin", "--stdin-filename", filename)
}

// BackupDir stores the contents of dir (as the snapshot's root) in a new
// snapshot. restic uses the newest snapshot of the same host and path as
// parent and skips unchanged files. onStatus, if set, sees restic's
// progress a few times a second.
func (r *Restic) BackupDir(ctx context.Context, dir string, tags []string, onStatus func(Status)) (BackupSummary, error) {
	return r.backup(ctx, nil, dir, tags, onStatus, ".")
}

func (r *Restic) host() string {
	if r.Host != "" {
		return r.Host
	}
	return "dockerbank"
}

// backup runs restic backup with the flags every backup takes, then the
// source (stdin flags or a path).
func (r *Restic) backup(ctx context.Context, stdin io.Reader, dir string, tags []string, onStatus func(Status), source ...string) (BackupSummary, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	args := []string{"backup", "--json", "--host", r.host()}
	if r.Compression != "" {
		args = append(args, "--compression", r.Compression)
	}
	for _, t := range tags {
		args = append(args, "--tag", t)
	}
	cmd := r.command(ctx, append(args, source...)...)
	cmd.Env = append(cmd.Env, "RESTIC_PROGRESS_FPS=4")
	cmd.Dir = dir
	cmd.Stdin = stdin
	errBuf := &limitedBuffer{max: 16 << 10}
	cmd.Stderr = errBuf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return BackupSummary{}, fmt.Errorf("restic backup: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return BackupSummary{}, fmt.Errorf("start restic: %w; install restic (Debian package restic)", err)
	}
	var sum BackupSummary
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var msg struct {
			MessageType string `json:"message_type"`
		}
		if json.Unmarshal(sc.Bytes(), &msg) != nil {
			continue
		}
		if msg.MessageType == "summary" {
			_ = json.Unmarshal(sc.Bytes(), &sum)
		}
		if msg.MessageType == "status" && onStatus != nil {
			var st Status
			if json.Unmarshal(sc.Bytes(), &st) == nil {
				onStatus(st)
			}
		}
		if msg.MessageType == "error" {
			errBuf.Write(append(append([]byte{}, sc.Bytes()...), '\n'))
		}
	}
	werr := cmd.Wait()
	if werr != nil {
		var ee *exec.ExitError
		if errors.As(werr, &ee) && ee.ExitCode() == 3 {
			return sum, fmt.Errorf("restic backup: some files could not be read (snapshot %s incomplete): %s", sum.SnapshotID, lastLines(errBuf.String(), 6))
		}
		return sum, r.wrap("backup", werr, errBuf.String())
	}
	if sum.SnapshotID == "" {
		return sum, fmt.Errorf("restic backup on %s: %w: no snapshot was reported", r.Repository, ErrRepository)
	}
	return sum, nil
}

// Snapshots lists snapshots carrying every given tag, oldest first.
func (r *Restic) Snapshots(ctx context.Context, tags ...string) ([]Snapshot, error) {
	args := []string{"snapshots", "--json", "--no-lock"}
	if len(tags) > 0 {
		args = append(args, "--tag", strings.Join(tags, ","))
	}
	out, err := r.run(ctx, nil, args...)
	if err != nil {
		return nil, err
	}
	var snaps []Snapshot
	if err := json.Unmarshal(out, &snaps); err != nil {
		return nil, fmt.Errorf("read restic snapshot list: %w", err)
	}
	sort.Slice(snaps, func(i, j int) bool { return snaps[i].Time.Before(snaps[j].Time) })
	return snaps, nil
}

// Dump streams one file of a snapshot to w.
func (r *Restic) Dump(ctx context.Context, snapshot, file string, w io.Writer) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cmd := r.command(ctx, "dump", "--no-lock", snapshot, file)
	errBuf := &limitedBuffer{max: 16 << 10}
	cmd.Stderr = errBuf
	// The output is copied here, to its end, before Wait: with
	// cmd.Stdout = w, a slow reader (a database loading the dump on a busy
	// host) still holding the last chunk when restic exits made Wait give
	// up after WaitDelay and cut the stream short.
	out, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("restic dump: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return r.wrap("dump", err, "")
	}
	_, cerr := io.Copy(w, out)
	if cerr != nil {
		cmd.cancel(cerr) // the reader is gone: stop restic instead of blocking
	}
	if err := cmd.Wait(); err != nil {
		return r.wrap("dump", err, errBuf.String())
	}
	if cerr != nil {
		return fmt.Errorf("restic dump of %s: %w", file, cerr)
	}
	return nil
}

// Restore writes a snapshot's root into target, keeping owners, modes,
// times, symlinks and extended attributes.
func (r *Restic) Restore(ctx context.Context, snapshot, target string) error {
	_, err := r.run(ctx, nil, "restore", "--no-lock", snapshot, "--target", target)
	return err
}

// Check verifies the repository structure and reads back a subset of the
// data (e.g. "5%"); empty subset reads none.
func (r *Restic) Check(ctx context.Context, subset string) error {
	args := []string{"check"}
	if subset != "" {
		args = append(args, "--read-data-subset", subset)
	}
	_, err := r.run(ctx, nil, args...)
	return err
}

// CheckSnapshots proves snapshots whole in the repository at a cost that
// grows with them, not with the repository: each snapshot loads, every
// tree it holds is read back (decrypted and authenticated), and every data
// blob those trees name is in the repository's index (restic stats --mode
// raw-data). It does not prove the pack files on the server match the
// index: Check does, over the whole repository.
func (r *Restic) CheckSnapshots(ctx context.Context, ids []string) error {
	out, err := r.run(ctx, nil, append([]string{"stats", "--no-lock", "--json", "--mode", "raw-data"}, ids...)...)
	if err != nil {
		return err
	}
	var st struct {
		Snapshots int `json:"snapshots_count"`
	}
	if err := json.Unmarshal(out, &st); err != nil {
		return fmt.Errorf("read restic stats of %s: %w", r.Repository, err)
	}
	// restic stats skips an ID it does not find, with a warning only.
	if st.Snapshots != len(ids) {
		return fmt.Errorf("restic stats on %s: %w: %d of the %d snapshots checked are there", r.Repository, ErrRepository, st.Snapshots, len(ids))
	}
	return nil
}

// AddTags adds tags to snapshots (restic rewrites them under new IDs).
func (r *Restic) AddTags(ctx context.Context, ids []string, tags ...string) error {
	args := []string{"tag"}
	for _, t := range tags {
		args = append(args, "--add", t)
	}
	_, err := r.run(ctx, nil, append(args, ids...)...)
	return err
}

// RemoveTags removes tags from snapshots.
func (r *Restic) RemoveTags(ctx context.Context, ids []string, tags ...string) error {
	args := []string{"tag"}
	for _, t := range tags {
		args = append(args, "--remove", t)
	}
	_, err := r.run(ctx, nil, append(args, ids...)...)
	return err
}

// Forget removes snapshots (their data stays until Prune).
func (r *Restic) Forget(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := r.run(ctx, nil, append([]string{"forget"}, ids...)...)
	return err
}

// Prune removes data no snapshot references.
func (r *Restic) Prune(ctx context.Context) error {
	_, err := r.run(ctx, nil, "prune")
	return err
}

type limitedBuffer struct {
	buf []byte
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.buf = append(b.buf, p...)
	if len(b.buf) > b.max {
		b.buf = b.buf[len(b.buf)-b.max:]
	}
	return len(p), nil
}

func (b *limitedBuffer) String() string { return string(b.buf) }
