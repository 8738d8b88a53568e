package lint

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dockerbank/dockerbank/internal/finding"
	"github.com/google/go-cmp/cmp"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// sampleReport lints a small project with findings of every severity and one suppression.
func sampleReport(t *testing.T) *Report {
	t.Helper()
	dir := t.TempDir()
	write(t, dir, "compose.yaml", `services:
  db:
    image: postgres:13
    container_name: db
    environment:
      POSTGRES_PASSWORD: secret
    ports:
      - "5432:5432"
  app:
    image: example/app:latest
    depends_on: [db]
`)
	sup, err := ParseSuppressions("suppress.yaml", []byte(`suppressions:
  - rule: DB003
    service: db
    reason: single instance per host by design
`))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Check(t.Context(), Options{ProjectDir: dir, Suppressions: sup, Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSARIFSchema validates WriteSARIF output against the official SARIF 2.1.0 schema.
func TestSARIFSchema(t *testing.T) {
	schemaFile := filepath.Join("testdata", "sarif", "sarif-schema-2.1.0.json")
	f, err := os.Open(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("sarif-schema-2.1.0.json", doc); err != nil {
		t.Fatal(err)
	}
	schema, err := c.Compile("sarif-schema-2.1.0.json")
	if err != nil {
		t.Fatal(err)
	}
	// The validator must reject a broken log, or passing proves nothing.
	bad, _ := jsonschema.UnmarshalJSON(strings.NewReader(`{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"x"}},"results":[{"level":"fatal","message":{"text":"m"}}]}]}`))
	if schema.Validate(bad) == nil {
		t.Fatal("schema accepted a result with level fatal")
	}
	reports := map[string]*Report{"sample": sampleReport(t), "empty": {Files: []string{"compose.yaml"}}}
	// The corpus adds real reports when it is there; TestCorpus already
	// fails in CI when it is not, so this test never skips.
	if dir, err := findCorpus(); err == nil {
		all := readSources(t, dir)
		for _, cf := range all {
			rep, err := Check(t.Context(), Options{Files: []string{stage(t, dir, all, cf)}, Now: testNow})
			if err == nil {
				reports[cf.name] = rep
			}
		}
	}
	for name, rep := range reports {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			// A dev build's version is not numeric: the log must stay valid.
			if err := WriteSARIF(&buf, rep, SARIFOptions{ToolVersion: "dev"}); err != nil {
				t.Fatal(err)
			}
			inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(buf.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			if err := schema.Validate(inst); err != nil {
				t.Fatalf("SARIF output does not validate: %v", err)
			}
		})
	}
}

// TestSARIFContent checks what code-scanning consumers rely on: rule
// metadata, levels, locations, suppressions with justification.
func TestSARIFContent(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteSARIF(&buf, sampleReport(t), SARIFOptions{}); err != nil {
		t.Fatal(err)
	}
	var log finding.SARIFLog
	if err := json.Unmarshal(buf.Bytes(), &log); err != nil {
		t.Fatal(err)
	}
	if log.Version != "2.1.0" || len(log.Runs) != 1 {
		t.Fatalf("version %q, %d runs", log.Version, len(log.Runs))
	}
	run := log.Runs[0]
	if len(run.Tool.Driver.Rules) != len(registry) {
		t.Errorf("%d rules, want %d", len(run.Tool.Driver.Rules), len(registry))
	}
	var suppressed, located int
	for _, r := range run.Results {
		if run.Tool.Driver.Rules[r.RuleIndex].ID != r.RuleID {
			t.Errorf("result %s has ruleIndex %d pointing at %s", r.RuleID, r.RuleIndex, run.Tool.Driver.Rules[r.RuleIndex].ID)
		}
		if len(r.Locations) == 1 && r.Locations[0].PhysicalLocation.Region != nil && r.Locations[0].PhysicalLocation.Region.StartLine > 0 {
			located++
		}
		if len(r.Suppressions) > 0 {
			suppressed++
			if r.RuleID != "DB003" || r.Suppressions[0].Justification == "" {
				t.Errorf("unexpected suppression %+v on %s", r.Suppressions, r.RuleID)
			}
		}
	}
	if suppressed != 1 {
		t.Errorf("%d suppressed results, want 1", suppressed)
	}
	if located != len(run.Results) {
		t.Errorf("%d of %d results have a line", located, len(run.Results))
	}
	if !strings.Contains(buf.String(), `"uri": "compose.yaml"`) {
		t.Errorf("artifact URI is not the project-relative file name:\n%s", buf.String())
	}
}

func TestTextAndJSON(t *testing.T) {
	rep := sampleReport(t)
	var text bytes.Buffer
	if err := WriteText(&text, rep); err != nil {
		t.Fatal(err)
	}
	var js bytes.Buffer
	if err := WriteJSON(&js, rep); err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string]string{"sample.txt": text.String(), "sample.json": js.String()} {
		golden := filepath.Join("testdata", "format", name)
		if *update {
			write(t, ".", golden, got)
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("read golden (run with -update): %v", err)
		}
		if d := cmp.Diff(string(want), got); d != "" {
			t.Errorf("%s (-want +got):\n%s", golden, d)
		}
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatalf("JSON does not read back: %v", err)
	}
	if d := cmp.Diff(len(rep.Findings), len(back.Findings)); d != "" {
		t.Errorf("findings after round trip: %s", d)
	}
}
