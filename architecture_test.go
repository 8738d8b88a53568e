package dockerbank

import (
	"bufio"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/dockerbank/dockerbank/"

// TestArchitecture keeps docs/architecture.md true: every package of the
// module has a row in its table, and imports only the packages of
// dockerbank its row allows; the Docker and compose SDKs are imported by
// internal/engine alone, cobra by internal/cli alone.
func TestArchitecture(t *testing.T) {
	allowed := readArchitecture(t)
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	sdk := regexp.MustCompile(`^github\.com/(docker/compose|docker/cli|moby/moby)/`)
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], module)
		if fields[0]+"/" == module {
			pkg = "."
		}
		may, listed := allowed[pkg]
		if !listed {
			t.Errorf("package %s has no row in docs/architecture.md", pkg)
			continue
		}
		for _, imp := range fields[1:] {
			switch {
			case strings.HasPrefix(imp, module):
				dep := strings.TrimPrefix(imp, module)
				if !slices.Contains(may, dep) {
					t.Errorf("%s imports %s; docs/architecture.md allows it: %s", pkg, dep, strings.Join(may, ", "))
				}
			case imp+"/" == module:
				if !slices.Contains(may, ".") {
					t.Errorf("%s imports the module root (the embedded bank); docs/architecture.md does not allow it", pkg)
				}
			case sdk.MatchString(imp) && pkg != "internal/engine":
				t.Errorf("%s imports %s: only internal/engine talks to the engine's SDKs", pkg, imp)
			case imp == "github.com/spf13/cobra" && pkg != "internal/cli":
				t.Errorf("%s imports cobra: only internal/cli does", pkg)
			}
		}
	}
}

// readArchitecture reads the package table of docs/architecture.md: rows
// "| `PKG` | what it owns | `DEP`, `DEP` |" ("—" for none).
func readArchitecture(t *testing.T) map[string][]string {
	t.Helper()
	f, err := os.Open("docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	code := regexp.MustCompile("`([^`]+)`")
	allowed := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "|")
		if len(cols) < 5 || !strings.HasPrefix(strings.TrimSpace(cols[1]), "`") {
			continue
		}
		pkg := strings.Trim(strings.TrimSpace(cols[1]), "`")
		var deps []string
		for _, m := range code.FindAllStringSubmatch(cols[3], -1) {
			deps = append(deps, m[1])
		}
		allowed[pkg] = deps
	}
	if len(allowed) == 0 {
		t.Fatal("docs/architecture.md has no package table")
	}
	return allowed
}
