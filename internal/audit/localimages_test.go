package audit

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dockerbank/dockerbank/internal/instance/label"
	"github.com/dockerbank/dockerbank/internal/testenv"
)

// localImage is one line of scripts/images/images.list.
type localImage struct {
	tag, dir string
}

func localImages(t *testing.T) (root string, images []localImage) {
	t.Helper()
	root = testenv.RepoRoot(t)
	f, err := os.Open(filepath.Join(root, "scripts", "images", "images.list"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		if len(fields) != 3 {
			t.Fatalf("images.list: %q: want TAG DIRECTORY PACKAGES", sc.Text())
		}
		images = append(images, localImage{tag: fields[0], dir: filepath.Join(root, "scripts", "images", fields[1])})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(images) == 0 {
		t.Fatal("images.list names no image")
	}
	return root, images
}

// neverSuppressed are the rules a local image must pass outright: keys and
// tokens, database files, patient data. A suppression file may not hide them.
var neverSuppressed = map[string]bool{
	"DBK-DATA-001": true, "DBK-DATA-002": true, "DBK-DATA-003": true, "DBK-DATA-005": true, "DBK-DATA-006": true,
}

// TestLocalImagesPassAudit audits every image scripts/images.sh builds, as
// the script does after each build: no finding of low severity or more that
// its suppressions file (reason and expiry required) does not accept, and
// none at all of the data and secret rules.
func TestLocalImagesPassAudit(t *testing.T) {
	testenv.RequireEngine(t)
	_, images := localImages(t)
	for _, img := range images {
		t.Run(img.tag, func(t *testing.T) {
			testenv.RequireImages(t, img.tag)
			var sups []Suppression
			file := filepath.Join(img.dir, "audit-suppressions.yaml")
			if f, err := os.Open(file); err == nil {
				sups, err = LoadSuppressions(f, file)
				f.Close()
				if err != nil {
					t.Fatal(err)
				}
			}
			for _, s := range sups {
				if neverSuppressed[s.Rule] {
					t.Errorf("%s suppresses %s: keys, database files and patient data must be removed from the image, not suppressed", s.Source, s.Rule)
				}
				if s.Expires == "" {
					t.Errorf("%s: suppression of %s has no expiry", s.Source, s.Rule)
				}
			}
			rep, err := Image(t.Context(), FromEngine(cliSaver{}, img.tag), Options{Suppressions: sups})
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range rep.Findings {
				if f.Severity >= SeverityLow {
					t.Errorf("%s %s layer %d %s: %s", f.Severity, f.Rule, f.Layer, f.Path, f.Message)
				}
			}
			for _, f := range rep.Suppressed {
				if neverSuppressed[f.Rule] {
					t.Errorf("suppressed %s at %s", f.Rule, f.Path)
				}
			}
			if out, err := exec.Command("docker", "image", "inspect", "-f", `{{index .Config.Labels "`+label.Recipe+`"}}`, img.tag).Output(); err != nil || strings.TrimSpace(string(out)) == "" {
				t.Errorf("%s has no "+label.Recipe+" label: not built by scripts/images.sh (%v)", img.tag, err)
			}
		})
	}
}

// TestImageScriptRefusesPlantedKey builds a throwaway image with
// scripts/images.sh --build, the path every local image takes: with a
// private key in a layer (removed again by a later layer, which hides it but
// keeps it in the image) the script refuses the image and never tags it;
// without the key it passes.
func TestImageScriptRefusesPlantedKey(t *testing.T) {
	testenv.RequireEngine(t)
	testenv.RequireImages(t, "dockerbank/busybox:1.36")
	root, _ := localImages(t)
	bin := filepath.Join(t.TempDir(), "dockerbank")
	gobuild := exec.Command("go", "build", "-o", bin, "./cmd/dockerbank")
	gobuild.Dir = root
	if out, err := gobuild.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	suffix := strings.ToLower(rand.Text()[:6])
	build := func(t *testing.T, tag string, planted bool) (string, error) {
		t.Helper()
		dir := t.TempDir()
		dockerfile := "FROM dockerbank/busybox:1.36\n"
		if planted {
			if err := os.WriteFile(filepath.Join(dir, "site.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
				t.Fatal(err)
			}
			dockerfile += "COPY site.key /etc/ssl/private/site.key\nRUN rm /etc/ssl/private/site.key\n"
		}
		dockerfile += "USER 65534\nHEALTHCHECK CMD [\"true\"]\nCMD [\"sleep\", \"1\"]\n"
		if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			exec.Command("docker", "image", "rm", tag, tag+"-candidate").Run()
		})
		cmd := exec.CommandContext(t.Context(), "bash", filepath.Join(root, "scripts", "images.sh"), "--build", tag, dir)
		cmd.Env = append(os.Environ(), "DOCKERBANK_BIN="+bin, "DOCKER_BUILDKIT=0")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	exists := func(ref string) bool { return exec.Command("docker", "image", "inspect", ref).Run() == nil }

	t.Run("planted", func(t *testing.T) {
		tag := "dockerbank/audit-planted-" + suffix + ":1"
		out, err := build(t, tag, true)
		if err == nil {
			t.Fatalf("images.sh accepted an image with a private key:\n%s", out)
		}
		for _, want := range []string{"refused " + tag, "DBK-DATA-001", "etc/ssl/private/site.key", "audit-suppressions.yaml"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		if exists(tag) {
			t.Errorf("the refused image was tagged %s", tag)
		}
		if !exists(tag + "-candidate") {
			t.Errorf("the refused image is not kept as %s-candidate for inspection", tag)
		}
	})
	t.Run("clean", func(t *testing.T) {
		tag := "dockerbank/audit-clean-" + suffix + ":1"
		out, err := build(t, tag, false)
		if err != nil {
			t.Fatalf("images.sh refused a clean image: %v\n%s", err, out)
		}
		if !exists(tag) || exists(tag+"-candidate") {
			t.Errorf("after a passed audit: %s exists %v, candidate exists %v", tag, exists(tag), exists(tag+"-candidate"))
		}
	})
}
