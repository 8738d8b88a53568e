package backup

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/dockerbank/dockerbank/internal/site"
)

// ErrStalled means restic moved no data for the stall timeout: the
// network was cut or the server stopped answering.
var ErrStalled = errors.New("backup repository stopped answering")

// ErrLocked means another restic process holds a lock on the repository.
var ErrLocked = errors.New("backup repository locked")

// Remote holds how restic reaches a remote repository. Secrets only ever
// travel in restic's environment (Env), never on its command line, and
// are scrubbed from every error.
type Remote struct {
	// Env is extra environment for restic: credentials, and for rest: a
	// RESTIC_REPOSITORY that holds the password (Repository never does).
	Env []string
	// Options are restic -o options (sftp.command).
	Options []string
	// CACert is restic's --cacert.
	CACert string
	// LimitUpload and LimitDownload cap restic's traffic in KiB/s.
	LimitUpload, LimitDownload int
	// StallTimeout stops a restic run that moved no byte for this long;
	// 0 never.
	StallTimeout time.Duration
	// OnTransfer, if set, sees the bytes restic read and wrote so far
	// (files, pipes and sockets) about once a second.
	OnTransfer func(Transfer)
	secrets    []string
	// ssh is the ssh command line of an sftp: repository, without its
	// host and "-s sftp" (see sftpCommand).
	ssh     []string
	sshHost string
}

// Transfer is the data a running restic moved so far.
type Transfer struct {
	Op      string
	Read    int64
	Written int64
	Seconds float64
}

func (r *Restic) globalFlags() []string {
	var f []string
	for _, o := range r.Options {
		f = append(f, "-o", o)
	}
	if r.CACert != "" {
		f = append(f, "--cacert", r.CACert)
	}
	if r.LimitUpload > 0 {
		f = append(f, "--limit-upload", strconv.Itoa(r.LimitUpload))
	}
	if r.LimitDownload > 0 {
		f = append(f, "--limit-download", strconv.Itoa(r.LimitDownload))
	}
	return f
}

// scrub replaces every secret in s.
func (r *Restic) scrub(s string) string {
	for _, sec := range r.secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "***")
		}
	}
	return s
}

// Open makes a Restic for a repository location with its access settings
// and password file: credentials are read from their file into restic's
// environment, sftp: goes through ssh with keep-alives (so a cut network
// ends the run), and remote runs stop when they stall.
func Open(location, passwordFile string, a site.Access) (*Restic, error) {
	r := &Restic{Repository: location, PasswordFile: passwordFile, Bin: os.Getenv("DOCKERBANK_RESTIC")}
	if passwordFile != "" {
		if err := site.CheckSecretFile(passwordFile); err != nil {
			return nil, fmt.Errorf("password file of %s: %w", location, err)
		}
	}
	r.LimitUpload, r.LimitDownload = a.LimitUpload, a.LimitDownload
	r.CACert = a.CACertFile
	if r.local() {
		return r, nil
	}
	r.StallTimeout = a.Stall()
	if a.CACertFile != "" {
		if _, err := os.Stat(a.CACertFile); err != nil {
			return nil, fmt.Errorf("CA certificates of %s: %w", location, err)
		}
	}
	if a.CredentialsFile != "" {
		creds, err := readCredentials(a.CredentialsFile)
		if err != nil {
			return nil, fmt.Errorf("credentials of %s: %w", location, err)
		}
		user, pass := creds["REST_USERNAME"], creds["REST_PASSWORD"]
		delete(creds, "REST_USERNAME")
		delete(creds, "REST_PASSWORD")
		if user != "" || pass != "" {
			if !strings.HasPrefix(location, "rest:") {
				return nil, fmt.Errorf("credentials file %s sets REST_USERNAME/REST_PASSWORD but %s is not a rest: repository", a.CredentialsFile, location)
			}
			u, err := url.Parse(strings.TrimPrefix(location, "rest:"))
			if err != nil {
				return nil, fmt.Errorf("parse repository %s: %w", location, err)
			}
			if user == "" {
				user = u.User.Username()
			}
			u.User = url.UserPassword(user, pass)
			r.Env = append(r.Env, "RESTIC_REPOSITORY=rest:"+u.String())
			r.secrets = append(r.secrets, pass, url.QueryEscape(pass), url.PathEscape(pass))
		}
		for _, k := range slices.Sorted(maps.Keys(creds)) {
			r.Env = append(r.Env, k+"="+creds[k])
			if strings.Contains(k, "SECRET") || strings.Contains(k, "TOKEN") || strings.Contains(k, "KEY") {
				r.secrets = append(r.secrets, creds[k])
			}
		}
	}
	if strings.HasPrefix(location, "sftp:") {
		args, host, err := sftpCommand(location, a.SSHConfigFile, r.StallTimeout)
		if err != nil {
			return nil, err
		}
		r.ssh, r.sshHost = args, host
		r.Options = append(r.Options, "sftp.command="+strings.Join(append(args, host, "-s", "sftp"), " "))
	}
	return r, nil
}

