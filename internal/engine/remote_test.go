package engine

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestEndpoint(t *testing.T) {
	tests := map[string]Options{
		"unix:///run/lab/docker.sock": {Host: "unix:///run/lab/docker.sock"},
		"tcp://lab2:2376":             {Host: "tcp://lab2:2376", TLSDir: "/etc/certs"},
		"ssh://ops@lab3":              {Host: "ssh://ops@lab3"},
		"lab4":                        {Context: "lab4"},
	}
	for in, want := range tests {
		tls := ""
		if in == "tcp://lab2:2376" {
			tls = "/etc/certs"
		}
		got := Endpoint(in, tls)
		if d := cmp.Diff([3]string{want.Host, want.Context, want.TLSDir}, [3]string{got.Host, got.Context, got.TLSDir}); d != "" {
			t.Errorf("Endpoint(%q) (-want +got):\n%s", in, d)
		}
	}
}

// An unknown context is an error, not an exit of the process (the docker
// CLI's Client() would call os.Exit(1)).
func TestConnectUnknownContext(t *testing.T) {
	_, err := Connect(t.Context(), Options{Context: "dockerbank-no-such-context"})
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "dockerbank-no-such-context") {
		t.Fatalf("Connect with an unknown context: %v; want ErrUnreachable naming the context", err)
	}
}

func TestConnectMissingTLSFiles(t *testing.T) {
	_, err := Connect(t.Context(), Endpoint("tcp://127.0.0.1:1", t.TempDir()))
	if err == nil || !strings.Contains(err.Error(), "ca.pem") || !strings.Contains(err.Error(), "DOCKER_CERT_PATH") {
		t.Fatalf("Connect with an empty TLS dir: %v; want an error naming ca.pem and the layout", err)
	}
}
