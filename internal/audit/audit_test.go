package audit

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dockerbank/dockerbank/internal/instance/label"
	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

func auditTarball(t *testing.T, p string, opts Options) *Report {
	t.Helper()
	if opts.Now.IsZero() {
		opts.Now = testNow
	}
	r, err := Image(t.Context(), FromTarball(p, ""), opts)
	if err != nil {
		t.Fatalf("audit %s: %v", p, err)
	}
	return r
}

// findingFor returns the finding that matches w (rule, layer and path).
func findingFor(r *Report, w want) (Finding, bool) {
	for _, f := range r.Findings {
		if f.Rule == w.rule && f.Layer == w.layer && f.Path == w.path {
			return f, true
		}
	}
	return Finding{}, false
}

func TestPlantedArtefactsFoundWithTheirLayer(t *testing.T) {
	img, wants := plantedImage(t)
	r := auditTarball(t, saveTarball(t, img, "planted:test"), Options{})
	for _, w := range wants {
		t.Run(fmt.Sprintf("%s layer %d %s", w.rule, w.layer, w.path), func(t *testing.T) {
			f, ok := findingFor(r, w)
			if !ok {
				t.Fatalf("not found; findings:\n%s", listFindings(r))
			}
			if f.DeletedInLayer != w.deletedIn {
				t.Errorf("deletedInLayer = %d, want %d", f.DeletedInLayer, w.deletedIn)
			}
			if f.ImageDigest != r.Image.ID || !strings.HasPrefix(f.ImageDigest, "sha256:") {
				t.Errorf("imageDigest = %q, want the image ID %q", f.ImageDigest, r.Image.ID)
			}
			if f.Layer >= 0 && (f.LayerDigest == "" || f.History == "") {
				t.Errorf("layer finding without layer digest or history line: %+v", f)
			}
		})
	}
}

func listFindings(r *Report) string {
	var b strings.Builder
	for _, f := range r.Findings {
		fmt.Fprintf(&b, "  %s %s layer=%d path=%q deleted=%d: %s\n", f.Severity, f.Rule, f.Layer, f.Path, f.DeletedInLayer, f.Message)
	}
	return b.String()
}

func TestCleanImageHasNoHighFindings(t *testing.T) {
	r := auditTarball(t, saveTarball(t, cleanImage(t), "clean:test"), Options{})
	for _, f := range r.Findings {
		if f.Severity >= SeverityHigh {
			t.Errorf("high finding on the clean image: %s %s: %s", f.Rule, f.Location(), f.Message)
		}
	}
	if got := ExitCode(r, SeverityHigh); got != ExitClean {
		t.Errorf("ExitCode = %d, want %d", got, ExitClean)
	}
	if ok, reasons := PushVerdict(r, nil); !ok {
		t.Errorf("PushVerdict refused the clean image: %v", reasons)
	}
	if r.Image.BaseGuess == "" || !strings.HasPrefix(r.Image.BaseGuess, "debian:12") {
		t.Errorf("BaseGuess = %q, want debian:12...", r.Image.BaseGuess)
	}
}

// TestSecretsNeverPrintedInFull renders the planted report in every format
// and looks for the planted values.
func TestSecretsNeverPrintedInFull(t *testing.T) {
	img, _ := plantedImage(t)
	r := auditTarball(t, saveTarball(t, img, "planted:test"), Options{})
	secrets := []string{awsKeyID, awsSecret, ghToken, glToken, azureKey[len("AccountKey="):], envPassword, argToken, urlPassword, historyToken}
	for _, format := range []string{FormatText, FormatJSON, FormatSARIF} {
		t.Run(format, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Write(&buf, r, format); err != nil {
				t.Fatal(err)
			}
			out := buf.String()
			for _, s := range secrets {
				if strings.Contains(out, s) {
					t.Errorf("output contains the secret %q", s)
				}
			}
		})
	}
}

func TestReportGolden(t *testing.T) {
	img, _ := plantedImage(t)
	r := auditTarball(t, saveTarball(t, img, "planted:test"), Options{})
	for _, tc := range []struct{ format, file string }{
		{FormatText, "planted.txt"},
		{FormatJSON, "planted.json"},
		{FormatSARIF, "planted.sarif"},
	} {
		t.Run(tc.format, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Write(&buf, r, tc.format); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", tc.file)
			if *update {
				if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("read golden file (run go test -update): %v", err)
			}
			if diff := cmp.Diff(string(want), buf.String()); diff != "" {
				t.Errorf("%s mismatch (-want +got):\n%s", golden, diff)
			}
		})
	}
}

