package lint

import (
	"io"
	"strings"

	"github.com/dockerbank/dockerbank/internal/finding"
)

// SARIFOptions name the tool in the log.
type SARIFOptions struct {
	ToolVersion string
}

// WriteSARIF writes the report as a SARIF 2.1.0 log. File URIs are
// relative to the project directory (uriBaseId PROJECTROOT) when the
// findings' paths are relative.
func WriteSARIF(w io.Writer, r *Report, o SARIFOptions) error {
	driver := finding.SARIFDriver{Name: "dockerbank-lint", InformationURI: "https://github.com/dockerbank/dockerbank"}
	// SARIF consumers compare numeric versions (the SDK warns, SARIF2005,
	// on "dev" or a commit hash there, and on no version at all): a build
	// without a release number is 0.0.0-<what it is>, as semver writes it.
	if v := strings.TrimPrefix(o.ToolVersion, "v"); v != "" && v[0] >= '0' && v[0] <= '9' {
		driver.Version = v
	} else {
		driver.Version = "0.0.0-" + orDefault(o.ToolVersion, "dev")
	}
	index := map[string]int{}
	for i, rule := range registry {
		index[rule.ID] = i
		driver.Rules = append(driver.Rules, finding.SARIFRule{
			ID: rule.ID, Name: rule.Name,
			ShortDescription:     finding.SARIFText{Text: rule.Summary},
			FullDescription:      &finding.SARIFText{Text: rule.Summary},
			Help:                 finding.SARIFText{Text: "Fix: " + rule.Fix},
			DefaultConfiguration: &finding.SARIFRuleConfig{Level: rule.Severity.SARIFLevel()},
			Properties:           map[string]any{"security-severity": rule.Severity.SecurityScore(), "tags": []string{"compose", "dockerbank"}},
		})
	}
	run := finding.SARIFRun{Tool: finding.SARIFTool{Driver: driver}, ColumnKind: "unicodeCodePoints"}
	for _, f := range r.Findings {
		loc := finding.SARIFArtifact{URI: fileURI(f.File)}
		if !strings.HasPrefix(f.File, "/") {
			loc.URIBaseID = "PROJECTROOT"
		}
		pl := finding.SARIFPhysical{ArtifactLocation: loc}
		if f.Line > 0 {
			pl.Region = &finding.SARIFRegion{StartLine: f.Line, StartColumn: f.Col}
		}
		l := finding.SARIFLocation{PhysicalLocation: pl}
		if f.Service != "" {
			l.LogicalLocations = []finding.SARIFLogical{{Name: f.Service, Kind: "module"}}
		}
		msg := f.Message
		if f.Fix != "" {
			msg += ". Fix: " + f.Fix
		}
		res := finding.SARIFResult{
			RuleID: f.Rule, RuleIndex: index[f.Rule], Level: f.Severity.SARIFLevel(),
			Message:             finding.SARIFText{Text: msg},
			Locations:           []finding.SARIFLocation{l},
			PartialFingerprints: map[string]string{"dockerbankFinding/v1": f.Rule + "|" + f.File + "|" + f.Service + "|" + f.Message},
			Properties:          map[string]any{"severity": f.Severity.String()},
		}
		if f.Suppression != nil {
			res.Suppressions = []finding.SARIFSuppression{{Kind: "external", Status: "accepted", Justification: f.Suppression.Reason}}
		}
		run.Results = append(run.Results, res)
	}
	return finding.WriteSARIF(w, run)
}

// fileURI turns a slash path into a URI reference (percent-encoding spaces and the like).
func fileURI(p string) string {
	var b strings.Builder
	if strings.HasPrefix(p, "/") {
		b.WriteString("file://")
	}
	for _, c := range []byte(p) {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("/-._~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteString("%")
		b.WriteString(strings.ToUpper(hex2(c)))
	}
	return b.String()
}

func hex2(c byte) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[c>>4], digits[c&15]})
}
