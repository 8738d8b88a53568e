package testenv

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ErrMissing marks a prerequisite of a private engine that the machine
// lacks (dockerd, root, ip): the caller reports it with Missing.
var ErrMissing = errors.New("prerequisite missing")

// Dockerd is a Docker engine of a test's own: a second dockerd with its own
// data root, exec root, pidfile, unix socket, containerd namespace, bridge
// (created by the test with its own subnet) and address pool. Tests that
// change engine-wide state (swarm init/leave, daemon settings, networks)
// run against one, never against the engine that runs a user's instances.
//
// It never touches the host's docker0: dockerd with --bridge none deletes
// docker0, so it gets a bridge of its own instead (TestPrivateEngine shows
// docker0 and the main engine survive it).
type Dockerd struct {
	// Host is the engine's endpoint for DOCKER_HOST: its unix socket, or
	// tcp://127.0.0.1:PORT with TLS (then TLSDir holds the client's
	// ca.pem, cert.pem and key.pem).
	Host   string
	TLSDir string
	// Socket is the engine's unix socket (also open with TLS).
	Socket string
	// Dir holds everything of the engine; Stop removes it.
	Dir string

	n       int // second octet of its subnets: 10.n.0.0/16 (bridge), 10.n+1.0.0/16 (pool)
	cmd     *exec.Cmd
	done    chan error
	bridges []string
	iptRule []string // the command that deletes its FORWARD rule
	mu      sync.Mutex
	stopped bool
	loaded  map[string]bool
}

// DockerdOptions controls StartDockerd.
type DockerdOptions struct {
	// TLS makes the engine listen on 127.0.0.1 with mutual TLS too.
	TLS bool
}

// StartDockerd starts a private engine and waits until it answers. Its
// errors wrap ErrMissing when the machine cannot run one.
func StartDockerd(ctx context.Context, o DockerdOptions) (_ *Dockerd, err error) {
	dockerd, lerr := exec.LookPath("dockerd")
	if lerr != nil {
		return nil, fmt.Errorf("%w: dockerd is not installed (scripts/deps.sh installs it)", ErrMissing)
	}
	ipCmd, lerr := exec.LookPath("ip")
	if lerr != nil {
		return nil, fmt.Errorf("%w: the ip command is not installed (iproute2)", ErrMissing)
	}
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("%w: starting a private dockerd needs root", ErrMissing)
	}
	// Short paths: containerd's socket lives under the exec root and unix
	// socket paths are limited to 108 bytes.
	dir, err := os.MkdirTemp("", "dbe-")
	if err != nil {
		return nil, err
	}
	d := &Dockerd{Dir: dir, Socket: filepath.Join(dir, "docker.sock"), done: make(chan error, 1), loaded: map[string]bool{}}
	defer func() {
		if err != nil {
			d.Stop()
		}
	}()
	d.Host = "unix://" + d.Socket
	n, err := freeNet()
	if err != nil {
		return nil, err
	}
	d.n = n
	// A bridge of its own, on a subnet of its own.
	br := fmt.Sprintf("dbe%d", n)
	for _, args := range [][]string{{"link", "add", "name", br, "type", "bridge"}, {"addr", "add", fmt.Sprintf("10.%d.0.1/24", n), "dev", br}, {"link", "set", br, "up"}} {
		if out, err := exec.CommandContext(ctx, ipCmd, args...).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
		if args[1] == "add" && args[0] == "link" {
			d.bridges = append(d.bridges, br)
		}
	}
	// The engine runs with --iptables=false (two engines must not share
	// the DOCKER chains), and the host's FORWARD policy (set by the main
	// engine) drops bridged traffic: accept the traffic among the private
	// engine's own subnets, and nothing else; Stop deletes the rule.
	if ipt, err := exec.LookPath("iptables"); err == nil {
		subnets := fmt.Sprintf("10.%d.0.0/15", n)
		rule := []string{"FORWARD", "-s", subnets, "-d", subnets, "-j", "ACCEPT", "-m", "comment", "--comment", "dockerbank test engine " + dir}
		if out, err := exec.CommandContext(ctx, ipt, append([]string{"-I"}, rule...)...).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("iptables -I %s: %v: %s", strings.Join(rule, " "), err, out)
		}
		d.iptRule = append([]string{ipt, "-D"}, rule...)
	}
	ns := "dbe" + strconv.Itoa(n)
	args := []string{"--data-root", filepath.Join(dir, "root"), "--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", filepath.Join(dir, "dockerd.pid"), "-H", d.Host,
		"--bridge", br, "--iptables=false", "--ip6tables=false", "--ip-masq=false",
		// Networks the engine creates (compose's, swarm's) come from a
		// pool of its own, apart from the main engine's 172.x/192.168.x.
		"--default-address-pool", fmt.Sprintf("base=10.%d.0.0/16,size=24", n+1),
		"--containerd-namespace", ns, "--containerd-plugins-namespace", ns + "p"}
	if o.TLS {
		srvDir, cliDir := filepath.Join(dir, "server"), filepath.Join(dir, "client")
		if err := writeCerts(srvDir, cliDir); err != nil {
			return nil, err
		}
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		d.Host, d.TLSDir = "tcp://127.0.0.1:"+strconv.Itoa(port), cliDir
		args = append(args, "-H", d.Host, "--tlsverify", "--tlscacert", filepath.Join(srvDir, "ca.pem"),
			"--tlscert", filepath.Join(srvDir, "cert.pem"), "--tlskey", filepath.Join(srvDir, "key.pem"))
	}
	logf, err := os.Create(filepath.Join(dir, "dockerd.log"))
	if err != nil {
		return nil, err
	}
	d.cmd = exec.Command(dockerd, args...)
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	if err := d.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start dockerd: %w", err)
	}
	go func() { d.done <- d.cmd.Wait(); logf.Close() }()
	deadline := time.Now().Add(90 * time.Second)
	for {
		_, err := d.api(ctx, http.MethodGet, "/_ping", nil)
		if err == nil {
			return d, nil
		}
		select {
		case werr := <-d.done:
			d.done <- werr
			return nil, fmt.Errorf("private dockerd exited: %v\n%s", werr, d.LogTail(20))
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("private dockerd does not answer at %s after 90 s: %v\n%s", d.Socket, err, d.LogTail(20))
		}
	}
}

