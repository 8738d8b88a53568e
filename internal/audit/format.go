package audit

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/dockerbank/dockerbank/internal/finding"
)

// Formats Write accepts.
const (
	FormatText  = "text"
	FormatJSON  = "json"
	FormatSARIF = "sarif"
)

// Write renders r in format (text, json or sarif).
func Write(w io.Writer, r *Report, format string) error {
	switch format {
	case FormatText, "":
		return WriteText(w, r)
	case FormatJSON:
		return WriteJSON(w, r)
	case FormatSARIF:
		return WriteSARIF(w, r)
	}
	return fmt.Errorf("write report: unknown format %q: want text, json or sarif", format)
}

// WriteText renders the report for a terminal: the image record, the layer
// history, then one block per finding.
func WriteText(w io.Writer, r *Report) error {
	b := bufio.NewWriter(w)
	img := r.Image
	name := img.Ref
	if name == "" {
		name = img.ID
	}
	fmt.Fprintf(b, "Image %s\n  id %s\n", name, img.ID)
	if img.Digest != "" {
		fmt.Fprintf(b, "  digest %s\n", img.Digest)
	}
	if img.OSRelease != "" {
		fmt.Fprintf(b, "  os %s\n", img.OSRelease)
	}
	user := img.User
	if user == "" {
		user = "(unset: root)"
	}
	fmt.Fprintf(b, "  user %s\n\nLayers\n", user)
	tw := tabwriter.NewWriter(b, 0, 4, 2, ' ', 0)
	for _, l := range img.Layers {
		created := ""
		if !l.Created.IsZero() {
			created = l.Created.UTC().Format("2006-01-02")
		}
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%d files\t%s\n", l.Index, shortDigest(l.Digest), created, l.Files, oneLine(l.CreatedBy, 70))
	}
	tw.Flush()
	counts := map[Severity]int{}
	for _, f := range r.Findings {
		counts[f.Severity]++
	}
	fmt.Fprintf(b, "\nFindings: %d critical, %d high, %d medium, %d low, %d info; %d suppressed\n",
		counts[SeverityCritical], counts[SeverityHigh], counts[SeverityMedium], counts[SeverityLow], counts[SeverityInfo], len(r.Suppressed))
	for _, f := range r.Findings {
		fmt.Fprintf(b, "\n%-8s %s %s\n  %s\n", strings.ToUpper(f.Severity.String()), f.Rule, f.Location(), f.Message)
		if f.History != "" && f.Layer >= 0 {
			fmt.Fprintf(b, "  added by: %s\n", oneLine(f.History, 100))
		}
		if f.Fix != "" {
			fmt.Fprintf(b, "  fix: %s\n", f.Fix)
		}
	}
	for _, f := range r.Suppressed {
		fmt.Fprintf(b, "\nSUPPRESSED %s %s: %s (%s)\n", f.Rule, f.Location(), f.Message, f.Suppression.Reason)
	}
	return b.Flush()
}

func shortDigest(d string) string {
	if _, hex, ok := strings.Cut(d, ":"); ok && len(hex) > 12 {
		return hex[:12]
	}
	return d
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n-3] + "..."
	}
	return s
}

// WriteJSON renders the report as versioned JSON (schemaVersion 1):
// {"schemaVersion": 1, "image": {...}, "findings": [...], "suppressed": [...]}.
// Findings are encoded one at a time, so output never needs a second copy
// of the report in memory.
func WriteJSON(w io.Writer, r *Report) error {
	bw := bufio.NewWriter(w)
	img, err := json.MarshalIndent(r.Image, "  ", "  ")
	if err != nil {
		return err
	}
	fmt.Fprintf(bw, "{\n  \"schemaVersion\": 1,\n  \"image\": %s,\n", img)
	list := func(name string, fs []Finding, last bool) error {
		fmt.Fprintf(bw, "  %q: [", name)
		for i, f := range fs {
			b, err := json.MarshalIndent(f, "    ", "  ")
			if err != nil {
				return err
			}
			if i > 0 {
				bw.WriteString(",")
			}
			bw.WriteString("\n    ")
			bw.Write(b)
		}
		if len(fs) > 0 {
			bw.WriteString("\n  ")
		}
		bw.WriteString("]")
		if !last {
			bw.WriteString(",")
		}
		bw.WriteString("\n")
		return nil
	}
	if err := list("findings", r.Findings, false); err != nil {
		return err
	}
	if err := list("suppressed", r.Suppressed, true); err != nil {
		return err
	}
	bw.WriteString("}\n")
	return bw.Flush()
}

// WriteSARIF renders the report as SARIF 2.1.0. Every result has a
// location: the file's path in the image, or "image-config" for findings
// about the configuration; layer and deletion are result properties.
func WriteSARIF(w io.Writer, r *Report) error {
	rules := Rules()
	index := map[string]int{}
	driver := finding.SARIFDriver{Name: "dockerbank-audit"}
	for i, ru := range rules {
		index[ru.ID] = i
		help := ru.Fix
		if help == "" {
			help = ru.Title
		}
		driver.Rules = append(driver.Rules, finding.SARIFRule{ID: ru.ID, ShortDescription: finding.SARIFText{Text: ru.Title}, Help: finding.SARIFText{Text: help}})
	}
	run := finding.SARIFRun{Tool: finding.SARIFTool{Driver: driver}}
	add := func(f Finding) {
		uri := "image-config"
		if f.Path != "" {
			uri = f.Path
		}
		res := finding.SARIFResult{
			RuleID: f.Rule, RuleIndex: index[f.Rule], Level: f.Severity.SARIFLevel(),
			Message:   finding.SARIFText{Text: f.Message + " (" + f.Location() + ")"},
			Locations: []finding.SARIFLocation{{PhysicalLocation: finding.SARIFPhysical{ArtifactLocation: finding.SARIFArtifact{URI: uri}}}},
			Properties: map[string]any{
				"severity": f.Severity.String(), "imageDigest": f.ImageDigest, "layer": f.Layer,
				"layerDigest": f.LayerDigest, "deletedInLayer": f.DeletedInLayer, "history": f.History,
			},
		}
		if f.Suppression != nil {
			res.Suppressions = []finding.SARIFSuppression{{Kind: "external", Justification: f.Suppression.Reason}}
		}
		run.Results = append(run.Results, res)
	}
	for _, f := range r.Findings {
		add(f)
	}
	for _, f := range r.Suppressed {
		add(f)
	}
	return finding.WriteSARIF(w, run)
}
