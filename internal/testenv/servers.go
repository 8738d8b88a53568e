package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Server is a real server process a test started on loopback: it is
// always stopped when the test ends. Kill, Freeze and Thaw act on the
// whole process tree (sshd's sessions too), to cut a transfer the way a
// crash or a cut network would.
type Server struct {
	Name string
	Port int
	Dir  string // the server's own temporary directory
	// Log is the server's output so far.
	Log  fmt.Stringer
	argv []string
	env  []string
	cmd  *exec.Cmd
	t    testing.TB
}

// FreePort asks the kernel for a free loopback TCP port.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// FileText prints as the current contents of a file.
type FileText string

func (f FileText) String() string {
	data, _ := os.ReadFile(string(f))
	return string(data)
}

func startServer(t testing.TB, name string, port int, dir string, env []string, argv ...string) *Server {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test with a real server (-short)")
	}
	s := &Server{Name: name, Port: port, Dir: dir, argv: argv, env: env, t: t, Log: FileText(filepath.Join(dir, name+".log"))}
	s.Start()
	t.Cleanup(s.Kill)
	return s
}

// Start starts the server (again) and waits until its port answers.
func (s *Server) Start() {
	s.t.Helper()
	logf, err := os.OpenFile(filepath.Join(s.Dir, s.Name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		s.t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(s.argv[0], s.argv[1:]...)
	cmd.Env = append(os.Environ(), s.env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group, so that Kill reaches every child.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start %s: %v", s.Name, err)
	}
	s.cmd = cmd
	go cmd.Wait()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.Port), time.Second)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.Kill()
	s.t.Fatalf("%s did not listen on %d within 90 s: %s", s.Name, s.Port, s.Log)
}

// tree is the server's process and all its descendants.
func (s *Server) tree() []int {
	if s.cmd == nil || s.cmd.Process == nil {
		return nil
	}
	children := map[int][]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		st := string(stat)
		i := strings.LastIndexByte(st, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(st[i+1:])
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		children[ppid] = append(children[ppid], pid)
	}
	var out []int
	queue := []int{s.cmd.Process.Pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		out = append(out, p)
		queue = append(queue, children[p]...)
	}
	return out
}

func (s *Server) signal(sig syscall.Signal) {
	for _, p := range s.tree() {
		syscall.Kill(p, sig)
	}
}

// Kill kills the server and every process it started (SIGKILL): a crash.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	s.signal(syscall.SIGCONT)
	s.signal(syscall.SIGKILL)
	s.cmd = nil
}

// Freeze stops the server and its sessions (SIGSTOP): connections stay
// open and nothing answers, as when the network is cut.
func (s *Server) Freeze() { s.signal(syscall.SIGSTOP) }

// Thaw lets a frozen server run again.
func (s *Server) Thaw() { s.signal(syscall.SIGCONT) }

// SFTP is an OpenSSH server on loopback with its own host key, client
// key, known_hosts and configs; its sftp subsystem serves Root.
type SFTP struct {
	*Server
	// ClientConfig is an ssh_config whose host "offsite" is this server
	// (user root, the client key, the server's host key pinned).
	ClientConfig string
	Root         string
}