// credentialKeys are the variables a credentials file may set.
var credentialKeys = []string{"AWS_", "B2_", "AZURE_", "GOOGLE_", "OS_", "ST_", "RESTIC_REST_", "REST_USERNAME", "REST_PASSWORD"}

func readCredentials(path string) (map[string]string, error) {
	if err := site.CheckSecretFile(path); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read credentials: %w", err)
	}
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("%s:%d: write KEY=VALUE (e.g. AWS_ACCESS_KEY_ID=...)", path, n)
		}
		allowed := false
		for _, p := range credentialKeys {
			if strings.HasPrefix(k, p) {
				allowed = true
			}
		}
		if !allowed {
			return nil, fmt.Errorf("%s:%d: %s is not a credential restic reads; use AWS_*, B2_*, AZURE_*, GOOGLE_*, OS_* or REST_USERNAME/REST_PASSWORD", path, n, k)
		}
		out[k] = strings.Trim(strings.TrimSpace(v), `"'`)
	}
	return out, nil
}

// sftpCommand is the ssh command restic runs for an sftp: repository
// (then host, "-s sftp"): batch mode (never a password prompt),
// keep-alives that end a session whose network is cut, and the site's
// ssh_config if given.
func sftpCommand(location, sshConfig string, stall time.Duration) (args []string, host string, err error) {
	user, host, port, err := sftpTarget(location)
	if err != nil {
		return nil, "", err
	}
	alive := int(stall.Seconds() / 3)
	if alive < 1 {
		alive = 1
	}
	args = []string{"ssh"}
	if sshConfig != "" {
		if _, err := os.Stat(sshConfig); err != nil {
			return nil, "", fmt.Errorf("ssh config of %s: %w", location, err)
		}
		if strings.ContainsAny(sshConfig, " \t'\"") {
			return nil, "", fmt.Errorf("ssh config path %q: use a path without spaces or quotes", sshConfig)
		}
		args = append(args, "-F", sshConfig)
	}
	args = append(args, "-o", "BatchMode=yes", "-o", fmt.Sprintf("ServerAliveInterval=%d", alive), "-o", "ServerAliveCountMax=3",
		"-o", fmt.Sprintf("ConnectTimeout=%d", max(alive*3, 10)))
	if port != "" {
		args = append(args, "-p", port)
	}
	if user != "" {
		args = append(args, "-l", user)
	}
	return args, host, nil
}

// ShareSSH opens one ssh connection to an sftp: repository's server (an
// OpenSSH ControlMaster) that the restic runs that follow share until
// stop is called: each run then skips ssh's handshake, about 0.5 to 1 s
// on the test machines. The connection has the same keep-alives, so a
// cut network still ends the runs; a run that finds the connection gone
// opens its own. Other repositories, or a master that does not come up,
// change nothing.
func (r *Restic) ShareSSH() (stop func()) {
	if r.ssh == nil {
		return func() {}
	}
	dir, err := os.MkdirTemp("", "dockerbank-ssh-")
	if err != nil {
		return func() {}
	}
	sock := filepath.Join(dir, "master")
	args := append(append([]string{}, r.ssh[1:]...), "-o", "ControlMaster=yes", "-o", "ControlPath="+sock, "-o", "ControlPersist=no", "-N", r.sshHost)
	cmd := exec.Command(r.ssh[0], args...)
	// The master ends with dockerbank.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	exited := make(chan struct{})
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return func() {}
	}
	go func() { cmd.Wait(); close(exited) }()
	end := func() {
		cmd.Process.Signal(syscall.SIGTERM)
		<-exited
		os.RemoveAll(dir)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		select {
		case <-exited:
			os.RemoveAll(dir)
			return func() {}
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			end()
			return func() {}
		}
	}
	opts := r.Options
	shared := append(append([]string{}, r.ssh...), "-o", "ControlMaster=no", "-o", "ControlPath="+sock, r.sshHost, "-s", "sftp")
	r.Options = []string{"sftp.command=" + strings.Join(shared, " ")}
	for _, o := range opts {
		if !strings.HasPrefix(o, "sftp.command=") {
			r.Options = append(r.Options, o)
		}
	}
	return func() {
		r.Options = opts
		end()
	}
}

