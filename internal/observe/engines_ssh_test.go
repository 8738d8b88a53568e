package observe

import (
	"context"
	"fmt"
	"os"
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
	sshBin := testenv.RequireCommand(t, "ssh")
	testenv.RequireCommand(t, "docker") // runs `docker system dial-stdio` behind sshd
	srv := testenv.StartSFTP(t, "")
	port, log := srv.Port, srv.Log
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	wrapper := fmt.Sprintf("#!/bin/sh\nexec %s -F %s \"$@\"\n", sshBin, srv.ClientConfig)
	if err := os.WriteFile(filepath.Join(bin, "ssh"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
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