// freeNet picks a second octet n such that neither 10.n.0.0/16 nor
// 10.(n+1).0.0/16 is routed on this host yet (the bridge and the address
// pool), starting at a number derived from the process id so that two
// test processes rarely pick the same.
func freeNet() (int, error) {
	out, err := exec.Command("ip", "-4", "route").Output()
	if err != nil {
		return 0, fmt.Errorf("ip -4 route: %w", err)
	}
	routes := string(out)
	used := func(n int) bool { return strings.Contains(routes, fmt.Sprintf("10.%d.", n)) }
	start := 100 + (os.Getpid()%50)*2
	for i := 0; i < 50; i++ {
		n := 100 + (start-100+2*i)%100
		if !used(n) && !used(n+1) {
			if _, err := net.InterfaceByName(fmt.Sprintf("dbe%d", n)); err != nil {
				return n, nil
			}
		}
	}
	return 0, errors.New("no free 10.x.0.0/16 for a private engine")
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// CLIArgs are the docker CLI's arguments that reach the engine.
func (d *Dockerd) CLIArgs() []string {
	if d.TLSDir == "" {
		return []string{"-H", d.Host}
	}
	return []string{"-H", d.Host, "--tlsverify", "--tlscacert", filepath.Join(d.TLSDir, "ca.pem"),
		"--tlscert", filepath.Join(d.TLSDir, "cert.pem"), "--tlskey", filepath.Join(d.TLSDir, "key.pem")}
}

// Env is the environment that points the docker CLI and dockerbank at the
// engine (over its unix socket).
func (d *Dockerd) Env() []string {
	return []string{"DOCKER_HOST=unix://" + d.Socket, "DOCKER_TLS_VERIFY=", "DOCKER_CERT_PATH=", "DOCKER_CONTEXT="}
}

// Docker runs the docker CLI against the engine.
func (d *Dockerd) Docker(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "docker", append([]string{"-H", "unix://" + d.Socket}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("docker %s on the private engine: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// LogTail returns the last n lines of the engine's log.
func (d *Dockerd) LogTail(n int) string {
	data, _ := os.ReadFile(filepath.Join(d.Dir, "dockerd.log"))
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// unixClient talks HTTP over a unix socket.
func unixClient(sock string) *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, "unix", sock)
	}}}
}

