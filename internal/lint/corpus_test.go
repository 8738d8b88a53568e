package lint

import (
	"bufio"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files")

// testNow fixes the date for end-of-life and expiry decisions in tests.
var testNow = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// corpusDir finds shared/corpus/compose by walking up from the package
// directory (the repo may be /work/main or a CI clone beside shared/).
func corpusDir(t testing.TB) string {
	t.Helper()
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		c := filepath.Join(d, "shared", "corpus", "compose")
		if st, err := os.Stat(c); err == nil && st.IsDir() {
			return c
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("shared/corpus/compose not found above %s", dir)
	}
	t.Skipf("shared/corpus/compose not found above %s", dir)
	return ""
}

type corpusFile struct {
	name string // corpus file name
	repo string // upstream repository
	orig string // upstream path
}

func readSources(t testing.TB, dir string) []corpusFile {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "SOURCES.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []corpusFile
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		if len(cols) < 4 || cols[0] == "file" {
			continue
		}
		out = append(out, corpusFile{name: cols[0], repo: cols[2], orig: cols[3]})
	}
	return out
}

// stage copies a corpus file and its siblings from the same upstream
// repository into a temp dir under their upstream base names, so that
// extends: file: references resolve as they do upstream.
func stage(t testing.TB, dir string, all []corpusFile, cf corpusFile) string {
	t.Helper()
	tmp := t.TempDir()
	for _, o := range all {
		if o.repo != cf.repo || filepath.Dir(o.orig) != filepath.Dir(cf.orig) {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, o.name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tmp, filepath.Base(o.orig)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(tmp, filepath.Base(cf.orig))
}

func TestCorpus(t *testing.T) {
	dir := corpusDir(t)
	all := readSources(t, dir)
	if len(all) == 0 {
		t.Fatal("no corpus files in SOURCES.tsv")
	}
	for _, cf := range all {
		t.Run(cf.name, func(t *testing.T) {
			file := stage(t, dir, all, cf)
			rep, err := Check(t.Context(), Options{Files: []string{file}, Now: testNow})
			var got strings.Builder
			if err != nil {
				var ae *AnalysisError
				if !errors.As(err, &ae) {
					t.Fatalf("Check: %v (want a report or an *AnalysisError)", err)
				}
				got.WriteString("exit 2: " + err.Error() + "\n")
			} else if err := WriteText(&got, rep); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "golden", strings.TrimSuffix(cf.name, filepath.Ext(cf.name))+".txt")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(got.String()), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("read golden (run with -update): %v", err)
			}
			if d := cmp.Diff(string(want), got.String()); d != "" {
				t.Errorf("findings differ from %s (-want +got):\n%s", golden, d)
			}
		})
	}
}

// TestCorpusBrokenYAML: the broken OpenEMR file cannot be analysed, and the
// error says file and line.
func TestCorpusBrokenYAML(t *testing.T) {
	dir := corpusDir(t)
	file := filepath.Join(dir, "openemr__docker-compose-example-BROKEN-YAML.yml")
	_, err := Check(t.Context(), Options{Files: []string{file}, Now: testNow})
	var ae *AnalysisError
	if !errors.As(err, &ae) {
		t.Fatalf("Check = %v, want *AnalysisError", err)
	}
	if ae.Pos.Line != 9 || !strings.HasSuffix(ae.Pos.File, "openemr__docker-compose-example-BROKEN-YAML.yml") {
		t.Errorf("position = %s, want the file at line 9", ae.Pos)
	}
	if got := ExitCodeFor(nil, err, SeverityHigh); got != ExitCouldNotLoad {
		t.Errorf("exit code = %d, want %d", got, ExitCouldNotLoad)
	}
	if !strings.Contains(err.Error(), "openemr__docker-compose-example-BROKEN-YAML.yml:9") {
		t.Errorf("error %q does not name file:line", err)
	}
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }
