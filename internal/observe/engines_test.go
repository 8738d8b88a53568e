package observe

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
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

	"github.com/prometheus/common/expfmt"

	"github.com/dockerbank/dockerbank/internal/deploy"
	"github.com/dockerbank/dockerbank/internal/engine"
	"github.com/dockerbank/dockerbank/internal/testenv"
)

// TestSeveralEngines starts a second dockerd reachable over TCP with
// mutual TLS, runs a container on it and one on the main engine, and reads
// both in one collection with their engine labels; then stops the second
// engine and shows that the first is still read and engine_up is 0.
func TestSeveralEngines(t *testing.T) {
	main := connect(t)
	dockerd := testenv.RequireCommand(t, "dockerd")
	if os.Geteuid() != 0 {
		testenv.Missing(t, "starting a second dockerd needs root")
	}
	ctx := t.Context()
	_, err := net.InterfaceByName("docker0")
	docker0 := err == nil
	second := startDockerd(t, dockerd)

	// The busybox image, copied from the main engine.
	rc, err := main.SaveImage(ctx, testImage)
	if err != nil {
		t.Fatal(err)
	}
	load := exec.Command("docker", append(second.cliArgs, "load")...)
	load.Stdin = rc
	if out, err := load.CombinedOutput(); err != nil {
		t.Fatalf("docker load into the second engine: %v: %s", err, out)
	}
	rc.Close()

	in := testInstance(t)
	localID := run(t, in, "main", "sleep 600")
	out, err := exec.Command("docker", append(second.cliArgs, "run", "-d", "--network", "none", "--name", in+"-remote",
		"--label", deploy.LabelInstance+"="+in, "--label", "com.docker.compose.service=remote", "--label", deploy.LabelRole+"=app",
		testImage, "sleep", "600")...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker run on the second engine: %v: %s", err, out)
	}
	remoteID := strings.TrimSpace(string(out))

	local := collector(main, in)
	lab2 := &Collector{Name: "lab2", Instance: in, Connect: func(ctx context.Context) (*engine.Engine, error) {
		return engine.Connect(ctx, engine.Endpoint(second.host, second.tlsDir))
	}}
	both := Collectors{local, lab2}
	refresh := func() (errLocal, errLab2 error) { return local.Refresh(ctx), lab2.Refresh(ctx) }

	if el, e2 := refresh(); el != nil || e2 != nil {
		t.Fatalf("collect: local %v, lab2 %v", el, e2)
	}
	text := gatherAll(t, both)
	for _, want := range []string{
		`container_last_seen{engine="local",id="/docker/` + localID + `",image="` + testImage + `",instance="` + in + `",name="/` + in + `-main",role="app",service="main"}`,
		`container_last_seen{engine="lab2",id="/docker/` + remoteID + `",image="` + testImage + `",instance="` + in + `",name="/` + in + `-remote",role="app",service="remote"}`,
		`container_memory_working_set_bytes{engine="lab2",id="/docker/` + remoteID + `"`,
		`dockerbank_engine_up{engine="local"} 1`,
		`dockerbank_engine_up{engine="lab2"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("one collection of both engines lacks %s:\n%s", want, grepLines(text, in))
		}
	}
	if s := lab2.Snapshot(); len(s.Containers) != 1 || s.Containers[0].ID != remoteID || !s.Containers[0].Sampled {
		t.Errorf("lab2 snapshot: %+v, want the remote container, sampled", s.Containers)
	}

	second.stop(t)
	if _, err := net.InterfaceByName("docker0"); err != nil && docker0 {
		t.Errorf("the main engine's docker0 is gone after the second engine ran: %v", err)
	}
	el, e2 := refresh()
	if el != nil {
		t.Errorf("the local engine failed after the second one stopped: %v", el)
	}
	if e2 == nil {
		t.Error("collecting from the stopped engine reported no error")
	}
	text = gatherAll(t, both)
	for _, want := range []string{`dockerbank_engine_up{engine="local"} 1`, `dockerbank_engine_up{engine="lab2"} 0`, `name="/` + in + `-main"`} {
		if !strings.Contains(text, want) {
			t.Errorf("after stopping lab2, metrics lack %s:\n%s", want, grepLines(text, "engine"))
		}
	}
	if strings.Contains(text, remoteID) {
		t.Errorf("the stopped engine's container is still reported:\n%s", grepLines(text, remoteID))
	}
	t.Logf("lab2 down: %v", e2)
}

// gatherAll renders several collectors in the text exposition format.
func gatherAll(t *testing.T, c Collectors) string {
	t.Helper()
	mfs, err := Registry(c).Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

type testDockerd struct {
	cmd     *exec.Cmd
	host    string // tcp://127.0.0.1:PORT
	tlsDir  string // the client's ca.pem, cert.pem, key.pem
	cliArgs []string
	done    chan error
	stopped bool
}

// startDockerd starts a dockerd of its own (data, exec root, containerd
// namespace) listening on 127.0.0.1 with TLS client authentication.
func startDockerd(t *testing.T, dockerd string) *testDockerd {
	t.Helper()
	// Short paths: containerd's socket lives under the exec root.
	dir, err := os.MkdirTemp("", "w6e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	srvDir, cliDir := filepath.Join(dir, "server"), filepath.Join(dir, "client")
	writeCerts(t, srvDir, cliDir)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	host := "tcp://127.0.0.1:" + strconv.Itoa(port)
	ns := "w6e" + strconv.Itoa(port)
	logf, err := os.Create(filepath.Join(dir, "dockerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	// A bridge of its own: with --bridge none, dockerd deletes the host's
	// docker0 interface, which the main engine still uses.
	br := "w6b" + strconv.Itoa(port)
	ipCmd := testenv.RequireCommand(t, "ip")
	for _, args := range [][]string{{"link", "add", "name", br, "type", "bridge"}, {"addr", "add", "10.213.213.1/24", "dev", br}, {"link", "set", br, "up"}} {
		if out, err := exec.Command(ipCmd, args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	t.Cleanup(func() { exec.Command(ipCmd, "link", "del", br).Run() })
	cmd := exec.Command(dockerd, "--data-root", filepath.Join(dir, "root"), "--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", filepath.Join(dir, "dockerd.pid"), "-H", host,
		"--tlsverify", "--tlscacert", filepath.Join(srvDir, "ca.pem"), "--tlscert", filepath.Join(srvDir, "cert.pem"), "--tlskey", filepath.Join(srvDir, "key.pem"),
		"--bridge", br, "--iptables=false", "--ip6tables=false", "--ip-masq=false",
		"--containerd-namespace", ns, "--containerd-plugins-namespace", ns+"p")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start dockerd: %v", err)
	}
	d := &testDockerd{cmd: cmd, host: host, tlsDir: cliDir, done: make(chan error, 1),
		cliArgs: []string{"-H", host, "--tlsverify", "--tlscacert", filepath.Join(cliDir, "ca.pem"),
			"--tlscert", filepath.Join(cliDir, "cert.pem"), "--tlskey", filepath.Join(cliDir, "key.pem")}}
	go func() { d.done <- cmd.Wait(); logf.Close() }()
	t.Cleanup(func() { d.stop(t) })
	deadline := time.Now().Add(60 * time.Second)
	for {
		e, err := engine.Connect(t.Context(), engine.Endpoint(host, cliDir))
		if err == nil {
			e.Close()
			return d
		}
		select {
		case werr := <-d.done:
			log, _ := os.ReadFile(filepath.Join(dir, "dockerd.log"))
			t.Fatalf("second dockerd exited: %v\n%s", werr, lastLines(string(log), 20))
		default:
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "dockerd.log"))
			t.Fatalf("second dockerd does not answer at %s after 60 s: %v\n%s", host, err, lastLines(string(log), 20))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// stop removes the engine's containers and stops it (SIGTERM, then SIGKILL
// after 30 s).
func (d *testDockerd) stop(t *testing.T) {
	if d.stopped {
		return
	}
	d.stopped = true
	if ids, err := exec.Command("docker", append(d.cliArgs, "ps", "-aq")...).Output(); err == nil && len(bytes.TrimSpace(ids)) > 0 {
		exec.Command("docker", append(append(d.cliArgs, "rm", "-f"), strings.Fields(string(ids))...)...).Run()
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(30 * time.Second):
		t.Logf("second dockerd did not stop in 30 s; killing it")
		d.cmd.Process.Kill()
		<-d.done
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// writeCerts makes a CA, a server certificate for 127.0.0.1 and a client
// certificate, in the DOCKER_CERT_PATH layout (ca.pem, cert.pem, key.pem).
func writeCerts(t *testing.T, srvDir, cliDir string) {
	t.Helper()
	for _, d := range []string{srvDir, cliDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	caKey := newKey(t)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "dockerbank test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	issue := func(dir string, serial int64, tmpl *x509.Certificate) {
		key := newKey(t)
		tmpl.SerialNumber, tmpl.NotBefore, tmpl.NotAfter = big.NewInt(serial), now.Add(-time.Hour), now.Add(24*time.Hour)
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		writePEM(t, filepath.Join(dir, "ca.pem"), "CERTIFICATE", caDER)
		writePEM(t, filepath.Join(dir, "cert.pem"), "CERTIFICATE", der)
		writePEM(t, filepath.Join(dir, "key.pem"), "EC PRIVATE KEY", kder)
	}
	issue(srvDir, 2, &x509.Certificate{Subject: pkix.Name{CommonName: "127.0.0.1"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	issue(cliDir, 3, &x509.Certificate{Subject: pkix.Name{CommonName: "dockerbank serve"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
