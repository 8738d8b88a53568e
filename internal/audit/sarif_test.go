package audit

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// TestSARIFValidatesAgainstSchema checks WriteSARIF output against the
// official SARIF 2.1.0 schema (the copy lint's tests keep).
func TestSARIFValidatesAgainstSchema(t *testing.T) {
	f, err := os.Open(filepath.Join("..", "lint", "testdata", "sarif", "sarif-schema-2.1.0.json"))
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
	img, _ := plantedImage(t)
	planted := saveTarball(t, img, "planted:test")
	sups, err := LoadSuppressions(strings.NewReader("version: 1\nsuppressions:\n  - rule: DBK-HARD-002\n    reason: passwd needs it\n"), "s.yaml")
	if err != nil {
		t.Fatal(err)
	}
	reports := map[string]*Report{
		"planted":    auditTarball(t, planted, Options{}),
		"suppressed": auditTarball(t, planted, Options{Suppressions: sups}),
		"clean":      auditTarball(t, saveTarball(t, cleanImage(t), "clean:test"), Options{}),
		"empty":      {},
	}
	for name, r := range reports {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteSARIF(&buf, r); err != nil {
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
