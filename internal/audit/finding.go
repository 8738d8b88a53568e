package audit

import (
	"fmt"
	"strings"
	"time"

	"github.com/dockerbank/dockerbank/internal/finding"
)

// Severity ranks a finding: the scale lint uses too (internal/finding).
// The zero value is unset, below every severity as a threshold.
type Severity = finding.Severity

// Severities from least to most severe.
const (
	SeverityInfo     = finding.Info
	SeverityLow      = finding.Low
	SeverityMedium   = finding.Medium
	SeverityHigh     = finding.High
	SeverityCritical = finding.Critical
)

// ParseSeverity reads a severity name such as "high" (case-insensitive).
func ParseSeverity(name string) (Severity, error) { return finding.ParseSeverity(name) }

// Finding is one observation about an image. Layer is -1 for findings about
// the image configuration; DeletedInLayer is -1 unless a later layer deleted
// the file (it is then still in the image's layers, and so in every copy of
// the image).
type Finding struct {
	Rule           string   `json:"rule"`
	Severity       Severity `json:"severity"`
	Message        string   `json:"message"`
	Fix            string   `json:"fix,omitempty"`
	ImageDigest    string   `json:"imageDigest"`
	Layer          int      `json:"layer"`
	LayerDigest    string   `json:"layerDigest,omitempty"`
	History        string   `json:"history,omitempty"`
	Path           string   `json:"path,omitempty"`
	DeletedInLayer int      `json:"deletedInLayer"`
	// Suppression is set on findings that a suppression matched; they are
	// listed in Report.Suppressed, not in Report.Findings.
	Suppression *Suppression `json:"suppression,omitempty"`
}

// Location is the finding's place for humans: "layer 3 /etc/x (deleted in
// layer 5)" or "image config".
func (f Finding) Location() string {
	var b strings.Builder
	if f.Layer < 0 {
		b.WriteString("image config")
	} else {
		fmt.Fprintf(&b, "layer %d", f.Layer)
	}
	if f.Path != "" {
		b.WriteString(" /")
		b.WriteString(f.Path)
	}
	if f.DeletedInLayer >= 0 {
		fmt.Fprintf(&b, " (deleted in layer %d)", f.DeletedInLayer)
	}
	return b.String()
}

// Report is the result of auditing one image.
type Report struct {
	Image      ImageInfo `json:"image"`
	Findings   []Finding `json:"findings"`
	Suppressed []Finding `json:"suppressed,omitempty"`
}

// ImageInfo is the provenance record of the audited image.
type ImageInfo struct {
	Ref          string            `json:"ref,omitempty"`
	ID           string            `json:"id"`
	Digest       string            `json:"digest,omitempty"`
	Created      time.Time         `json:"created,omitzero"`
	Author       string            `json:"author,omitempty"`
	OS           string            `json:"os,omitempty"`
	Architecture string            `json:"architecture,omitempty"`
	User         string            `json:"user"`
	Labels       map[string]string `json:"labels,omitempty"`
	OSRelease    string            `json:"osRelease,omitempty"`
	BaseGuess    string            `json:"baseGuess,omitempty"`
	Layers       []LayerInfo       `json:"layers"`
}

// LayerInfo describes one filesystem layer.
type LayerInfo struct {
	Index     int       `json:"index"`
	Digest    string    `json:"digest"`
	CreatedBy string    `json:"createdBy,omitempty"`
	Created   time.Time `json:"created,omitzero"`
	Files     int       `json:"files"`
	Whiteouts int       `json:"whiteouts"`
	Bytes     int64     `json:"bytes"`
}

// digest is the identity findings cite: the registry digest when known,
// else the image ID (sha256 of the config).
func (i ImageInfo) digest() string {
	if i.Digest != "" {
		return i.Digest
	}
	return i.ID
}

// Max returns the highest severity among the report's unsuppressed findings,
// and false when there are none.
func (r *Report) Max() (Severity, bool) {
	if len(r.Findings) == 0 {
		return 0, false
	}
	m := SeverityInfo
	for _, f := range r.Findings {
		m = max(m, f.Severity)
	}
	return m, true
}