func TestSARIFShape(t *testing.T) {
	img, _ := plantedImage(t)
	r := auditTarball(t, saveTarball(t, img, "planted:test"), Options{})
	var buf bytes.Buffer
	if err := WriteSARIF(&buf, r); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Rules []struct{ ID string } `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Results []struct {
				RuleID    string `json:"ruleId"`
				RuleIndex int    `json:"ruleIndex"`
				Level     string `json:"level"`
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct{ URI string } `json:"artifactLocation"`
					} `json:"physicalLocation"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Version != "2.1.0" || len(doc.Runs) != 1 {
		t.Fatalf("version %q, %d runs", doc.Version, len(doc.Runs))
	}
	run := doc.Runs[0]
	if len(run.Results) != len(r.Findings) {
		t.Errorf("%d results, want %d", len(run.Results), len(r.Findings))
	}
	for _, res := range run.Results {
		if run.Tool.Driver.Rules[res.RuleIndex].ID != res.RuleID {
			t.Errorf("result %s has ruleIndex %d pointing at %s", res.RuleID, res.RuleIndex, run.Tool.Driver.Rules[res.RuleIndex].ID)
		}
		if len(res.Locations) != 1 || res.Locations[0].PhysicalLocation.ArtifactLocation.URI == "" {
			t.Errorf("result %s without a location", res.RuleID)
		}
		switch res.Level {
		case "error", "warning", "note":
		default:
			t.Errorf("result %s has level %q", res.RuleID, res.Level)
		}
	}
}

func TestPushVerdict(t *testing.T) {
	img, _ := plantedImage(t)
	planted := auditTarball(t, saveTarball(t, img, "planted:test"), Options{})
	clean := auditTarball(t, saveTarball(t, cleanImage(t), "clean:test"), Options{})
	tests := []struct {
		name     string
		report   *Report
		labels   map[string]string
		ok       bool
		contains []string
	}{
		{"clean", clean, map[string]string{}, true, nil},
		{"clean but labelled not redistributable", clean, map[string]string{label.Redistributable: "false"}, false, []string{label.Redistributable + "=false"}},
		{"data and secrets", planted, map[string]string{}, false, []string{RuleCredentialFile, RuleSecret, RuleClinical, RuleProduct, "deleted in layer 3"}},
		{"labels read from the report", planted, nil, false, []string{label.Redistributable + "=false"}},
		{"no report", nil, map[string]string{}, false, []string{"no audit report"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, reasons := PushVerdict(tc.report, tc.labels)
			if ok != tc.ok {
				t.Errorf("ok = %v, want %v (reasons %q)", ok, tc.ok, reasons)
			}
			all := strings.Join(reasons, "\n")
			for _, s := range tc.contains {
				if !strings.Contains(all, s) {
					t.Errorf("reasons lack %q:\n%s", s, all)
				}
			}
		})
	}
}

func TestExitCode(t *testing.T) {
	r := &Report{Findings: []Finding{{Rule: RuleSetuid, Severity: SeverityLow}, {Rule: RuleRootUser, Severity: SeverityMedium}}}
	tests := []struct {
		threshold Severity
		want      int
	}{
		{SeverityCritical, ExitClean},
		{SeverityHigh, ExitClean},
		{SeverityMedium, ExitFindings},
		{SeverityInfo, ExitFindings},
	}
	for _, tc := range tests {
		t.Run(tc.threshold.String(), func(t *testing.T) {
			if got := ExitCode(r, tc.threshold); got != tc.want {
				t.Errorf("ExitCode(%s) = %d, want %d", tc.threshold, got, tc.want)
			}
		})
	}
	if got := ExitCode(&Report{}, SeverityInfo); got != ExitClean {
		t.Errorf("ExitCode(empty) = %d", got)
	}
}

func TestUnreadableInputIsAnError(t *testing.T) {
	dir := t.TempDir()
	notTar := filepath.Join(dir, "not.tar")
	os.WriteFile(notTar, []byte("this is not a tarball"), 0o644)
	for _, p := range []string{notTar, filepath.Join(dir, "missing.tar")} {
		if _, err := Image(t.Context(), FromTarball(p, ""), Options{}); err == nil {
			t.Errorf("audit %s: no error", p)
		}
	}
}
