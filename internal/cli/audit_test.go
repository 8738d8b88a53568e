package cli

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// imageTarball writes a one-layer docker save tarball holding files.
func imageTarball(t *testing.T, files map[string]string, cfg v1.Config) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for n, c := range files {
		tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(c)), Typeflag: tar.TypeReg})
		tw.Write([]byte(c))
	}
	tw.Close()
	b := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.Append(empty.Image, mutate.Addendum{Layer: layer, History: v1.History{CreatedBy: "COPY . /"}})
	if err != nil {
		t.Fatal(err)
	}
	if img, err = mutate.Config(img, cfg); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "image.tar")
	if err := tarball.WriteToFile(p, name.MustParseReference("test/image:1"), img); err != nil {
		t.Fatal(err)
	}
	return p
}

func runCLI(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := Main(args, Streams{In: strings.NewReader(""), Out: &out, Err: &errb})
	return code, out.String(), errb.String()
}

func TestAuditImageCommand(t *testing.T) {
	leaky := imageTarball(t, map[string]string{
		"app/.env":   "DB_PASSWORD=S3cr3tPlanted\n",
		"etc/x.conf": "x=1\n",
	}, v1.Config{User: "app"})
	clean := imageTarball(t, map[string]string{"app/README": "hello\n"}, v1.Config{User: "1000",
		Healthcheck: &v1.HealthConfig{Test: []string{"CMD", "true"}}})
	supp := filepath.Join(t.TempDir(), "supp.yaml")
	os.WriteFile(supp, []byte("version: 1\nsuppressions:\n  - rule: DBK-DATA-001\n    path: app/.env\n    reason: test fixture\n"), 0o644)
	badSupp := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(badSupp, []byte("version: 1\nsuppressions:\n  - rule: DBK-DATA-001\n"), 0o644)
	notTar := filepath.Join(t.TempDir(), "x.tar")
	os.WriteFile(notTar, []byte("nope"), 0o644)

	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"findings exit 1", []string{"audit", "image", "--input", leaky}, 1, "DBK-DATA-001", ""},
		{"threshold critical passes", []string{"audit", "image", "--input", leaky, "--severity-threshold", "critical"}, 0, "DBK-DATA-001", ""},
		{"clean exit 0", []string{"audit", "image", "--input", clean}, 0, "Findings: 0 critical, 0 high", ""},
		{"json", []string{"audit", "image", "--input", leaky, "--format", "json"}, 1, `"schemaVersion": 1`, ""},
		{"global --json", []string{"--json", "audit", "image", "--input", leaky}, 1, `"findings"`, ""},
		{"sarif", []string{"audit", "image", "--input", leaky, "--format", "sarif"}, 1, `"version": "2.1.0"`, ""},
		{"suppressed", []string{"audit", "image", "--input", leaky, "--suppressions", supp}, 0, "SUPPRESSED DBK-DATA-001", ""},
		{"bad suppressions exit 2", []string{"audit", "image", "--input", leaky, "--suppressions", badSupp}, 2, "", "bad.yaml:3: reason is required"},
		{"unreadable exit 2", []string{"audit", "image", "--input", notTar}, 2, "", "x.tar"},
		{"no image exit 3", []string{"audit", "image"}, 3, "", "REF or --input"},
		{"both exit 3", []string{"audit", "image", "x:1", "--input", leaky}, 3, "", "not both"},
		{"bad format exit 3", []string{"audit", "image", "--input", leaky, "--format", "xml"}, 3, "", "--format"},
		{"bad threshold exit 3", []string{"audit", "image", "--input", leaky, "--severity-threshold", "severe"}, 3, "", "severity"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCLI(tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out, errOut)
			}
			if !strings.Contains(out, tc.stdout) {
				t.Errorf("stdout lacks %q:\n%s", tc.stdout, out)
			}
			if !strings.Contains(errOut, tc.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.stderr, errOut)
			}
			if strings.Contains(out, "S3cr3tPlanted") {
				t.Error("secret printed in full")
			}
		})
	}
	f, err := os.Open(leaky)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var stdout, stderr bytes.Buffer
	if code := Main([]string{"audit", "image", "--input", "-"}, Streams{In: f, Out: &stdout, Err: &stderr}); code != 1 || !strings.Contains(stdout.String(), "DBK-DATA-001") {
		t.Errorf("--input - (stdin): exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	_, out, _ := runCLI("audit", "image", "--input", leaky, "--format", "json")
	var doc map[string]any
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Errorf("json output does not parse: %v", err)
	}
}
