package audit

import (
	"fmt"

	"github.com/dockerbank/dockerbank/internal/instance/label"
)

// PushVerdict decides whether an image may be pushed to a registry. It
// refuses an image labelled not redistributable (labels are the image's
// labels as the engine reports them; nil means read them from the report),
// an image holding a product that may not be redistributed, and an image
// with any unsuppressed data or secret finding of medium severity or more
// (low ones are schema files and test keys that packages ship). reasons lists every cause,
// for the user.
func PushVerdict(r *Report, labels map[string]string) (ok bool, reasons []string) {
	if labels == nil && r != nil {
		labels = r.Image.Labels
	}
	if labels[label.Redistributable] == "false" {
		reasons = append(reasons, fmt.Sprintf("image is labelled %s=false: it was built from a licensee's own copy", label.Redistributable))
	}
	if reason, ok := labels[label.FrozenAllowData]; ok {
		reasons = append(reasons, fmt.Sprintf("image was frozen from %s/%s with --allow-data (reason: %q): its top layer was allowed to hold data or secrets on this site only",
			labels[label.FrozenInstance], labels[label.FrozenService], reason))
	}
	if r == nil {
		return false, append(reasons, "no audit report: audit the image before pushing it")
	}
	for _, f := range r.Findings {
		switch {
		case blocks(f):
			reasons = append(reasons, fmt.Sprintf("%s %s: %s at %s", f.Rule, f.Severity, f.Message, f.Location()))
		case f.Rule == RuleProduct:
			reasons = append(reasons, fmt.Sprintf("%s: %s at %s", f.Rule, f.Message, f.Location()))
		}
	}
	return len(reasons) == 0, reasons
}
