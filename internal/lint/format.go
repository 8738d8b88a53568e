package lint

import (
	"encoding/json"
	"fmt"
	"io"
)

// WriteText writes one line per active finding:
// file:line:col severity RULE service: message (fix: ...)
// followed by a summary line.
func WriteText(w io.Writer, r *Report) error {
	counts := map[Severity]int{}
	suppressed := 0
	for _, f := range r.Findings {
		if f.Suppression != nil {
			suppressed++
			continue
		}
		counts[f.Severity]++
		svc := ""
		if f.Service != "" {
			svc = " " + f.Service
		}
		fix := ""
		if f.Fix != "" {
			fix = " (fix: " + f.Fix + ")"
		}
		if _, err := fmt.Fprintf(w, "%s %s %s%s: %s%s\n", f.Position, f.Severity, f.Rule, svc, f.Message, fix); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "%d high, %d medium, %d low, %d info; %d suppressed\n",
		counts[SeverityHigh], counts[SeverityMedium], counts[SeverityLow], counts[SeverityInfo], suppressed)
	return err
}

// WriteJSON writes the report as indented JSON.
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
