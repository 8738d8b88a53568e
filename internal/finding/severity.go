package finding

import (
	"fmt"
	"strings"
)

// Severity ranks a finding. The zero value is unset (a rule's default
// applies), and below every severity as a threshold.
type Severity int

// Severities from least to most serious. The linter uses info to high.
const (
	Info Severity = iota + 1
	Low
	Medium
	High
	Critical
)

var names = []string{Info: "info", Low: "low", Medium: "medium", High: "high", Critical: "critical"}

func (s Severity) String() string {
	if s < Info || s > Critical {
		return fmt.Sprintf("severity(%d)", int(s))
	}
	return names[s]
}

// ParseSeverity reads a severity name such as "high" (case-insensitive).
func ParseSeverity(name string) (Severity, error) {
	for s := Info; s <= Critical; s++ {
		if strings.EqualFold(names[s], name) {
			return s, nil
		}
	}
	return 0, fmt.Errorf("parse severity %q: want one of info, low, medium, high, critical", name)
}

// MarshalText writes the severity's name (also in JSON).
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a severity name.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// SARIFLevel is the SARIF result level of a severity: error from high
// up, warning for medium, note below.
func (s Severity) SARIFLevel() string {
	switch {
	case s >= High:
		return "error"
	case s == Medium:
		return "warning"
	}
	return "note"
}

// SecurityScore is the security-severity GitHub code scanning reads from
// a rule's properties.
func (s Severity) SecurityScore() string {
	switch {
	case s >= Critical:
		return "9.5"
	case s == High:
		return "8.0"
	case s == Medium:
		return "5.0"
	case s == Low:
		return "3.0"
	}
	return "1.0"
}