// sftpTarget splits sftp:[user@]host:path and sftp://[user@]host[:port]/path.
func sftpTarget(location string) (user, host, port string, err error) {
	rest := strings.TrimPrefix(location, "sftp:")
	if strings.HasPrefix(rest, "//") {
		u, perr := url.Parse("sftp:" + rest)
		if perr != nil {
			return "", "", "", fmt.Errorf("parse repository %s: %w", location, perr)
		}
		return u.User.Username(), u.Hostname(), u.Port(), nil
	}
	hostPart, _, ok := strings.Cut(rest, ":")
	if !ok || hostPart == "" {
		return "", "", "", fmt.Errorf("repository %s: write sftp:[user@]host:/path or sftp://[user@]host[:port]//path", location)
	}
	if u, h, ok := strings.Cut(hostPart, "@"); ok {
		return u, h, "", nil
	}
	return "", hostPart, "", nil
}

// lockError turns restic's "already locked" into a clear error naming
// the holder.
func (r *Restic) lockError(op, msg string) error {
	i := strings.Index(msg, "repository is already locked")
	if i < 0 {
		return nil
	}
	holder := msg[i:]
	if j := strings.IndexByte(holder, '\n'); j >= 0 {
		holder = holder[:j]
	}
	return fmt.Errorf("restic %s on %s: %w: %s; if that process is gone (a crashed host), the first run after its lease ends (30 min after the lock's last refresh) removes the lock, or remove it now with `restic -r %s unlock --remove-all` once you are sure it is dead",
		op, r.Repository, ErrLocked, strings.TrimSpace(holder), r.Repository)
}

// resticCmd is one restic process, watched for stalls.
type resticCmd struct {
	*exec.Cmd
	r      *Restic
	op     string
	ctx    context.Context
	cancel context.CancelCauseFunc
	done   chan struct{}
	drains []*drain
	// own counts the bytes restic wrote to our pipes (progress, output):
	// they are not data moved.
	own atomic.Int64
}

type countWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c countWriter) Write(p []byte) (int, error) {
	c.n.Add(int64(len(p)))
	return c.w.Write(p)
}

type countReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// StdoutPipe is exec.Cmd's, counted as restic's own output.
func (c *resticCmd) StdoutPipe() (io.Reader, error) {
	r, err := c.Cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	return countReader{r, &c.own}, nil
}

var errStallCause = errors.New("stalled")

func (c *resticCmd) Start() error {
	// Output goes through pipes of our own, drained after restic exits:
	// the ssh that restic starts for sftp: may hold them open a while
	// after restic is gone, and exec would fail the run (WaitDelay).
	var ends []*os.File
	for _, w := range []*io.Writer{&c.Stdout, &c.Stderr} {
		if _, isFile := (*w).(*os.File); *w == nil || isFile {
			continue // a pipe from StdoutPipe is counted by its reader
		}
		pr, pw, err := os.Pipe()
		if err != nil {
			c.cancel(nil)
			return fmt.Errorf("restic %s: %w", c.op, err)
		}
		d := &drain{r: pr, done: make(chan struct{})}
		go d.copy(countWriter{*w, &c.own})
		*w = pw
		ends = append(ends, pw)
		c.drains = append(c.drains, d)
	}
	err := c.Cmd.Start()
	for _, f := range ends {
		f.Close()
	}
	if err != nil {
		c.endDrains()
		c.cancel(nil)
		return err
	}
	c.done = make(chan struct{})
	if c.r.StallTimeout > 0 || c.r.OnTransfer != nil {
		go c.watch()
	}
	return nil
}

// drain copies one output pipe of restic.
type drain struct {
	r *os.File
	n atomic.Int64
	// writing is set while a read chunk is handed on: a slow reader
	// downstream is not a pipe held open.
	writing atomic.Bool
	done    chan struct{}
}

func (d *drain) copy(w io.Writer) {
	buf := make([]byte, 32<<10)
	for {
		n, err := d.r.Read(buf)
		if n > 0 {
			d.writing.Store(true)
			_, werr := w.Write(buf[:n])
			d.writing.Store(false)
			d.n.Add(int64(n))
			if werr != nil {
				io.Copy(io.Discard, d.r)
				break
			}
		}
		if err != nil {
			break
		}
	}
	close(d.done)
}

