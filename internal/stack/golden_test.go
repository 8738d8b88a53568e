package stack

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/google/go-cmp/cmp"
	"github.com/sirupsen/logrus"

	"github.com/dockerbank/dockerbank"
	"github.com/dockerbank/dockerbank/internal/bank"
	"github.com/dockerbank/dockerbank/internal/kube"
	"github.com/dockerbank/dockerbank/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// goldenSecret stands in for the generated secrets of an instance: plans
// never print secret values, so any value gives the same text.
const goldenSecret = "golden-secret"

// TestGolden renders the default version of every embedded entry as
// `dockerbank swarm deploy ENTRY` does (the instance named after the
// entry) and compares the plan's text with testdata/golden/ENTRY.yaml.
func TestGolden(t *testing.T) {
	b, err := bank.Open(t.Context(), bank.Source{Name: "embedded", FS: dockerbank.Bank, Root: dockerbank.BankRoot})
	if err != nil {
		t.Fatal(err)
	}
	entries := b.List()
	if len(entries) == 0 {
		t.Fatal("no embedded entries")
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.ID+".yaml")
		t.Run(e.ID, func(t *testing.T) {
			fsys, dir, err := b.Files(e.ID)
			if err != nil {
				t.Fatal(err)
			}
			work := t.TempDir()
			p, _, err := kube.EntryProject(t.Context(), fsys, dir, work, e, "", "", nil)
			if err != nil {
				t.Fatal(err)
			}
			setSecrets(p)
			golden(t, filepath.Join("testdata", "golden", e.ID+".yaml"), render(t, p, strings.NewReplacer(work, "$ENTRY")))
		})
	}
	// No golden file of an entry that is gone.
	have, _ := filepath.Glob(filepath.Join("testdata", "golden", "*.yaml"))
	for i := range have {
		have[i] = filepath.Base(have[i])
	}
	sort.Strings(names)
	if !*update {
		if diff := cmp.Diff(names, have); diff != "" {
			t.Errorf("golden files differ from the entries (-entries +files):\n%s", diff)
		}
	}
}

// setSecrets gives every environment secret a value, as deploy's
// generated secrets do.
func setSecrets(p *types.Project) {
	for _, s := range p.Secrets {
		if s.Environment != "" {
			if _, ok := p.Environment[s.Environment]; !ok {
				if p.Environment == nil {
					p.Environment = types.Mapping{}
				}
				p.Environment[s.Environment] = goldenSecret
			}
		}
	}
}

// render returns the plan's text, headed by its refusals; paths replaces
// the directory of the input, so the text is the same on every machine.
func render(t *testing.T, p *types.Project, paths *strings.Replacer) string {
	t.Helper()
	plan, err := Render(p, Options{})
	var probs Problems
	if err != nil && !errors.As(err, &probs) {
		t.Fatal(err)
	}
	text, err := plan.Text()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(text), goldenSecret) {
		t.Errorf("the plan's text shows a secret value:\n%s", text)
	}
	var head strings.Builder
	for _, pr := range probs {
		fmt.Fprintf(&head, "# refused: %s\n", pr)
	}
	return paths.Replace(head.String() + string(text))
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/stack -update)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got; run go test ./internal/stack -update if the change is meant):\n%s", path, diff)
	}
}

// TestCorpus renders every loadable compose file of the shared corpus and
// keeps, per file, what the stack would hold and every refusal as one
// golden report; the full plans are golden files too.
func TestCorpus(t *testing.T) {
	// compose-go warns about every unset variable of the corpus files.
	logrus.SetLevel(logrus.ErrorLevel)
	var report strings.Builder
	files := testenv.CorpusFiles(t)
	abs, err := filepath.Abs(filepath.Dir(files[0]))
	if err != nil {
		t.Fatal(err)
	}
	paths := strings.NewReplacer(abs, "$CORPUS")
	for _, f := range files {
		name := filepath.Base(f)
		p, err := loadCorpus(t, f)
		if err != nil {
			fmt.Fprintf(&report, "## %s\nnot loadable by compose-go (missing sibling files, or invalid)\n\n", name)
			continue
		}
		setSecrets(p)
		plan, err := Render(p, Options{})
		var probs Problems
		if err != nil && !errors.As(err, &probs) {
			t.Fatalf("%s: %v", name, err)
		}
		fmt.Fprintf(&report, "## %s\n%d services, %d networks, %d volumes, %d secrets; %d refusals\n",
			name, len(plan.Services), len(plan.Networks), len(plan.Volumes), len(plan.Secrets), len(probs))
		for _, pr := range probs {
			fmt.Fprintf(&report, "- %s\n", paths.Replace(pr.String()))
		}
		report.WriteString("\n")
		golden(t, filepath.Join("testdata", "corpus", strings.TrimSuffix(name, ".yml")+".yaml"), render(t, p, paths))
	}
	golden(t, filepath.Join("testdata", "corpus.golden"), report.String())
}

// loadCorpus loads a corpus file without the files it refers to: missing
// env files and build contexts are tolerated, unset variables are empty.
func loadCorpus(t *testing.T, file string) (*types.Project, error) {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{file},
		cli.WithWorkingDirectory(filepath.Dir(file)),
		cli.WithName("corpus"),
		cli.WithEnv([]string{}),
		cli.WithResolvedPaths(true),
		cli.WithDiscardEnvFile,
	)
	if err != nil {
		return nil, err
	}
	return opts.LoadProject(t.Context())
}
