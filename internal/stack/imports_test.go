package stack

import (
	"os/exec"
	"strings"
	"testing"
)

// TestPure: the package and everything it imports stay free of the engine
// adapter, the Docker SDK and the compose engine (see doc.go).
func TestPure(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, bad := range []string{"github.com/dockerbank/dockerbank/internal/engine", "github.com/moby/", "github.com/docker/docker", "github.com/docker/cli", "github.com/docker/compose"} {
			if strings.HasPrefix(dep, bad) {
				t.Errorf("stack depends on %s", dep)
			}
		}
	}
}
