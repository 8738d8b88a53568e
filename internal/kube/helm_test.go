package kube

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
)

// helmRender renders a chart written to dir with Helm's own engine and the
// chart's default values, as `helm template` does.
func helmRender(t *testing.T, files []File, namespace string) map[string][]byte {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "chart")
	if err := WriteFiles(dir, files); err != nil {
		t.Fatal(err)
	}
	ch, err := loader.Load(dir)
	if err != nil {
		t.Fatalf("helm cannot load the chart: %v", err)
	}
	vals, err := chartutil.ToRenderValues(ch, map[string]any{},
		chartutil.ReleaseOptions{Name: "test", Namespace: namespace, IsInstall: true}, chartutil.DefaultCapabilities)
	if err != nil {
		t.Fatal(err)
	}
	out, err := engine.Render(ch, vals)
	if err != nil {
		t.Fatalf("helm cannot render the chart: %v", err)
	}
	docs := map[string][]byte{}
	for name, data := range out {
		if strings.HasSuffix(name, ".yaml") {
			docs[filepath.Base(name)] = []byte(data)
		}
	}
	// helm lint: Chart.yaml, values.yaml and templates as Helm checks them.
	linter := lint.All(dir, nil, namespace, false)
	for _, m := range linter.Messages {
		if m.Severity >= support.WarningSev {
			t.Errorf("helm lint: %s", m)
		}
	}
	_ = os.RemoveAll(dir)
	return docs
}
