package lint

import (
	"errors"
	"strings"
	"testing"
	"time"
)

const suppressCompose = `services:
  db:
    image: postgres:16.4
    container_name: db
  web:
    image: example/web:1.0.0
    container_name: web
`

func TestSuppressions(t *testing.T) {
	tests := []struct {
		name           string
		file           string
		now            time.Time
		wantSuppressed []string // service of each suppressed DB003
		wantExpired    bool
		wantUnused     bool
	}{
		{name: "by rule", file: `suppressions:
  - rule: DB003
    reason: one instance per host
`, wantSuppressed: []string{"db", "web"}},
		{name: "by rule and service", file: `suppressions:
  - rule: DB003
    service: db
    reason: one instance per host
`, wantSuppressed: []string{"db"}},
		{name: "by file glob", file: `suppressions:
  - rule: DB003
    file: "*.yaml"
    reason: fixed names are part of the site's monitoring
`, wantSuppressed: []string{"db", "web"}},
		{name: "other file", file: `suppressions:
  - rule: DB003
    file: other.yml
    reason: x
`, wantUnused: true},
		{name: "valid through its expiry day", now: time.Date(2027, 1, 31, 23, 0, 0, 0, time.UTC), file: `suppressions:
  - rule: DB003
    service: web
    reason: until the migration
    expires: 2027-01-31
`, wantSuppressed: []string{"web"}},
		{name: "expired", now: time.Date(2027, 2, 1, 1, 0, 0, 0, time.UTC), file: `suppressions:
  - rule: DB003
    service: web
    reason: until the migration
    expires: 2027-01-31
`, wantExpired: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			file := write(t, dir, "compose.yaml", suppressCompose)
			sup, err := ParseSuppressions("suppress.yaml", []byte(tt.file))
			if err != nil {
				t.Fatal(err)
			}
			now := tt.now
			if now.IsZero() {
				now = testNow
			}
			r, err := Check(t.Context(), Options{Files: []string{file}, Suppressions: sup, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			expired, unused := false, false
			for _, f := range r.Findings {
				if f.Rule == ruleUnused {
					unused = true
				}
				if f.Rule == "DB003" && f.Suppression != nil {
					got = append(got, f.Service)
				}
				if f.Rule == ruleExpired {
					expired = true
					if f.File != "suppress.yaml" || f.Line != 2 || f.Severity != SeverityMedium {
						t.Errorf("expired-suppression finding at %s severity %s, want suppress.yaml:2 medium", f.Position, f.Severity)
					}
					if !strings.Contains(f.Message, "1 finding(s) are reported again") {
						t.Errorf("message %q does not count the findings that came back", f.Message)
					}
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.wantSuppressed, ",") {
				t.Errorf("suppressed DB003 for %v, want %v", got, tt.wantSuppressed)
			}
			if unused != tt.wantUnused {
				t.Errorf("unused-suppression finding = %v, want %v", unused, tt.wantUnused)
			}
			if expired != tt.wantExpired {
				t.Errorf("expired finding = %v, want %v", expired, tt.wantExpired)
			}
			for _, f := range r.Active() {
				if f.Suppression != nil {
					t.Errorf("Active returned a suppressed finding %s", f.Rule)
				}
			}
		})
	}
}

func TestSuppressionsFileErrors(t *testing.T) {
	tests := []struct {
		name, file, want string
	}{
		{"no reason", "suppressions:\n  - rule: DB003\n", "suppress.yaml:2: suppression of DB003 has no reason"},
		{"unknown rule", "suppressions:\n  - rule: DB999\n    reason: x\n", `suppress.yaml:2: unknown rule "DB999"`},
		{"bad date", "suppressions:\n  - rule: DB003\n    reason: x\n    expires: next week\n", `expires "next week" is not a date`},
		{"unknown key", "suppressions:\n  - rule: DB003\n    reason: x\n    until: 2027-01-01\n", "until"},
		{"not YAML", "suppressions: [\n", "parse suppressions file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSuppressions("suppress.yaml", []byte(tt.file))
			var ue *UsageError
			if !errors.As(err, &ue) {
				t.Fatalf("err = %v, want *UsageError", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to contain %q", err, tt.want)
			}
			if ExitCodeFor(nil, err, SeverityHigh) != ExitUsage {
				t.Errorf("exit code for %v is not ExitUsage", err)
			}
		})
	}
}

func TestExitCode(t *testing.T) {
	r := &Report{Findings: []Finding{
		{Rule: "DB018", Severity: SeverityLow},
		{Rule: "DB003", Severity: SeverityHigh, Suppression: &Suppression{Reason: "x"}},
	}}
	tests := []struct {
		threshold Severity
		want      int
	}{
		{SeverityHigh, ExitClean},
		{SeverityMedium, ExitClean},
		{SeverityLow, ExitFindings},
		{SeverityInfo, ExitFindings},
	}
	for _, tt := range tests {
		t.Run(tt.threshold.String(), func(t *testing.T) {
			if got := ExitCode(r, tt.threshold); got != tt.want {
				t.Errorf("ExitCode(threshold %s) = %d, want %d", tt.threshold, got, tt.want)
			}
		})
	}
	if got := ExitCodeFor(nil, &AnalysisError{Err: errors.New("x")}, SeverityHigh); got != ExitCouldNotLoad {
		t.Errorf("analysis error exit = %d", got)
	}
}