func (d *Dockerd) api(ctx context.Context, method, path string, body io.Reader) ([]byte, error) {
	return apiCall(ctx, d.Socket, method, path, body)
}

func apiCall(ctx context.Context, sock, method, path string, body io.Reader) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://docker"+path, body)
	if err != nil {
		return nil, err
	}
	switch body.(type) {
	case nil:
	case jsonReader:
		req.Header.Set("Content-Type", "application/json")
	default:
		req.Header.Set("Content-Type", "application/x-tar")
	}
	res, err := unixClient(sock).Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	if res.StatusCode >= 300 {
		return data, fmt.Errorf("%s %s: %s: %s", method, path, res.Status, bytes.TrimSpace(data))
	}
	return data, nil
}

// MainSocket is the unix socket of the engine the tests otherwise use
// (DOCKER_HOST when it is unix://, else /var/run/docker.sock).
func MainSocket() string {
	if mainSocket != "" {
		return mainSocket // fixed by Main, before a test points DOCKER_HOST elsewhere
	}
	if h := os.Getenv("DOCKER_HOST"); strings.HasPrefix(h, "unix://") {
		return strings.TrimPrefix(h, "unix://")
	}
	return "/var/run/docker.sock"
}

var mainSocket string

// LoadImages copies images from the main engine into the private one
// through the engines' APIs (GET /images/get, POST /images/load: docker
// save | docker load without a file), skipping those it loaded already.
// A missing image on the main engine wraps ErrMissing.
func (d *Dockerd) LoadImages(ctx context.Context, refs ...string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	q := url.Values{}
	for _, ref := range refs {
		if d.loaded[ref] {
			continue
		}
		if _, err := apiCall(ctx, MainSocket(), http.MethodGet, "/images/"+ref+"/json", nil); err != nil {
			return fmt.Errorf("%w: image %s is not on the main engine (run scripts/images.sh): %v", ErrMissing, ref, err)
		}
		q.Add("names", ref)
	}
	if len(q) == 0 {
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker/images/get?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	res, err := unixClient(MainSocket()).Do(req)
	if err != nil {
		return fmt.Errorf("save images from the main engine: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(res.Body)
		return fmt.Errorf("save images from the main engine: %s: %s", res.Status, msg)
	}
	out, err := d.api(ctx, http.MethodPost, "/images/load?quiet=1", res.Body)
	if err != nil {
		return fmt.Errorf("load images into the private engine: %w", err)
	}
	// The answer is a JSON stream; a failed load says so in errorDetail.
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var m struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(sc.Bytes(), &m) == nil && m.Error != "" {
			return fmt.Errorf("load images into the private engine: %s", m.Error)
		}
	}
	for _, ref := range q["names"] {
		d.loaded[ref] = true
	}
	return nil
}

// Stop removes the engine's containers and networks, leaves its swarm,
// stops it (SIGTERM, SIGKILL after 30 s), deletes its bridges and removes
// its directory. It may be called more than once.
func (d *Dockerd) Stop() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped {
		return nil
	}
	d.stopped = true
	var errs []error
	if d.cmd != nil && d.cmd.Process != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		if _, err := d.api(ctx, http.MethodGet, "/_ping", nil); err == nil {
			d.Docker(ctx, "swarm", "leave", "--force")
			if ids, err := d.Docker(ctx, "ps", "-aq"); err == nil && strings.TrimSpace(ids) != "" {
				if _, err := d.Docker(ctx, append([]string{"rm", "-f", "-v"}, strings.Fields(ids)...)...); err != nil {
					errs = append(errs, err)
				}
			}
			// Networks go through the engine, so that their bridges go too.
			if nets, err := d.Docker(ctx, "network", "ls", "-q", "--filter", "type=custom"); err == nil {
				for _, id := range strings.Fields(nets) {
					d.Docker(ctx, "network", "rm", id)
				}
			}
		}
		cancel()
		d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(30 * time.Second):
			d.cmd.Process.Kill()
			<-d.done
		}
	}
	for _, br := range d.bridges {
		if out, err := exec.Command("ip", "link", "del", br).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("delete bridge %s: %v: %s", br, err, out))
		}
	}
	if len(d.iptRule) > 0 {
		if out, err := exec.Command(d.iptRule[0], d.iptRule[1:]...).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("delete the FORWARD rule: %v: %s", err, out))
		}
	}
	unmountUnder(d.Dir)
	if err := os.RemoveAll(d.Dir); err != nil {
		errs = append(errs, fmt.Errorf("remove the private engine's directory: %w", err))
	}
	return errors.Join(errs...)
}

