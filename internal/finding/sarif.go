package finding

import (
	"encoding/json"
	"io"
)

// SARIF 2.1.0 (OASIS): the subset dockerbank writes. Field names follow
// the spec; optional fields are left out when empty, so each tool writes
// only what it knows.

// SARIFLog is a SARIF log of one run.
type SARIFLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []SARIFRun `json:"runs"`
}

// SARIFRun is one run of a tool.
type SARIFRun struct {
	Tool       SARIFTool     `json:"tool"`
	Results    []SARIFResult `json:"results"`
	ColumnKind string        `json:"columnKind,omitempty"`
}

// SARIFTool names the tool.
type SARIFTool struct {
	Driver SARIFDriver `json:"driver"`
}

// SARIFDriver is the tool and its rules.
type SARIFDriver struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
	// InformationalVersion carries a non-numeric version (dev builds, commit hashes).
	InformationalVersion string      `json:"informationalVersion,omitempty"`
	InformationURI       string      `json:"informationUri,omitempty"`
	Rules                []SARIFRule `json:"rules"`
}

// SARIFText is a message.
type SARIFText struct {
	Text string `json:"text"`
}

// SARIFRule describes one rule.
type SARIFRule struct {
	ID                   string           `json:"id"`
	Name                 string           `json:"name,omitempty"`
	ShortDescription     SARIFText        `json:"shortDescription"`
	FullDescription      *SARIFText       `json:"fullDescription,omitempty"`
	Help                 SARIFText        `json:"help"`
	DefaultConfiguration *SARIFRuleConfig `json:"defaultConfiguration,omitempty"`
	Properties           map[string]any   `json:"properties,omitempty"`
}

// SARIFRuleConfig is a rule's default level.
type SARIFRuleConfig struct {
	Level string `json:"level"`
}

// SARIFResult is one finding.
type SARIFResult struct {
	RuleID              string             `json:"ruleId"`
	RuleIndex           int                `json:"ruleIndex"`
	Level               string             `json:"level"`
	Message             SARIFText          `json:"message"`
	Locations           []SARIFLocation    `json:"locations,omitempty"`
	PartialFingerprints map[string]string  `json:"partialFingerprints,omitempty"`
	Suppressions        []SARIFSuppression `json:"suppressions,omitempty"`
	Properties          map[string]any     `json:"properties,omitempty"`
}

// SARIFLocation is where a finding is.
type SARIFLocation struct {
	PhysicalLocation SARIFPhysical  `json:"physicalLocation"`
	LogicalLocations []SARIFLogical `json:"logicalLocations,omitempty"`
}

// SARIFPhysical is a file and a region in it.
type SARIFPhysical struct {
	ArtifactLocation SARIFArtifact `json:"artifactLocation"`
	Region           *SARIFRegion  `json:"region,omitempty"`
}

// SARIFArtifact is a file.
type SARIFArtifact struct {
	URI       string `json:"uri"`
	URIBaseID string `json:"uriBaseId,omitempty"`
}

// SARIFRegion is a place in a file.
type SARIFRegion struct {
	StartLine   int `json:"startLine"`
	StartColumn int `json:"startColumn,omitempty"`
}

// SARIFLogical is a named place (a compose service).
type SARIFLogical struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
}

// SARIFSuppression says a result was accepted, and why.
type SARIFSuppression struct {
	Kind          string `json:"kind"`
	Status        string `json:"status,omitempty"`
	Justification string `json:"justification"`
}

// WriteSARIF writes one run as an indented SARIF 2.1.0 log.
func WriteSARIF(w io.Writer, run SARIFRun) error {
	if run.Results == nil {
		run.Results = []SARIFResult{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(SARIFLog{
		Schema:  "https://json.schemastore.org/sarif-2.1.0.json",
		Version: "2.1.0",
		Runs:    []SARIFRun{run},
	})
}
