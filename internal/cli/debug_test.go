package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dockerbank/dockerbank/internal/instance/label"
	"github.com/dockerbank/dockerbank/internal/testenv"
)

func TestDebugArgs(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		dash    int
		cmd     []string
		wantErr string
	}{
		{"shell", []string{"demo", "app"}, -1, []string{}, ""},
		{"command", []string{"demo", "app", "ps", "-o", "pid"}, 2, []string{"ps", "-o", "pid"}, ""},
		{"command without --", []string{"demo", "app", "ps"}, -1, nil, "put the command after --"},
		{"-- too early", []string{"demo", "ps"}, 1, nil, "INSTANCE SERVICE before --"},
		{"nothing after --", []string{"demo", "app"}, 2, nil, "no command after --"},
		{"no service", []string{"demo"}, -1, nil, "needs INSTANCE and SERVICE"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inst, svc, cmd, err := debugArgs(tc.args, tc.dash)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || inst != "demo" || svc != "app" || strings.Join(cmd, " ") != strings.Join(tc.cmd, " ") {
				t.Errorf("debugArgs = %s %s %q %v", inst, svc, cmd, err)
			}
		})
	}
	if r := (&harness{t: t, site: t.TempDir()}).run("debug", "demo", "app", "ps"); r.code != ExitUsage {
		t.Errorf("debug without --: exit %d, want %d", r.code, ExitUsage)
	}
}

// scratchApp is a static program, the whole content of a FROM scratch
// image: it writes a state file and waits for SIGTERM.
const scratchApp = `package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if err := os.WriteFile("/state.txt", []byte(os.Getenv("STATE")+"\n"), 0o600); err != nil {
		panic(err)
	}
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
	<-c
}
`

// writeScratchBank builds a FROM scratch image with one static Go binary
// (no /bin/sh, nothing else) and writes a bank with an entry that runs it.
func writeScratchBank(t *testing.T, image string) string {
	t.Helper()
	src := t.TempDir()
	for f, c := range map[string]string{
		"main.go":    scratchApp,
		"go.mod":     "module scratchapp\n\ngo 1.22\n",
		"Dockerfile": "FROM scratch\nCOPY scratchapp /scratchapp\nENTRYPOINT [\"/scratchapp\"]\n",
	} {
		if err := os.WriteFile(filepath.Join(src, f), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	build := exec.Command("go", "build", "-o", "scratchapp", ".")
	build.Dir = src
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	docker(t, "build", "-q", "-t", image, src)
	t.Cleanup(func() { exec.Command("docker", "image", "rm", image).Run() })

	bank := t.TempDir()
	entry := filepath.Join(bank, "scratchapp")
	if err := os.MkdirAll(entry, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"entry.yaml": `apiVersion: dockerbank/v1
id: scratchapp
title: A FROM scratch service with one static binary and no shell (debug test)
domain: test
licence: Apache-2.0
distribution: {mode: redistributable}
compose: [compose.yaml]
defaultVersion: "1.0"
versions:
  - version: "1.0"
    images: {app: ` + image + `}
curation: {reviewedBy: tests, reviewedOn: 2026-12-07}
`,
		"compose.yaml": `services:
  app:
    image: ` + image + `
    environment: {STATE: "scratch-state-42"}
    x-dockerbank: {role: app}
`,
	}
	for f, c := range files {
		if err := os.WriteFile(filepath.Join(entry, f), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return bank
}

// debugContainers lists the debug containers of an instance, by label.
func debugContainers(t *testing.T, instance string) []string {
	t.Helper()
	return strings.Fields(docker(t, "ps", "-aq", "--filter", "label="+label.Debug+"="+instance))
}

// TestDebugAServiceWithoutAShell deploys a FROM scratch service (one static
// binary, no shell) and debugs it: ps in the debug container lists the
// binary as PID 1, its file is read under /proc/1/root, a command's exit
// code comes back, a shell on stdin works; no debug container remains;
// shell says there is no shell and names debug; a stopped target exits 5.
func TestDebugAServiceWithoutAShell(t *testing.T) {
	h := newHarness(t)
	testenv.RequireImages(t, "dockerbank/busybox:1.36")
	testenv.RequireCommand(t, "go")
	name := uniqueName("dbg")
	image := "dockerbank-test/scratchapp-" + name + ":1.0"
	h.extra = []string{"--bank", writeScratchBank(t, image)}
	h.cleanup(name)
	h.ok("deploy", "scratchapp", "--name", name)

	start := time.Now()
	ps := h.ok("debug", name, "app", "--", "ps")
	t.Logf("debug -- ps took %s:\n%s", time.Since(start).Round(time.Millisecond), ps)
	pid1 := false
	for _, line := range strings.Split(ps, "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "1" && f[len(f)-1] == "/scratchapp" {
			pid1 = true
		}
	}
	if !pid1 {
		t.Errorf("ps in the debug container does not show /scratchapp as PID 1:\n%s", ps)
	}
	if got := h.ok("debug", name, "app", "--", "cat", "/proc/1/root/state.txt"); got != "scratch-state-42\n" {
		t.Errorf("cat /proc/1/root/state.txt = %q, want the file the binary wrote", got)
	}
	if r := h.run("debug", name, "app", "--", "sh", "-c", "exit 3"); r.code != 3 {
		t.Errorf("debug -- sh -c 'exit 3': exit %d, want 3 (%s)", r.code, r.err)
	}
	// No CMD: a shell reading commands from stdin (a terminal when stdin
	// is one).
	var out, errb strings.Builder
	code := Main([]string{"--site", h.site, "--quiet", "--bank", h.extra[1], "debug", name, "app"},
		Streams{In: strings.NewReader("echo hello-from-debug; ls /proc/1/root/\n"), Out: &out, Err: &errb})
	if code != 0 || !strings.Contains(out.String(), "hello-from-debug") || !strings.Contains(out.String(), "scratchapp") {
		t.Errorf("debug shell: exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
	if left := debugContainers(t, name); len(left) != 0 {
		t.Errorf("debug containers left behind: %v", left)
	}

	r := h.run("shell", name, "app")
	if r.code == 0 || !strings.Contains(r.err, "no /bin/sh") || !strings.Contains(r.err, "dockerbank debug "+name+" app") {
		t.Errorf("shell on a service without a shell: exit %d\n%s", r.code, r.err)
	}

	recs := journalOf(t, h, "debug")
	var started, ended int
	for _, rec := range recs {
		switch rec.Outcome {
		case "started":
			started++
		case "ok":
			ended++
		}
	}
	if started != 4 || ended != 4 {
		t.Errorf("journal: %d started and %d ended debug sessions, want 4 and 4: %+v", started, ended, recs)
	}

	h.ok("stop", name)
	if r := h.run("debug", name, "app", "--", "ps"); r.code != ExitNotFound || !strings.Contains(r.err, "not running") {
		t.Errorf("debug of a stopped service: exit %d, want %d\n%s", r.code, ExitNotFound, r.err)
	}
	if left := debugContainers(t, name); len(left) != 0 {
		t.Errorf("debug containers left behind: %v", left)
	}
}
