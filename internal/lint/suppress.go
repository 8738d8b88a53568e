package lint

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/dockerbank/dockerbank/internal/finding"
	"go.yaml.in/yaml/v4"
)

// Suppression is one accepted finding pattern, with the reason it is accepted.
//
//	suppressions:
//	  - rule: DB003
//	    service: db              # optional
//	    file: docker-compose.yml # optional: path, base name or glob
//	    reason: one instance per host by design
//	    expires: 2027-01-31      # optional
type Suppression struct {
	Rule    string `yaml:"rule" json:"rule"`
	Service string `yaml:"service,omitempty" json:"service,omitempty"`
	File    string `yaml:"file,omitempty" json:"file,omitempty"`
	Reason  string `yaml:"reason" json:"reason"`
	Expires string `yaml:"expires,omitempty" json:"expires,omitempty"`

	expires time.Time
	pos     Position
}

// Suppressions is a loaded suppressions file.
type Suppressions struct {
	File    string
	Entries []Suppression
}

type suppressionsFile struct {
	Suppressions []yaml.Node `yaml:"suppressions"`
}

// LoadSuppressions reads a suppressions file. Every problem (unknown rule,
// missing reason, bad date) is reported with its line; errors are *UsageError.
func LoadSuppressions(file string) (*Suppressions, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, &UsageError{Err: fmt.Errorf("read suppressions file: %w", err)}
	}
	return ParseSuppressions(file, data)
}

// ParseSuppressions parses suppressions from data; file names it in errors.
func ParseSuppressions(file string, data []byte) (*Suppressions, error) {
	var raw suppressionsFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&raw); err != nil {
		return nil, &UsageError{Err: fmt.Errorf("parse suppressions file %s: %w", file, err)}
	}
	s := &Suppressions{File: file}
	var errs []error
	for _, n := range raw.Suppressions {
		at := fmt.Sprintf("%s:%d", file, n.Line)
		if n.Kind != yaml.MappingNode {
			errs = append(errs, fmt.Errorf("%s: a suppression is a mapping with rule and reason", at))
			continue
		}
		field := func(k string) string {
			_, v := mapGet(&n, k)
			return strings.TrimSpace(scalar(v))
		}
		e := Suppression{Rule: field("rule"), Service: field("service"), File: field("file"), Reason: field("reason"), Expires: field("expires")}
		for _, k := range mapKeys(&n) {
			if !slices.Contains([]string{"rule", "service", "file", "reason", "expires"}, k) {
				errs = append(errs, fmt.Errorf("%s: unknown key %q; allowed: rule, service, file, reason, expires", at, k))
			}
		}
		e.pos = Position{File: file, Line: n.Line, Col: n.Column}
		if _, ok := ruleByID(e.Rule); !ok {
			errs = append(errs, fmt.Errorf("%s: unknown rule %q; see `dockerbank lint --rules`", at, e.Rule))
		}
		if strings.TrimSpace(e.Reason) == "" {
			errs = append(errs, fmt.Errorf("%s: suppression of %s has no reason; say why the finding is accepted", at, e.Rule))
		}
		if e.Expires != "" {
			t, err := finding.ParseExpiry(e.Expires)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: expires %q is not a date like 2027-01-31", at, e.Expires))
			}
			e.expires = t
		}
		if e.File != "" {
			if _, err := path.Match(e.File, "x"); err != nil {
				errs = append(errs, fmt.Errorf("%s: file pattern %q: %w", at, e.File, err))
			}
		}
		s.Entries = append(s.Entries, e)
	}
	if len(errs) > 0 {
		return nil, &UsageError{Err: fmt.Errorf("suppressions file %s: %w", file, errors.Join(errs...))}
	}
	return s, nil
}

func (e *Suppression) matches(f Finding) bool {
	if e.Rule != f.Rule {
		return false
	}
	if e.Service != "" && e.Service != f.Service {
		return false
	}
	if e.File != "" {
		if e.File != f.File && e.File != path.Base(f.File) {
			m1, _ := path.Match(e.File, f.File)
			m2, _ := path.Match(e.File, path.Base(f.File))
			if !m1 && !m2 {
				return false
			}
		}
	}
	return true
}

// expired says whether the suppression no longer applies at now (see
// finding.Expired: valid through its expiry date).
func (e *Suppression) expired(now time.Time) bool {
	return finding.Expired(e.expires, now)
}

// apply marks matching findings as suppressed. Expired entries suppress
// nothing and add a DB099 finding each.
func (s *Suppressions) apply(fs []Finding, now time.Time) []Finding {
	for i := range s.Entries {
		e := &s.Entries[i]
		if e.expired(now) {
			n := 0
			for _, f := range fs {
				if e.matches(f) {
					n++
				}
			}
			fs = append(fs, Finding{Rule: ruleExpired, Severity: SeverityMedium, Position: e.pos, Service: e.Service,
				Message: fmt.Sprintf("suppression of %s expired on %s (reason was: %s); its %d finding(s) are reported again", e.Rule, e.Expires, e.Reason, n),
				Fix:     "fix the findings, or renew the suppression with a new reason and date"})
			continue
		}
		used := false
		for j := range fs {
			if e.matches(fs[j]) {
				used = true
				if fs[j].Suppression == nil {
					fs[j].Suppression = e
				}
			}
		}
		if !used {
			fs = append(fs, Finding{Rule: ruleUnused, Severity: SeverityInfo, Position: e.pos, Service: e.Service,
				Message: fmt.Sprintf("suppression of %s matches no finding (reason was: %s)", e.Rule, e.Reason),
				Fix:     "remove it, so that a future finding of this kind is not hidden"})
		}
	}
	return fs
}