// endDrains waits for restic's output to end; a pipe that stays open
// with nothing read for 3 s (held by a lingering child) is closed.
func (c *resticCmd) endDrains() {
	for _, d := range c.drains {
		last, idle := d.n.Load(), time.Now()
		for done := false; !done; {
			select {
			case <-d.done:
				done = true
			case <-time.After(200 * time.Millisecond):
				if n := d.n.Load(); n != last || d.writing.Load() {
					last, idle = n, time.Now()
				} else if time.Since(idle) > 3*time.Second {
					d.r.Close()
					<-d.done
					done = true
				}
			}
		}
		d.r.Close()
	}
	c.drains = nil
}

func (c *resticCmd) Wait() error {
	err := c.Cmd.Wait()
	c.endDrains()
	if c.done != nil {
		close(c.done)
	}
	if err != nil && errors.Is(context.Cause(c.ctx), errStallCause) {
		err = fmt.Errorf("%w: %w", errStallCause, err)
	}
	c.cancel(nil)
	return err
}

func (c *resticCmd) Run() error {
	if err := c.Start(); err != nil {
		return err
	}
	return c.Wait()
}

// watch samples the process's I/O counters (files, pipes and sockets)
// once a second: progress for OnTransfer, and a stall (nothing moved for
// StallTimeout) cancels the run.
func (c *resticCmd) watch() {
	start := time.Now()
	last := time.Now()
	var lastR, lastW int64 = -1, -1
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
		}
		rd, wr, ok := procIO(c.Process.Pid)
		if !ok {
			continue
		}
		wr -= c.own.Load()
		// Progress is 64 KiB or more since the last progress: a restic
		// waiting on a dead connection still ticks a few bytes.
		if lastR < 0 || rd+wr-lastR-lastW >= 64<<10 {
			lastR, lastW, last = rd, wr, time.Now()
		}
		if c.r.OnTransfer != nil {
			c.r.OnTransfer(Transfer{Op: c.op, Read: rd, Written: wr, Seconds: time.Since(start).Seconds()})
		}
		if c.r.StallTimeout > 0 && time.Since(last) > c.r.StallTimeout {
			c.cancel(errStallCause)
			return
		}
	}
}

// procIO reads rchar and wchar of a process.
func procIO(pid int) (rd, wr int64, ok bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return 0, 0, false
	}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, _ := strings.Cut(line, ": ")
		n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		switch k {
		case "rchar":
			rd = n
		case "wchar":
			wr = n
		}
	}
	return rd, wr, true
}

func (r *Restic) stallError(op string, err error, stderr string) error {
	if !errors.Is(err, errStallCause) {
		return nil
	}
	// restic retries a failing write silently but for a line on stderr:
	// its last one says why (a full disk: "failure", "no space left").
	why := ""
	if msg := strings.TrimSpace(r.scrub(stderr)); msg != "" {
		why = "; restic's last words: " + lastLines(msg, 2)
	}
	return fmt.Errorf("restic %s on %s: %w: no data moved for %s (network cut, the server stopped answering, or its disk is full)%s; restic was stopped, nothing was recorded as done; check the connection and the server, then run the command again (it resumes)",
		op, r.Repository, ErrStalled, r.StallTimeout, why)
}

// recovered runs f; when what a dead run left in the repository stops
// it, that is cleared and f runs once more:
//   - a lock: the stale locks go (restic unlock: those of dead processes
//     of this host, and any older than restic's 30 min lease); a live
//     lock's error stands, restic 0.14 does not wait for locks;
//   - an index file a server that died kept half-written (restic: "load
//     <index/...>: invalid data returned"): restic rebuild-index writes
//     the index anew from the pack files.
func (r *Restic) recovered(ctx context.Context, f func() error) error {
	err := f()
	switch {
	case errors.Is(err, ErrLocked):
		if uerr := r.Unlock(ctx); uerr != nil {
			return errors.Join(err, uerr)
		}
	case err != nil && strings.Contains(err.Error(), "load <index/") && strings.Contains(err.Error(), "invalid data returned"):
		if _, rerr := r.run(ctx, nil, "rebuild-index"); rerr != nil {
			return errors.Join(err, rerr)
		}
	default:
		return err
	}
	return f()
}
