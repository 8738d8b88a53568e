package observe

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dockerbank/dockerbank/internal/engine"
	"github.com/dockerbank/dockerbank/internal/testenv"
)

// TestSSHEngine watches the engine through an ssh:// endpoint: a real
// sshd on 127.0.0.1 (its own config, keys and port), the real ssh client
// and `docker system dial-stdio` on the far side, as for an engine on
// another host. The only test device is a wrapper named ssh first in PATH
// that passes the test's client config (-F) to /usr/bin/ssh, so that
// root's own ~/.ssh is neither read nor written.
func TestSSHEngine(t *testing.T) {
	connect(t)
	sshd := "/usr/sbin/sshd" // not on every PATH
	if _, err := os.Stat(sshd); err != nil {
		sshd = testenv.RequireCommand(t, "sshd")
	}
	sshBin := testenv.RequireCommand(t, "ssh")
	keygen := testenv.RequireCommand(t, "ssh-keygen")
	testenv.RequireCommand(t, "docker") // runs `docker system dial-stdio` behind sshd
	if os.Geteuid() != 0 {
		testenv.Missing(t, "sshd with a root login needs root")
	}
	dir := t.TempDir()
	for _, k := range []string{"host", "client"} {
		if out, err := exec.Command(keygen, "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, k)).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v: %s", err, out)
		}
	}
	pub, err := os.ReadFile(filepath.Join(dir, "client.pub"))
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, data string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("authorized_keys", string(pub), 0o600)
	port := freePort(t)
	cfg := write("sshd_config", fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %s/host
AuthorizedKeysFile %s/authorized_keys
PidFile %s/sshd.pid
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
`, port, dir, dir, dir), 0o600)
	// sshd refuses to start without its privilege separation directory.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}
	daemon := exec.Command(sshd, "-D", "-e", "-f", cfg)
	logf, err := os.Create(filepath.Join(dir, "sshd.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	daemon.Stderr = logf
	log := fileText(filepath.Join(dir, "sshd.log"))
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		daemon.Process.Kill()
		daemon.Wait()
	})
	waitPort(t, port, log)

	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	clientCfg := write("ssh_config", fmt.Sprintf(`Host 127.0.0.1
  IdentityFile %s/client
  IdentitiesOnly yes
  StrictHostKeyChecking no
  UserKnownHostsFile /dev/null
  LogLevel ERROR
`, dir), 0o600)
	write("bin/ssh", fmt.Sprintf("#!/bin/sh\nexec %s -F %s \"$@\"\n", sshBin, clientCfg), 0o755)
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))

	in := testInstance(t)
	id := run(t, in, "main", "sleep 600")
	ctx := t.Context()
	viaSSH := &Collector{Name: "viassh", Instance: in, Connect: func(ctx context.Context) (*engine.Engine, error) {
		return engine.Connect(ctx, engine.Endpoint(fmt.Sprintf("ssh://root@127.0.0.1:%d", port), ""))
	}}
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := viaSSH.Refresh(cctx); err != nil {
		t.Fatalf("collect over ssh: %v\nsshd: %s", err, log)
	}
	if !strings.Contains(log.String(), "Accepted publickey for root") {
		t.Errorf("sshd logged no login: the collection did not go through it:\n%s", log)
	}
	text := gatherAll(t, Collectors{viaSSH})
	for _, want := range []string{
		`container_last_seen{engine="viassh",id="/docker/` + id + `"`,
		`container_memory_working_set_bytes{engine="viassh",id="/docker/` + id + `"`,
		`dockerbank_engine_up{engine="viassh"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("collection over ssh lacks %s:\n%s", want, grepLines(text, in))
		}
	}
	if s := viaSSH.Snapshot(); len(s.Containers) != 1 || !s.Containers[0].Sampled {
		t.Errorf("snapshot over ssh: %+v, want the container, sampled through the stats API", s.Containers)
	}
}

// fileText prints as the current contents of a file.
type fileText string

func (f fileText) String() string {
	data, _ := os.ReadFile(string(f))
	return string(data)
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitPort(t *testing.T, port int, log fmt.Stringer) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("sshd did not listen on %d within 20 s: %s", port, log)
}
