package cli

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/dockerbank/dockerbank/internal/stack"
)

// TestInvalidInstanceNameIsUsage: an invalid instance name is wrong usage
// (exit 3, as --help documents), for every command taking one, and never
// reads or writes outside the site.
func TestInvalidInstanceNameIsUsage(t *testing.T) {
	// Names are checked with the arguments, before any engine is opened:
	// with no engine answering, a bad name is still wrong usage.
	t.Setenv("DOCKER_HOST", "unix://"+t.TempDir()+"/no-engine.sock")
	for _, args := range [][]string{
		{"deploy", "demo", "--name", "Bad Name"},
		{"deploy", "demo", "--name", "../evil"},
		{"inspect", "../evil"},
		{"logs", "UPPER"},
		{"backup", "../../etc"},
		{"restore", "x", "--as", "Bad/Name"},
		{"rm", "../evil", "--confirm", "../evil"},
		{"upgrade", "a.b", "--to", "2"},
		{"restore", "bad.name", "--archive", "a.tar.zst"},
		{"backup", "ok", "Not_ok"},
		{"journal", "../x"},
		{"shell", "../x", "app"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := Main(append([]string{"--site", t.TempDir()}, args...), Streams{In: strings.NewReader(""), Out: &out, Err: &errb})
			if code != ExitUsage || !strings.Contains(errb.String(), "is not valid") {
				t.Errorf("exit %d, want %d, stderr: %s", code, ExitUsage, errb.String())
			}
		})
	}
}

// TestMissingRequiredFlagIsUsage: a required flag left out is wrong usage
// (exit 3), found before any engine is opened.
func TestMissingRequiredFlagIsUsage(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix://"+t.TempDir()+"/no-engine.sock")
	for _, args := range [][]string{
		{"upgrade", "demo"},
		{"build", "redcap"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := Main(append([]string{"--site", t.TempDir()}, args...), Streams{In: strings.NewReader(""), Out: &out, Err: &errb})
			if code != ExitUsage || !strings.Contains(errb.String(), "required flag") {
				t.Errorf("exit %d, want %d, stderr: %s", code, ExitUsage, errb.String())
			}
		})
	}
}

// TestSwarmRefusalIsRefused: what a swarm stack cannot run is a refusal
// (exit 6, as --help documents), like export's lossy keys.
func TestSwarmRefusalIsRefused(t *testing.T) {
	if got := exitCode(fmt.Errorf("swarm deploy x: %w", stack.Problems{{Subject: "service app", Message: "privileged"}})); got != ExitRefused {
		t.Errorf("exit %d, want %d", got, ExitRefused)
	}
}
