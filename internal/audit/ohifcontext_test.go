package audit

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/dockerbank/dockerbank/internal/testenv"
)

// npmTarball makes an npm package tarball with the files of @ohif/app that
// the image uses.
func npmTarball(t *testing.T, index string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for name, body := range map[string]string{
		"package/dist/index.html":                     index,
		"package/dist/app-config.js":                  "window.config = {upstream: true};",
		"package/dist/app.bundle.0123456789abcdef.js": "console.log(1)",
		"package/LICENSE":                             "The MIT License (MIT)",
		"package/package.json":                        `{"name": "@ohif/app", "license": "MIT"}`,
	} {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write([]byte(body))
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

func integrity(data []byte) string {
	sum := sha512.Sum512(data)
	return "sha512-" + base64.StdEncoding.EncodeToString(sum[:])
}

// TestOHIFContextChecksIntegrity runs scripts/images/ohif/context.sh
// against a registry of the test's own (NPM_REGISTRY): it downloads the
// tarball only when the registry's dist.integrity and the tarball's sha512
// both equal the integrity pinned in package.txt, says what it downloaded,
// builds later contexts from the cache without the registry, and refuses a
// registry or a tarball that differs.
func TestOHIFContextChecksIntegrity(t *testing.T) {
	testenv.RequireCommand(t, "curl")
	testenv.RequireCommand(t, "jq")
	root := testenv.RepoRoot(t)
	good := npmTarball(t, "<html>OHIF</html>")
	bad := npmTarball(t, "<html>tampered</html>")
	pinned := integrity(good)

	var served atomic.Value // the tarball the registry serves
	served.Store(good)
	var published atomic.Value // the registry's dist.integrity
	published.Store(pinned)
	var downloads atomic.Int32
	reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.EscapedPath() {
		case "/@ohif%2Fapp/3.13.2":
			fmt.Fprintf(w, `{"name": "@ohif/app", "version": "3.13.2", "dist": {"integrity": %q, "tarball": %q}}`,
				published.Load(), "http://"+r.Host+"/@ohif/app/-/app-3.13.2.tgz")
		case "/@ohif/app/-/app-3.13.2.tgz":
			downloads.Add(1)
			w.Write(served.Load().([]byte))
		default:
			http.NotFound(w, r)
		}
	}))
	defer reg.Close()

	// The script with a package.txt pinning the test's tarball.
	dir := t.TempDir()
	script, err := os.ReadFile(filepath.Join(root, "scripts", "images", "ohif", "context.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "context.sh"), script, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "package.txt"), []byte("# test\n@ohif/app 3.13.2 "+pinned+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	cached := filepath.Join(work, "npm", "@ohif_app-3.13.2.tgz")
	run := func(registry string) (string, string, error) {
		ctx := t.TempDir()
		cmd := exec.Command(filepath.Join(dir, "context.sh"), ctx)
		cmd.Env = append(os.Environ(), "NPM_REGISTRY="+registry, "DOCKERBANK_IMAGE_WORK="+work)
		out, err := cmd.CombinedOutput()
		return ctx, string(out), err
	}

	t.Run("first build downloads and checks", func(t *testing.T) {
		ctx, out, err := run(reg.URL)
		if err != nil {
			t.Fatalf("context.sh: %v\n%s", err, out)
		}
		if !strings.Contains(out, "downloaded @ohif/app@3.13.2") || !strings.Contains(out, "matches the registry's dist.integrity") {
			t.Errorf("context.sh does not say what it downloaded:\n%s", out)
		}
		if b, err := os.ReadFile(filepath.Join(ctx, "dist", "index.html")); err != nil || string(b) != "<html>OHIF</html>" {
			t.Errorf("dist/index.html: %q, %v", b, err)
		}
		if _, err := os.Stat(filepath.Join(ctx, "dist", "app-config.js")); !os.IsNotExist(err) {
			t.Errorf("upstream's app-config.js is in the context (%v); the image has its own", err)
		}
		if b, err := os.ReadFile(filepath.Join(ctx, "package", "LICENSE")); err != nil || !strings.Contains(string(b), "MIT") {
			t.Errorf("package/LICENSE: %q, %v", b, err)
		}
		if b, err := os.ReadFile(cached); err != nil || !bytes.Equal(b, good) {
			t.Errorf("cache %s does not hold the tarball (%v)", cached, err)
		}
	})
	t.Run("later builds need no registry", func(t *testing.T) {
		n := downloads.Load()
		ctx, out, err := run("http://127.0.0.1:1") // nothing listens there
		if err != nil {
			t.Fatalf("context.sh from the cache: %v\n%s", err, out)
		}
		if !strings.Contains(out, "from the cache") {
			t.Errorf("context.sh does not say it used the cache:\n%s", out)
		}
		if _, err := os.Stat(filepath.Join(ctx, "dist", "index.html")); err != nil {
			t.Error(err)
		}
		if downloads.Load() != n {
			t.Errorf("the registry was asked again")
		}
	})
	t.Run("a tampered cache is downloaded again", func(t *testing.T) {
		if err := os.WriteFile(cached, bad, 0o644); err != nil {
			t.Fatal(err)
		}
		_, out, err := run(reg.URL)
		if err != nil {
			t.Fatalf("context.sh: %v\n%s", err, out)
		}
		if b, _ := os.ReadFile(cached); !bytes.Equal(b, good) {
			t.Errorf("the tampered cache file stayed:\n%s", out)
		}
	})
	os.Remove(cached)
	t.Run("a tarball that differs is refused", func(t *testing.T) {
		served.Store(bad)
		defer served.Store(good)
		ctx, out, err := run(reg.URL)
		if err == nil || !strings.Contains(out, "refused") {
			t.Errorf("context.sh accepted a tarball whose sha512 differs from the integrity: %v\n%s", err, out)
		}
		if _, err := os.Stat(cached); !os.IsNotExist(err) {
			t.Errorf("the refused tarball is in the cache")
		}
		if _, err := os.Stat(filepath.Join(ctx, "dist", "index.html")); !os.IsNotExist(err) {
			t.Errorf("the refused tarball's files are in the context")
		}
	})
	t.Run("a registry that publishes another integrity is refused", func(t *testing.T) {
		published.Store(integrity(bad))
		defer published.Store(pinned)
		_, out, err := run(reg.URL)
		if err == nil || !strings.Contains(out, "refusing the download") {
			t.Errorf("context.sh went on with another integrity on the registry: %v\n%s", err, out)
		}
		if _, err := os.Stat(cached); !os.IsNotExist(err) {
			t.Errorf("a tarball is in the cache")
		}
	})
}
