package kube

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"

	"github.com/dockerbank/dockerbank"
	"github.com/dockerbank/dockerbank/internal/bank"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// export converts every embedded entry's default version, as
// `dockerbank export k8s ENTRY` does; entries with inexpressible keys are
// exported with Lossy and their Problems kept for the golden file.
func exportEntries(t *testing.T) map[string]*Manifests {
	t.Helper()
	b, err := bank.Open(t.Context(), bank.Source{Name: "embedded", FS: dockerbank.Bank, Root: dockerbank.BankRoot})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*Manifests{}
	for _, e := range b.List() {
		fsys, dir, err := b.Files(e.ID)
		if err != nil {
			t.Fatal(err)
		}
		p, ver, err := EntryProject(t.Context(), fsys, dir, t.TempDir(), e, "", "", nil)
		if err != nil {
			t.Fatalf("%s: %v", e.ID, err)
		}
		m, err := bank.Model(p)
		if err != nil {
			t.Fatal(err)
		}
		o := Options{Instance: e.ID, Entry: e.ID, Version: ver.Version, Secrets: SecretsEmpty, Distribution: e.Distribution.Mode}
		man, err := Convert(p, m, o)
		var probs Problems
		if errors.As(err, &probs) {
			o.Lossy = true
			man, err = Convert(p, m, o)
		}
		if err != nil {
			t.Fatalf("%s: %v", e.ID, err)
		}
		out[e.ID] = man
	}
	if len(out) == 0 {
		t.Fatal("no embedded entries")
	}
	return out
}

func TestGolden(t *testing.T) {
	for id, man := range exportEntries(t) {
		t.Run(id, func(t *testing.T) {
			files, err := man.Files()
			if err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("testdata", "golden", id, "manifests"), files)
			chart, err := man.Helm()
			if err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("testdata", "golden", id, "helm"), chart)
		})
	}
}

func golden(t *testing.T, dir string, files []File) {
	t.Helper()
	if *update {
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		if err := WriteFiles(dir, files); err != nil {
			t.Fatal(err)
		}
		return
	}
	var want []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			want = append(want, rel)
		}
		return nil
	})
	var got []string
	for _, f := range files {
		got = append(got, f.Path)
		data, err := os.ReadFile(filepath.Join(dir, f.Path))
		if err != nil {
			t.Errorf("%s: not in the golden files (run go test ./internal/kube -update): %v", f.Path, err)
			continue
		}
		if diff := cmp.Diff(string(data), string(f.Data)); diff != "" {
			t.Errorf("%s differs from the golden file (-want +got):\n%s", f.Path, diff)
		}
	}
	sort.Strings(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("file list differs from %s (-want +got):\n%s", dir, diff)
	}
}

// typed returns an empty typed object for a kind.
func typed(kind string) (runtime.Object, error) {
	switch kind {
	case "Namespace":
		return &corev1.Namespace{}, nil
	case "Secret":
		return &corev1.Secret{}, nil
	case "ConfigMap":
		return &corev1.ConfigMap{}, nil
	case "PersistentVolumeClaim":
		return &corev1.PersistentVolumeClaim{}, nil
	case "Service":
		return &corev1.Service{}, nil
	case "StatefulSet":
		return &appsv1.StatefulSet{}, nil
	case "Deployment":
		return &appsv1.Deployment{}, nil
	case "CronJob":
		return &batchv1.CronJob{}, nil
	case "NetworkPolicy":
		return &networkingv1.NetworkPolicy{}, nil
	}
	return nil, fmt.Errorf("unexpected kind %q", kind)
}

// newScheme registers the API groups the export uses.
func newScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme, networkingv1.AddToScheme} {
		if err := add(s); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func strictScheme(t *testing.T) runtime.Decoder {
	return serializer.NewCodecFactory(newScheme(t), serializer.EnableStrict).UniversalDeserializer()
}

// checkManifest decodes one YAML document strictly, twice: with
// sigs.k8s.io/yaml into the typed object, and with apimachinery's strict
// universal deserializer; then checks names and labels as the API server
// does.
func checkManifest(t *testing.T, name string, data []byte, dec runtime.Decoder) {
	t.Helper()
	var tm struct {
		Kind string `json:"kind"`
	}
	if err := yaml.Unmarshal(data, &tm); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	obj, err := typed(tm.Kind)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if err := yaml.UnmarshalStrict(data, obj); err != nil {
		t.Errorf("%s: strict decode into %T: %v", name, obj, err)
	}
	if _, _, err := dec.Decode(data, nil, nil); err != nil {
		t.Errorf("%s: universal deserializer (strict): %v", name, err)
	}
	validateSchema(t, schemaConverter(t), name, data)
	accessor, ok := obj.(interface {
		GetName() string
		GetNamespace() string
		GetLabels() map[string]string
	})
	if !ok {
		return
	}
	var errs field.ErrorList
	if tm.Kind == "Namespace" || tm.Kind == "Service" {
		for _, msg := range validation.NameIsDNSLabel(accessor.GetName(), false) {
			errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), accessor.GetName(), msg))
		}
	} else {
		for _, msg := range validation.NameIsDNSSubdomain(accessor.GetName(), false) {
			errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), accessor.GetName(), msg))
		}
	}
	errs = append(errs, metav1validation.ValidateLabels(accessor.GetLabels(), field.NewPath("metadata", "labels"))...)
	for _, e := range errs {
		t.Errorf("%s: %v", name, e)
	}
}

func TestManifestsDecodeStrictly(t *testing.T) {
	dec := strictScheme(t)
	for id, man := range exportEntries(t) {
		t.Run(id, func(t *testing.T) {
			files, err := man.Files()
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range files {
				if strings.HasSuffix(f.Path, ".yaml") {
					checkManifest(t, f.Path, f.Data, dec)
				}
			}
		})
	}
}

// TestHelmDefaultsReproduceManifests renders each chart with Helm's engine
// and its default values, lints it with Helm's linter, and checks it yields
// the plain manifests, object for object.
func TestHelmDefaultsReproduceManifests(t *testing.T) {
	dec := strictScheme(t)
	for id, man := range exportEntries(t) {
		t.Run(id, func(t *testing.T) {
			chart, err := man.Helm()
			if err != nil {
				t.Fatal(err)
			}
			rendered := helmRender(t, chart, man.Options.Namespace)
			plain, err := man.Files()
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, f := range plain {
				if !strings.HasSuffix(f.Path, ".yaml") || strings.Contains(f.Path, "-namespace-") {
					continue
				}
				n++
				got, ok := rendered[f.Path]
				if !ok {
					t.Errorf("%s: no template", f.Path)
					continue
				}
				checkManifest(t, "helm "+f.Path, got, dec)
				var want, have any
				if err := yaml.Unmarshal(f.Data, &want); err != nil {
					t.Fatal(err)
				}
				if err := yaml.Unmarshal(got, &have); err != nil {
					t.Fatalf("%s: rendered template is not YAML: %v\n%s", f.Path, err, got)
				}
				if diff := cmp.Diff(want, have); diff != "" {
					t.Errorf("%s: chart with default values differs from the manifest (-manifest +chart):\n%s", f.Path, diff)
				}
			}
			if n != len(rendered) {
				t.Errorf("%d manifests, %d templates", n, len(rendered))
			}
		})
	}
}
