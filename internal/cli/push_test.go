package cli

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/dockerbank/dockerbank/internal/instance/label"
	"github.com/dockerbank/dockerbank/internal/testenv"
)

// buildImage builds a small image from a Dockerfile and extra files.
func buildImage(t *testing.T, tag, dockerfile string, files map[string]string) {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644)
	for name, content := range files {
		os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600)
	}
	if out, err := exec.Command("docker", "build", "-q", "-t", tag, dir).CombinedOutput(); err != nil {
		t.Fatalf("docker build %s: %v\n%s", tag, err, out)
	}
	t.Cleanup(func() { exec.Command("docker", "image", "rm", "-f", tag).Run() })
}

// The licence guard: push refuses images that may not leave the site and
// pushes the others, proven against a registry on loopback.
func TestPushGuard(t *testing.T) {
	testenv.RequireImages(t, "dockerbank/busybox:1.36")
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	h := &harness{t: t, site: t.TempDir()}
	id := strings.ToLower(uniqueName("p"))

	clean := host + "/dbtest/clean-" + id + ":1.0"
	buildImage(t, clean, "FROM dockerbank/busybox:1.36\nUSER 1000\nLABEL org.opencontainers.image.title=clean\n", nil)
	key := host + "/dbtest/key-" + id + ":1.0"
	buildImage(t, key, "FROM dockerbank/busybox:1.36\nCOPY id_rsa /root/.ssh/id_rsa\n",
		map[string]string{"id_rsa": "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n-----END OPENSSH PRIVATE KEY-----\n"})
	licensed := host + "/dbtest/redcap-" + id + ":15"
	buildImage(t, licensed, "FROM dockerbank/busybox:1.36\nUSER 1000\nLABEL "+label.Redistributable+"=false\n", nil)

	tags := func(repo string) int {
		resp, err := http.Get(srv.URL + "/v2/" + repo + "/tags/list")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tt := range []struct {
		ref, repo, why string
	}{
		{key, "dbtest/key-" + id, "private key"},
		{licensed, "dbtest/redcap-" + id, "redistributable=false"},
	} {
		r := h.run("push", tt.ref)
		if r.code != ExitRefused || !strings.Contains(r.err, "must not leave this site") || !strings.Contains(r.err, tt.why) {
			t.Errorf("push %s: exit %d, stderr %s", tt.ref, r.code, r.err)
		}
		if code := tags(tt.repo); code != http.StatusNotFound {
			t.Errorf("the registry has %s after a refused push (status %d)", tt.repo, code)
		}
	}
	h.ok("push", clean)
	if code := tags("dbtest/clean-" + id); code != http.StatusOK {
		t.Errorf("the clean image is not in the registry after push (status %d)", code)
	}
}
