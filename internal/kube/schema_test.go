package kube

import (
	"strings"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/client-go/applyconfigurations"
	"sigs.k8s.io/yaml"
)

// schemaConverter validates objects against the schema that client-go
// embeds: the Kubernetes OpenAPI definitions in structured-merge-diff form
// (field names, types, and the keys of list-maps: duplicate container,
// port, env or volume names fail). No JSON-schema validator with offline
// schemas installs from the module proxy; this one is offline.
func schemaConverter(t *testing.T) managedfields.TypeConverter {
	t.Helper()
	converterOnce.Do(func() { typeConverter = applyconfigurations.NewTypeConverter(newScheme(t)) })
	return typeConverter
}

var (
	converterOnce sync.Once
	typeConverter managedfields.TypeConverter
)

func validateSchema(t *testing.T, tc managedfields.TypeConverter, name string, data []byte) {
	t.Helper()
	var u unstructured.Unstructured
	if err := yaml.Unmarshal(data, &u.Object); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if _, err := tc.ObjectToTyped(&u); err != nil {
		t.Errorf("%s: OpenAPI schema: %v", name, err)
	}
}

func TestManifestsMatchOpenAPISchema(t *testing.T) {
	tc := schemaConverter(t)
	for id, man := range exportEntries(t) {
		t.Run(id, func(t *testing.T) {
			files, err := man.Files()
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range files {
				if strings.HasSuffix(f.Path, ".yaml") {
					validateSchema(t, tc, f.Path, f.Data)
				}
			}
		})
	}
}

// TestSchemaCatchesMistakes proves the validator is not a no-op.
func TestSchemaCatchesMistakes(t *testing.T) {
	tc := schemaConverter(t)
	for _, tt := range []struct{ name, doc string }{
		{"unknown field", "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {clusterIp: None}\n"},
		{"wrong type", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replicas: one}\n"},
		{"duplicate container", "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec: {containers: [{name: a, image: i}, {name: a, image: j}]}\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var u unstructured.Unstructured
			if err := yaml.Unmarshal([]byte(tt.doc), &u.Object); err != nil {
				t.Fatal(err)
			}
			_, err := tc.ObjectToTyped(&u)
			if err == nil {
				t.Fatalf("accepted %q", tt.doc)
			}
			t.Log(err)
		})
	}
}
