package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runLint runs `dockerbank lint` in-process; no engine is needed.
func runLint(t *testing.T, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	all := append([]string{"--site", t.TempDir(), "lint"}, args...)
	code := Main(all, Streams{In: strings.NewReader(""), Out: &out, Err: &errb})
	return result{out.String(), errb.String(), code}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const lintSample = `services:
  db:
    image: postgres:16.4
    environment:
      POSTGRES_PASSWORD: secret
`

func TestLintExitCodes(t *testing.T) {
	dir := t.TempDir()
	bad := writeFile(t, dir, "broken.yml", "services:\n  a:\n    image: x\n      ports: [1]\n")
	sample := writeFile(t, dir, "compose.yaml", lintSample)
	clean := writeFile(t, dir, "clean.yaml", `services:
  job:
    image: example/job:1.0.0@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
    restart: unless-stopped
    healthcheck: {test: ["CMD", "true"]}
    logging: {options: {max-size: 10m}}
    mem_limit: 64m
`)
	sup := writeFile(t, dir, "suppress.yaml", "suppressions:\n  - rule: DB007\n")
	tests := []struct {
		name     string
		args     []string
		code     int
		contains string
	}{
		{"broken YAML", []string{bad}, 2, "broken.yml:4:12"},
		{"high findings", []string{sample}, 1, "compose.yaml:5:7 high DB007 db:"},
		{"clean", []string{clean}, 0, "0 high, 0 medium, 0 low"},
		{"threshold above findings", []string{"--severity-threshold", "high", clean}, 0, ""},
		{"directory", []string{dir}, 1, "compose.yaml:"},
		{"bad format", []string{"--format", "xml", sample}, 3, "--format"},
		{"bad threshold", []string{"--severity-threshold", "urgent", sample}, 3, "severity"},
		{"suppression without reason", []string{"--suppressions", sup, sample}, 3, "has no reason"},
		{"no such target", []string{filepath.Join(dir, "nope.yml")}, 3, "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runLint(t, tt.args...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tt.code, r.out, r.err)
			}
			if !strings.Contains(r.out+r.err, tt.contains) {
				t.Errorf("output does not contain %q:\nstdout:\n%s\nstderr:\n%s", tt.contains, r.out, r.err)
			}
		})
	}
}

func TestLintFormats(t *testing.T) {
	sample := writeFile(t, t.TempDir(), "compose.yaml", lintSample)
	for _, format := range []string{"json", "sarif"} {
		t.Run(format, func(t *testing.T) {
			r := runLint(t, "--format", format, sample)
			if r.code != 1 {
				t.Fatalf("exit %d, stderr %s", r.code, r.err)
			}
			var v map[string]any
			if err := json.Unmarshal([]byte(r.out), &v); err != nil {
				t.Fatalf("%s output is not JSON: %v\n%s", format, err, r.out)
			}
			if format == "sarif" && v["version"] != "2.1.0" {
				t.Errorf("SARIF version %v", v["version"])
			}
		})
	}
	r := runLint(t, "--rules")
	if r.code != 0 || !strings.Contains(r.out, "DB001") {
		t.Errorf("--rules: exit %d\n%s", r.code, r.out)
	}
}

// TestBankEntriesPassLint: every entry of the embedded bank lints without
// high findings.
func TestBankEntriesPassLint(t *testing.T) {
	entries, err := filepath.Glob(filepath.Join("..", "..", "bank", "entries", "*"))
	if err != nil || len(entries) == 0 {
		t.Fatalf("no bank entries found: %v", err)
	}
	for _, e := range entries {
		t.Run(filepath.Base(e), func(t *testing.T) {
			r := runLint(t, "--severity-threshold", "high", e)
			if r.code != 0 {
				t.Errorf("lint %s: exit %d\n%s%s", e, r.code, r.out, r.err)
			}
		})
	}
}

// TestLintInstance lints an instance's rendered compose file, with its
// secrets as environment, from a site written by hand (no engine needed).
func TestLintInstance(t *testing.T) {
	siteDir := t.TempDir()
	dir := filepath.Join(siteDir, "instances", "demo1")
	if err := os.MkdirAll(filepath.Join(dir, "secrets"), 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "instance.yaml", "name: demo1\nentry: demo\nversion: \"2.0\"\nstate: up\n")
	writeFile(t, filepath.Join(dir, "secrets"), "db_password", "s3cret-value")
	writeFile(t, dir, "compose.yaml", `services:
  db:
    image: postgres:16.4
    environment:
      POSTGRES_PASSWORD: ${DOCKERBANK_SECRET_DB_PASSWORD}
`)
	var out, errb bytes.Buffer
	code := Main([]string{"--site", siteDir, "lint", "--format", "json", "demo1"}, Streams{In: strings.NewReader(""), Out: &out, Err: &errb})
	if code != 1 {
		t.Fatalf("exit %d, want 1 (the db has no volume)\n%s%s", code, out.String(), errb.String())
	}
	if strings.Contains(out.String(), "s3cret-value") {
		t.Error("a secret value appears in the lint output")
	}
	if strings.Contains(out.String(), "DB032") {
		t.Errorf("the instance's secret variable is reported unset:\n%s", out.String())
	}
	if !strings.Contains(out.String(), `"file": "compose.yaml"`) {
		t.Errorf("findings do not name the rendered compose.yaml:\n%s", out.String())
	}
	code = Main([]string{"--site", siteDir, "lint", "nosuchinstance"}, Streams{In: strings.NewReader(""), Out: &out, Err: &errb})
	if code != ExitNotFound {
		t.Errorf("unknown instance: exit %d, want %d", code, ExitNotFound)
	}
}

// TestLintSeparate lints several projects in one run; a broken file is
// named on stderr and makes the exit code 2, the others are still reported.
func TestLintSeparate(t *testing.T) {
	dir := t.TempDir()
	a := writeFile(t, dir, "a.yml", lintSample)
	b := writeFile(t, dir, "b.yml", "services:\n  web:\n    image: nginx\n")
	bad := writeFile(t, dir, "bad.yml", "services:\n  a:\n    image: x\n      ports: [1]\n")
	r := runLint(t, "--separate", a, b)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", r.code, r.out, r.err)
	}
	for _, want := range []string{filepath.ToSlash(filepath.Join(dir, "a.yml")) + ":5:7 high DB007 db:", filepath.ToSlash(filepath.Join(dir, "b.yml")) + ":3:5 high DB002 web:"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("output lacks %q:\n%s", want, r.out)
		}
	}
	r = runLint(t, "--separate", a, bad)
	if r.code != 2 || !strings.Contains(r.err, "bad.yml:4:12") || !strings.Contains(r.out, "DB007") {
		t.Errorf("with a broken file: exit %d (want 2), stderr %q, findings of the others kept: %v", r.code, r.err, strings.Contains(r.out, "DB007"))
	}
}