// unmountUnder detaches what a killed engine may have left mounted below
// dir (overlay layers, network namespaces), deepest first.
func unmountUnder(dir string) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	var mps []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			mps = append(mps, f[4])
		}
	}
	for i := len(mps) - 1; i >= 0; i-- {
		syscall.Unmount(mps[i], syscall.MNT_DETACH)
	}
}

// SwarmInit makes the private engine a single-node swarm listening on
// loopback. Its docker_gwbridge is created first on a bridge and subnet of
// the engine's own, so that swarm creates no host-wide docker_gwbridge.
func (d *Dockerd) SwarmInit(ctx context.Context) error {
	n := d.n
	gw := fmt.Sprintf("dbe%dg", n)
	if _, err := d.Docker(ctx, "network", "create", "--driver", "bridge", "--subnet", fmt.Sprintf("10.%d.255.0/24", n),
		"--opt", "com.docker.network.bridge.name="+gw, "--opt", "com.docker.network.bridge.enable_icc=false",
		"--opt", "com.docker.network.bridge.enable_ip_masquerade=false", "docker_gwbridge"); err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	if _, err := d.Docker(ctx, "swarm", "init", "--advertise-addr", "127.0.0.1",
		"--listen-addr", "127.0.0.1:"+strconv.Itoa(port), "--data-path-port", strconv.Itoa(5000+n)); err != nil {
		return err
	}
	return nil
}

// Engine returns a private engine for one test, stopped (and its data
// removed) when the test ends. A machine that cannot run one makes the
// test Missing.
func Engine(t testing.TB, o DockerdOptions) *Dockerd {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test on a private engine (-short)")
	}
	start := time.Now()
	d, err := StartDockerd(t.Context(), o)
	if errors.Is(err, ErrMissing) {
		Missing(t, "%v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Stop(); err != nil {
			t.Errorf("stop the private engine: %v", err)
		}
	})
	t.Logf("private engine %s up in %.1fs", d.Host, time.Since(start).Seconds())
	return d
}

// Load copies images from the main engine into d for a test (see
// LoadImages), Missing when the main engine lacks one.
func Load(t testing.TB, d *Dockerd, refs ...string) {
	t.Helper()
	start := time.Now()
	err := d.LoadImages(t.Context(), refs...)
	if errors.Is(err, ErrMissing) {
		Missing(t, "%v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("loaded %s into the private engine in %.1fs", strings.Join(refs, ", "), time.Since(start).Seconds())
}

var shared struct {
	sync.Mutex
	d    *Dockerd
	err  error
	main bool // Main runs: it stops the shared engine
}

// SharedEngine returns the package's private engine, started at its first
// use and stopped by Main after the package's tests: the package's
// TestMain must call Main.
func SharedEngine(t testing.TB, images ...string) *Dockerd {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test on a private engine (-short)")
	}
	shared.Lock()
	if !shared.main {
		shared.Unlock()
		t.Fatal("testenv.SharedEngine needs the package's TestMain to call testenv.Main (which stops the engine)")
	}
	if shared.d == nil && shared.err == nil {
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		shared.d, shared.err = StartDockerd(ctx, DockerdOptions{})
		cancel()
		if shared.err == nil {
			t.Logf("private engine %s up in %.1fs", shared.d.Host, time.Since(start).Seconds())
		}
	}
	d, err := shared.d, shared.err
	shared.Unlock()
	if errors.Is(err, ErrMissing) {
		Missing(t, "%v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(images) > 0 {
		Load(t, d, images...)
	}
	return d
}

func stopShared() error {
	shared.Lock()
	defer shared.Unlock()
	if shared.d == nil {
		return nil
	}
	err := shared.d.Stop()
	shared.d = nil
	return err
}