// StartSFTP starts sshd as root on a free loopback port. root is where
// repositories go (a directory of its own when "").
func StartSFTP(t testing.TB, root string) *SFTP {
	t.Helper()
	sshd := "/usr/sbin/sshd" // not on every PATH
	if _, err := os.Stat(sshd); err != nil {
		sshd = RequireCommand(t, "sshd")
	}
	keygen := RequireCommand(t, "ssh-keygen")
	RequireCommand(t, "ssh")
	if os.Geteuid() != 0 {
		Missing(t, "sshd with a root login needs root")
	}
	dir := t.TempDir()
	if root == "" {
		root = filepath.Join(dir, "srv")
		if err := os.Mkdir(root, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []string{"host", "client"} {
		if out, err := exec.Command(keygen, "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, k)).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v: %s", err, out)
		}
	}
	read := func(name string) string {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(data))
	}
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("authorized_keys", read("client.pub")+"\n")
	hostPub := strings.Fields(read("host.pub"))
	write("known_hosts", "offsite "+hostPub[0]+" "+hostPub[1]+"\n")
	port := FreePort(t)
	cfg := write("sshd_config", fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %[2]s/host
AuthorizedKeysFile %[2]s/authorized_keys
PidFile %[2]s/sshd.pid
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
`, port, dir))
	client := write("ssh_config", fmt.Sprintf(`Host offsite 127.0.0.1
  HostName 127.0.0.1
  Port %d
  User root
  HostKeyAlias offsite
  IdentityFile %[2]s/client
  IdentitiesOnly yes
  StrictHostKeyChecking yes
  UserKnownHostsFile %[2]s/known_hosts
  LogLevel ERROR
`, port, dir))
	// sshd refuses to start without its privilege separation directory.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, "sshd", port, dir, nil, sshd, "-D", "-e", "-f", cfg)
	return &SFTP{Server: s, ClientConfig: client, Root: root}
}

// Repository is the restic URL of a repository under the server's root.
func (s *SFTP) Repository(name string) string { return "sftp:offsite:" + filepath.Join(s.Root, name) }

// REST is rclone's restic REST server on loopback, over TLS with a test
// CA, behind a user and password.
type REST struct {
	*Server
	User, Password string
	// CACert is the test CA's certificate (PEM); CredentialsFile holds
	// REST_USERNAME and REST_PASSWORD (mode 0600).
	CACert, CredentialsFile string
	Root                    string
}

// StartREST starts `rclone serve restic` on a free loopback port.
func StartREST(t testing.TB) *REST {
	t.Helper()
	rclone := RequireCommand(t, "rclone")
	dir := t.TempDir()
	root := filepath.Join(dir, "srv")
	if err := os.Mkdir(root, 0o700); err != nil {
		t.Fatal(err)
	}
	caFile, certFile, keyFile := writeTLS(t, dir)
	user, pass := "clinic", "rest-"+rand.Text()
	hash, err := bcryptHash(pass)
	if err != nil {
		t.Fatal(err)
	}
	htpasswd := filepath.Join(dir, "htpasswd")
	creds := filepath.Join(dir, "rest.credentials")
	for p, data := range map[string]string{htpasswd: user + ":" + hash + "\n", creds: "REST_USERNAME=" + user + "\nREST_PASSWORD=" + pass + "\n", filepath.Join(dir, "rclone.conf"): ""} {
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	port := FreePort(t)
	s := startServer(t, "rclone", port, dir, []string{"RCLONE_CONFIG=" + filepath.Join(dir, "rclone.conf")},
		rclone, "serve", "restic", root, "--addr", fmt.Sprintf("127.0.0.1:%d", port),
		"--htpasswd", htpasswd, "--cert", certFile, "--key", keyFile)
	return &REST{Server: s, User: user, Password: pass, CACert: caFile, CredentialsFile: creds, Root: root}
}

// Repository is the restic URL of a repository on the server (no
// password: that comes from CredentialsFile).
func (s *REST) Repository(name string) string {
	return fmt.Sprintf("rest:https://%s@127.0.0.1:%d/%s", s.User, s.Port, name)
}

// writeTLS writes a test CA and a server certificate for 127.0.0.1.
func writeTLS(t testing.TB, dir string) (ca, cert, key string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "dockerbank test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srvTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"}}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(srvKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, cert, key = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key")
	for p, b := range map[string]*pem.Block{ca: {Type: "CERTIFICATE", Bytes: caDER}, cert: {Type: "CERTIFICATE", Bytes: srvDER}, key: {Type: "EC PRIVATE KEY", Bytes: keyDER}} {
		if err := os.WriteFile(p, pem.EncodeToMemory(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return ca, cert, key
}
