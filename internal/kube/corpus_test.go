package kube

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/google/go-cmp/cmp"
	"github.com/sirupsen/logrus"

	"github.com/dockerbank/dockerbank/internal/bank"
	"github.com/dockerbank/dockerbank/internal/testenv"
)

// TestCorpus converts every loadable compose file of the corpus with
// --allow-lossy, checks every object decodes strictly, and keeps the list of
// refused keys per file as a golden file.
func TestCorpus(t *testing.T) {
	// compose-go warns about every unset variable of the corpus files.
	logrus.SetLevel(logrus.ErrorLevel)
	dec := strictScheme(t)
	var report strings.Builder
	files := testenv.CorpusFiles(t)
	abs, _ := filepath.Abs(filepath.Dir(files[0]))
	trim := strings.NewReplacer(abs+"/", "", filepath.Dir(abs)+"/", "../")
	for _, f := range files {
		name := filepath.Base(f)
		p, err := loadCorpus(t, f)
		if err != nil {
			// compose-go names one of several problems, not always the same.
			t.Logf("%s: not loadable: %s", name, trim.Replace(firstLine(err.Error())))
			fmt.Fprintf(&report, "## %s\nnot loadable by compose-go (missing sibling files, or invalid)\n\n", name)
			continue
		}
		m, err := bank.Model(p)
		if err != nil {
			t.Fatal(err)
		}
		o := Options{Instance: "corpus", Entry: strings.TrimSuffix(name, ".yml"), Version: "1", ReadFile: func(string) ([]byte, error) {
			return nil, errors.New("corpus files are read without their directories")
		}}
		man, err := Convert(p, m, o)
		var probs Problems
		if err != nil && !errors.As(err, &probs) {
			t.Fatalf("%s: %v", name, err)
		}
		o.Lossy = true
		man, err = Convert(p, m, o)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out, err := man.Files()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range out {
			if strings.HasSuffix(mf.Path, ".yaml") {
				checkManifest(t, name+" "+mf.Path, mf.Data, dec)
			}
		}
		fmt.Fprintf(&report, "## %s\n%d objects; %d keys refused\n", name, len(man.Objects), len(probs))
		for _, p := range probs {
			fmt.Fprintf(&report, "- %s\n", trim.Replace(p.String()))
		}
		report.WriteString("\n")
	}
	got := report.String()
	path := filepath.Join("testdata", "corpus.golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/kube -update)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("corpus report differs (-want +got):\n%s", diff)
	}
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

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}
