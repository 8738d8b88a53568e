package lint

import (
	"encoding/json"
	"io"
	"strings"
)

// SARIF 2.1.0 (OASIS): the subset dockerbank writes. Field names follow the spec.

type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool       sarifTool     `json:"tool"`
	Results    []sarifResult `json:"results"`
	ColumnKind string        `json:"columnKind"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
	// InformationalVersion carries a non-numeric version (dev builds, commit hashes).
	InformationalVersion string      `json:"informationalVersion,omitempty"`
	InformationURI       string      `json:"informationUri,omitempty"`
	Rules                []sarifRule `json:"rules"`
}

type sarifText struct {
	Text string `json:"text"`
}

type sarifRule struct {
	ID                   string          `json:"id"`
	Name                 string          `json:"name"`
	ShortDescription     sarifText       `json:"shortDescription"`
	FullDescription      sarifText       `json:"fullDescription"`
	Help                 sarifText       `json:"help"`
	DefaultConfiguration sarifRuleConfig `json:"defaultConfiguration"`
	Properties           map[string]any  `json:"properties,omitempty"`
}

type sarifRuleConfig struct {
	Level string `json:"level"`
}

type sarifArtifactLocation struct {
	URI       string `json:"uri"`
	URIBaseID string `json:"uriBaseId,omitempty"`
}

type sarifResult struct {
	RuleID              string             `json:"ruleId"`
	RuleIndex           int                `json:"ruleIndex"`
	Level               string             `json:"level"`
	Message             sarifText          `json:"message"`
	Locations           []sarifLocation    `json:"locations,omitempty"`
	PartialFingerprints map[string]string  `json:"partialFingerprints,omitempty"`
	Suppressions        []sarifSuppression `json:"suppressions,omitempty"`
	Properties          map[string]any     `json:"properties,omitempty"`
}

type sarifLocation struct {
	PhysicalLocation sarifPhysical  `json:"physicalLocation"`
	LogicalLocations []sarifLogical `json:"logicalLocations,omitempty"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifactLocation `json:"artifactLocation"`
	Region           *sarifRegion          `json:"region,omitempty"`
}

type sarifRegion struct {
	StartLine   int `json:"startLine"`
	StartColumn int `json:"startColumn,omitempty"`
}

type sarifLogical struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
}

type sarifSuppression struct {
	Kind          string `json:"kind"`
	Status        string `json:"status"`
	Justification string `json:"justification"`
}

// sarifLevel maps severities to SARIF levels.
func sarifLevel(s Severity) string {
	switch s {
	case SeverityHigh:
		return "error"
	case SeverityMedium:
		return "warning"
	}
	return "note"
}

// securitySeverity is the score GitHub code scanning reads from rule properties.
func securitySeverity(s Severity) string {
	switch s {
	case SeverityHigh:
		return "8.0"
	case SeverityMedium:
		return "5.0"
	case SeverityLow:
		return "3.0"
	}
	return "1.0"
}

// SARIFOptions name the tool in the log.
type SARIFOptions struct {
	ToolVersion string
}

// WriteSARIF writes the report as a SARIF 2.1.0 log. File URIs are
// relative to the project directory (uriBaseId PROJECTROOT) when the
// findings' paths are relative.
func WriteSARIF(w io.Writer, r *Report, o SARIFOptions) error {
	driver := sarifDriver{Name: "dockerbank-lint", InformationURI: "https://github.com/dockerbank/dockerbank"}
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
		driver.Rules = append(driver.Rules, sarifRule{
			ID: rule.ID, Name: rule.Name,
			ShortDescription:     sarifText{Text: rule.Summary},
			FullDescription:      sarifText{Text: rule.Summary},
			Help:                 sarifText{Text: "Fix: " + rule.Fix},
			DefaultConfiguration: sarifRuleConfig{Level: sarifLevel(rule.Severity)},
			Properties:           map[string]any{"security-severity": securitySeverity(rule.Severity), "tags": []string{"compose", "dockerbank"}},
		})
	}
	run := sarifRun{Tool: sarifTool{Driver: driver}, Results: []sarifResult{}, ColumnKind: "unicodeCodePoints"}
	for _, f := range r.Findings {
		loc := sarifArtifactLocation{URI: fileURI(f.File)}
		if !strings.HasPrefix(f.File, "/") {
			loc.URIBaseID = "PROJECTROOT"
		}
		pl := sarifPhysical{ArtifactLocation: loc}
		if f.Line > 0 {
			pl.Region = &sarifRegion{StartLine: f.Line, StartColumn: f.Col}
		}
		l := sarifLocation{PhysicalLocation: pl}
		if f.Service != "" {
			l.LogicalLocations = []sarifLogical{{Name: f.Service, Kind: "module"}}
		}
		msg := f.Message
		if f.Fix != "" {
			msg += ". Fix: " + f.Fix
		}
		res := sarifResult{
			RuleID: f.Rule, RuleIndex: index[f.Rule], Level: sarifLevel(f.Severity),
			Message:             sarifText{Text: msg},
			Locations:           []sarifLocation{l},
			PartialFingerprints: map[string]string{"dockerbankFinding/v1": f.Rule + "|" + f.File + "|" + f.Service + "|" + f.Message},
			Properties:          map[string]any{"severity": f.Severity.String()},
		}
		if f.Suppression != nil {
			res.Suppressions = []sarifSuppression{{Kind: "external", Status: "accepted", Justification: f.Suppression.Reason}}
		}
		run.Results = append(run.Results, res)
	}
	log := sarifLog{
		Schema:  "https://json.schemastore.org/sarif-2.1.0.json",
		Version: "2.1.0",
		Runs:    []sarifRun{run},
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(log)
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
