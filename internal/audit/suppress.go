package audit

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/dockerbank/dockerbank/internal/finding"
	"gopkg.in/yaml.v3"
)

// Suppression hides findings of one rule, optionally only at paths that
// match a glob ("**" spans directories). Reason is mandatory; after Expires
// the suppression stops hiding and a DBK-SUPP-001 finding says so.
type Suppression struct {
	Rule    string `yaml:"rule" json:"rule"`
	Path    string `yaml:"path,omitempty" json:"path,omitempty"`
	Reason  string `yaml:"reason" json:"reason"`
	Expires string `yaml:"expires,omitempty" json:"expires,omitempty"`
	// Source is "file:line" of the suppression, for messages.
	Source string `yaml:"-" json:"source,omitempty"`

	expires time.Time
}

type suppressionFile struct {
	Version      int         `yaml:"version"`
	Suppressions []yaml.Node `yaml:"suppressions"`
}

// LoadSuppressions reads a suppressions file:
//
//	version: 1
//	suppressions:
//	  - rule: DBK-DATA-003
//	    path: "app/fixtures/**"
//	    reason: synthetic test database, no real patients
//	    expires: 2027-06-30
//
// It returns every problem at once, each with file:line.
func LoadSuppressions(r io.Reader, file string) ([]Suppression, error) {
	var f suppressionFile
	dec := yaml.NewDecoder(r)
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, fmt.Errorf("read suppressions %s: %w", file, err)
	}
	var errs []error
	if f.Version != 1 {
		errs = append(errs, fmt.Errorf("%s: version %d, want 1", file, f.Version))
	}
	var out []Suppression
	for _, n := range f.Suppressions {
		var s Suppression
		where := fmt.Sprintf("%s:%d", file, n.Line)
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				switch k := n.Content[i]; k.Value {
				case "rule", "path", "reason", "expires":
				default:
					errs = append(errs, fmt.Errorf("%s:%d: unknown field %q: want rule, path, reason, expires", file, k.Line, k.Value))
				}
			}
		}
		if err := n.Decode(&s); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
			continue
		}
		s.Source = where
		if s.Rule == "" {
			errs = append(errs, fmt.Errorf("%s: rule is required", where))
		}
		if strings.TrimSpace(s.Reason) == "" {
			errs = append(errs, fmt.Errorf("%s: reason is required: say why the finding is acceptable", where))
		}
		s.Path = strings.TrimPrefix(s.Path, "/")
		if s.Expires != "" {
			t, err := finding.ParseExpiry(s.Expires)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: expires %q: want YYYY-MM-DD", where, s.Expires))
			}
			s.expires = t
		}
		out = append(out, s)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("validate suppressions: %w", err)
	}
	return out, nil
}

func (s Suppression) matches(f Finding) bool {
	if s.Rule != f.Rule {
		return false
	}
	return s.Path == "" || matchGlob(s.Path, f.Path)
}

// expired says whether the suppression no longer applies at now (see
// finding.Expired: valid through its expiry date).
func (s Suppression) expired(now time.Time) bool {
	if s.Expires == "" {
		return false
	}
	t := s.expires
	if t.IsZero() {
		t, _ = finding.ParseExpiry(s.Expires)
	}
	return finding.Expired(t, now)
}

// applySuppressions splits findings into kept and suppressed. An expired
// suppression hides nothing and adds a warning finding when it would have
// matched.
func applySuppressions(fs []Finding, sups []Suppression, now time.Time) (kept, suppressed []Finding) {
	warned := map[int]bool{}
	var warnings []Finding
	for _, f := range fs {
		hidden := false
		for i, s := range sups {
			if !s.matches(f) {
				continue
			}
			if s.expired(now) {
				if !warned[i] {
					warned[i] = true
					warnings = append(warnings, Finding{Rule: RuleSuppression, Severity: SeverityMedium,
						Message: fmt.Sprintf("suppression of %s at %s expired on %s (reason was: %s); its findings are reported again",
							s.Rule, s.Source, s.Expires, s.Reason),
						Fix: ruleFix(RuleSuppression), ImageDigest: f.ImageDigest, Layer: -1, DeletedInLayer: -1})
				}
				continue
			}
			s := s
			f.Suppression = &s
			suppressed = append(suppressed, f)
			hidden = true
			break
		}
		if !hidden {
			kept = append(kept, f)
		}
	}
	return append(kept, warnings...), suppressed
}
