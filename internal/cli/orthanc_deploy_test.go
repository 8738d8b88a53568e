package cli

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dockerbank/dockerbank/internal/testenv"
)

// TestOrthancDebianDeploys deploys the orthanc entry's version 1.10.1 (the
// image scripts/images.sh builds from Debian's packages) and checks what a
// site relies on: healthy, the REST API and DICOMweb refuse anonymous
// requests and answer the generated admin password, the index is in
// PostgreSQL, and the DICOM listener answers a C-ECHO.
func TestOrthancDebianDeploys(t *testing.T) {
	h := newHarness(t)
	testenv.RequireImages(t, "dockerbank/orthanc:1.10.1")
	name := uniqueName("orthanc")
	h.cleanup(name)
	httpPort, dicomPort := freeTCPPort(t), freeTCPPort(t)
	h.ok("deploy", "orthanc", "--name", name, "--version", "1.10.1",
		"--set", "HTTP_PORT="+httpPort, "--set", "DICOM_PORT="+dicomPort)

	for _, c := range []string{name + "-db-1", name + "-orthanc-1"} {
		if health := docker(t, "inspect", "-f", "{{.State.Health.Status}}", c); health != "healthy" {
			t.Errorf("%s is %s after deploy", c, health)
		}
	}
	pw, err := os.ReadFile(filepath.Join(h.site, "instances", name, "secrets", "admin_password"))
	if err != nil {
		t.Fatal(err)
	}
	base := "http://127.0.0.1:" + httpPort
	get := func(path, user, password string) int {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if user != "" {
			req.SetBasicAuth(user, password)
		}
		c := &http.Client{Timeout: 30 * time.Second}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, path := range []string{"/system", "/instances", "/dicom-web/studies"} {
		if code := get(path, "", ""); code != http.StatusUnauthorized {
			t.Errorf("anonymous GET %s: %d, want 401", path, code)
		}
		if code := get(path, "admin", "wrong-"+string(pw)); code != http.StatusUnauthorized {
			t.Errorf("GET %s with a wrong password: %d, want 401", path, code)
		}
		if code := get(path, "admin", string(pw)); code != http.StatusOK {
			t.Errorf("GET %s as admin: %d, want 200", path, code)
		}
	}
	// The index lives in PostgreSQL (the plugin created its tables there).
	if n := docker(t, "exec", name+"-db-1", "psql", "-U", "orthanc", "-d", "orthanc", "-tAc",
		"select count(*) from information_schema.tables where table_name = 'resources'"); n != "1" {
		t.Errorf("no Orthanc index table in PostgreSQL: %q", n)
	}
	// C-ECHO with dcmtk's echoscu from the image, to the DICOM listener.
	out := docker(t, "exec", name+"-orthanc-1", "echoscu", "-v", "-aec", "ORTHANC", "127.0.0.1", "4242")
	if !strings.Contains(out, "Received Echo Response (Success)") {
		t.Errorf("C-ECHO did not succeed:\n%s", out)
	}
	// The storage volume belongs to the image's fixed orthanc user.
	if owner := docker(t, "exec", name+"-orthanc-1", "stat", "-c", "%u:%g", "/var/lib/orthanc/db"); owner != "999:999" {
		t.Errorf("storage volume owned by %s, want 999:999", owner)
	}
}
