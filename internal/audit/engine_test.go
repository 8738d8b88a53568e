package audit

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dockerbank/dockerbank/internal/instance/label"
	"github.com/dockerbank/dockerbank/internal/testenv"
)

// cliSaver implements ImageSaver with the docker CLI, for tests only
// (internal/engine implements it with the Engine API).
type cliSaver struct{}

func (cliSaver) SaveImage(ctx context.Context, ref string) (io.ReadCloser, error) {
	cmd := exec.CommandContext(ctx, "docker", "save", ref)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &cmdReader{ReadCloser: out, cmd: cmd, stderr: &stderr}, nil
}

type cmdReader struct {
	io.ReadCloser
	cmd    *exec.Cmd
	stderr *strings.Builder
}

func (r *cmdReader) Close() error {
	io.Copy(io.Discard, r.ReadCloser)
	if err := r.cmd.Wait(); err != nil {
		return fmt.Errorf("docker save: %w: %s", err, r.stderr.String())
	}
	return nil
}

func dockerBuild(t *testing.T, dir, tag string, args ...string) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "docker", append(append([]string{"build", "-q", "-t", tag}, args...), dir)...)
	cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("docker build %s: %v\n%s", tag, err, out)
	}
	t.Cleanup(func() {
		exec.Command("docker", "rmi", "-f", tag).Run()
	})
}

func writeFiles(t *testing.T, root string, files []file) {
	t.Helper()
	for _, f := range files {
		p := filepath.Join(root, filepath.FromSlash(f.name))
		if strings.HasSuffix(f.name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if strings.HasPrefix(filepath.Base(p), ".wh.") {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if f.mode != 0 {
			mode = os.FileMode(f.mode & 0o777)
		}
		if err := os.WriteFile(p, f.content, mode); err != nil {
			t.Fatal(err)
		}
		if f.mode&0o4000 != 0 {
			if err := os.Chmod(p, mode|os.ModeSetuid); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func copyBusybox(t *testing.T, dir string) {
	t.Helper()
	b, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Skipf("no static busybox to build test images with: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "busybox"), b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestEngineImageAudit builds the planted image on the real engine with
// docker build and audits it through docker save: every planted artefact
// must be found in the layer docker put it in, deleted ones with the layer
// that deleted them (by whiteout and by opaque directory).
func TestEngineImageAudit(t *testing.T) {
	testenv.RequireEngine(t)
	layers, _, wants := plantedSpec(t)
	dir := t.TempDir()
	writeFiles(t, filepath.Join(dir, "base"), layers[0].files)
	writeFiles(t, filepath.Join(dir, "app"), layers[1].files)
	copyBusybox(t, dir)
	dockerfile := `FROM scratch
COPY base/ /
COPY app/ /
COPY busybox /bin/busybox
ARG API_TOKEN
RUN ["/bin/busybox", "chmod", "4755", "/usr/bin/passwd"]
RUN ["/bin/busybox", "sh", "-c", "/bin/busybox rm -rf /root/.ssh/id_rsa /app/data/patients.sqlite /app/tmp && /bin/busybox mkdir /app/tmp"]
RUN ["/bin/busybox", "sh", "-c", "/bin/busybox echo https://` + historyToken + `@github.com/example/app.git > /app/clone.log"]
ENV DB_PASSWORD=` + envPassword + ` DATABASE_URL=postgres://app:` + urlPassword + `@db:5432/app PG_MAJOR=13
USER 0:0
EXPOSE 22 8080
LABEL ` + label.Redistributable + `=false
`
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	tag := fmt.Sprintf("dockerbank-audit-test/planted:%d", time.Now().UnixNano())
	dockerBuild(t, dir, tag, "--build-arg", "API_TOKEN="+argToken)

	r, err := Image(t.Context(), FromEngine(cliSaver{}, tag), Options{Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	// Layers of the test image: 0 base, 1 app, 2 busybox, 3 RUN with the
	// build arg (and chmod u+s, as COPY drops setuid bits), 4 deletions,
	// 5 token in the command line.
	layerMap := map[int]int{-1: -1, 0: 0, 1: 1, 2: 3, 3: 4, 4: 5}
	for _, w := range wants {
		w.layer, w.deletedIn = layerMap[w.layer], layerMap[w.deletedIn]
		if w.rule == RuleSetuid {
			w.layer = 3
		}
		t.Run(fmt.Sprintf("%s layer %d %s", w.rule, w.layer, w.path), func(t *testing.T) {
			f, ok := findingFor(r, w)
			if !ok {
				t.Fatalf("not found; findings:\n%s", listFindings(r))
			}
			if f.DeletedInLayer != w.deletedIn {
				t.Errorf("deletedInLayer = %d, want %d", f.DeletedInLayer, w.deletedIn)
			}
		})
	}
	if r.Image.Ref != tag || !strings.HasPrefix(r.Image.ID, "sha256:") {
		t.Errorf("image ref %q id %q", r.Image.Ref, r.Image.ID)
	}
}

// TestEngineCleanImage builds a clean image and expects no high findings.
func TestEngineCleanImage(t *testing.T) {
	testenv.RequireEngine(t)
	dir := t.TempDir()
	copyBusybox(t, dir)
	writeFiles(t, filepath.Join(dir, "rootfs"), []file{
		{name: "etc/os-release", content: []byte(debian12)},
		{name: "app/config.yml", content: []byte("listen: :8080\n")},
	})
	var labels []string
	for _, l := range ociLabels {
		labels = append(labels, "org.opencontainers.image."+l+"=x")
	}
	dockerfile := `FROM scratch
COPY busybox /bin/busybox
COPY rootfs/ /
USER 1000:1000
EXPOSE 8080
HEALTHCHECK CMD ["/bin/busybox", "true"]
LABEL ` + strings.Join(labels, " ") + `
`
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	tag := fmt.Sprintf("dockerbank-audit-test/clean:%d", time.Now().UnixNano())
	dockerBuild(t, dir, tag)
	r, err := Image(t.Context(), FromEngine(cliSaver{}, tag), Options{Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range r.Findings {
		if f.Severity >= SeverityHigh {
			t.Errorf("high finding on the clean image: %s %s: %s", f.Rule, f.Location(), f.Message)
		}
	}
	if ok, reasons := PushVerdict(r, nil); !ok {
		t.Errorf("push refused: %v", reasons)
	}
}
