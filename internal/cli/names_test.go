package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/dockerbank/dockerbank/internal/testenv"
)

// TestInvalidInstanceNameIsUsage: an invalid instance name is wrong usage
// (exit 3, as --help documents), for every command taking one, and never
// reads or writes outside the site.
func TestInvalidInstanceNameIsUsage(t *testing.T) {
	// The commands open the engine before they read the name.
	testenv.RequireEngine(t)
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
