package audit

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Severity ranks a finding. The zero value is SeverityInfo.
type Severity int

// Severities from least to most severe.
const (
	SeverityInfo Severity = iota
	SeverityLow
	SeverityMedium
	SeverityHigh
	SeverityCritical
)

var severityNames = []string{"info", "low", "medium", "high", "critical"}

func (s Severity) String() string {
	if s < 0 || int(s) >= len(severityNames) {
		return fmt.Sprintf("severity(%d)", int(s))
	}
	return severityNames[s]
}

// ParseSeverity reads a severity name such as "high" (case-insensitive).
func ParseSeverity(name string) (Severity, error) {
	for i, n := range severityNames {
		if strings.EqualFold(n, name) {
			return Severity(i), nil
		}
	}
	return 0, fmt.Errorf("parse severity %q: want one of %s", name, strings.Join(severityNames, ", "))
}

// MarshalJSON writes the severity as its name.
func (s Severity) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// UnmarshalJSON reads a severity name.
func (s *Severity) UnmarshalJSON(b []byte) error {
	var name string
	if err := json.Unmarshal(b, &name); err != nil {
		return err
	}
	v, err := ParseSeverity(name)
	if err != nil {
		return err
	}
	*s = v
	return nil
}

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
