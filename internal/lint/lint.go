package lint

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/dockerbank/dockerbank/internal/finding"
)

// Severity orders findings: the scale audit uses too (internal/finding).
// The zero value is unset: a rule's default applies. Lint rules use info
// to high.
type Severity = finding.Severity

// Severities, from least to most serious.
const (
	SeverityInfo   = finding.Info
	SeverityLow    = finding.Low
	SeverityMedium = finding.Medium
	SeverityHigh   = finding.High
)

// ParseSeverity reads "info", "low", "medium", "high" (or "critical").
func ParseSeverity(v string) (Severity, error) { return finding.ParseSeverity(v) }

// Position is a place in an input file. Line and Col start at 1; 0 means unknown.
type Position struct {
	File string `json:"file"`
	Line int    `json:"line,omitempty"`
	Col  int    `json:"col,omitempty"`
}

func (p Position) String() string {
	switch {
	case p.Line == 0:
		return p.File
	case p.Col == 0:
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Finding is one rule violation at one place.
type Finding struct {
	Rule     string   `json:"rule"`
	Severity Severity `json:"severity"`
	Position
	Service string `json:"service,omitempty"`
	Message string `json:"message"`
	Fix     string `json:"fix,omitempty"`
	// Suppression is set when a suppression entry matched the finding.
	Suppression *Suppression `json:"suppression,omitempty"`
}

// Report is the result of one Check.
type Report struct {
	// Files are the compose files analysed, in load order, as displayed in findings.
	Files []string `json:"files"`
	// Partial is set when a file named by extends, include or env_file was
	// missing and the project was analysed without it (see DB091).
	Partial bool `json:"partial,omitempty"`
	// Findings, sorted by file, line, column and rule; suppressed ones included.
	Findings []Finding `json:"findings"`
}

// Active returns the findings that no suppression matched.
func (r *Report) Active() []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if f.Suppression == nil {
			out = append(out, f)
		}
	}
	return out
}

// Options say what to check and how to load it.
type Options struct {
	// Files are compose files in load order (later files override earlier
	// ones, like `docker compose -f a -f b`). If empty, ProjectDir is searched
	// for compose.yaml, compose.yml, docker-compose.yml or docker-compose.yaml
	// and its override file.
	Files []string
	// ProjectDir is the project directory: relative paths, the default .env
	// file and displayed file names are relative to it. Default: the
	// directory of the first file.
	ProjectDir string
	// EnvFiles replace the default ProjectDir/.env.
	EnvFiles []string
	// Environment adds variables that win over env files (compose gives the
	// shell environment this role). Nil keeps results independent of the
	// caller's shell.
	Environment map[string]string
	// Profiles to enable. Empty means every profile, so that every service
	// is checked.
	Profiles []string
	// Suppressions are applied to the findings. Load them with LoadSuppressions.
	Suppressions *Suppressions
	// Now decides whether suppressions and end-of-life dates have passed.
	// Zero means time.Now().
	Now time.Time
}

// Exit codes for a lint run, mapped by the CLI.
const (
	ExitClean        = 0 // no finding at or above the threshold
	ExitFindings     = 1 // at least one active finding at or above the threshold
	ExitCouldNotLoad = 2 // an input could not be analysed (broken YAML, unreadable file)
	ExitUsage        = 3 // bad flags or a bad suppressions file
)

// ExitCode maps a report to ExitClean or ExitFindings: findings count when
// they are not suppressed and are at or above threshold.
func ExitCode(r *Report, threshold Severity) int {
	if r == nil {
		return ExitCouldNotLoad
	}
	for _, f := range r.Findings {
		if f.Suppression == nil && f.Severity >= threshold {
			return ExitFindings
		}
	}
	return ExitClean
}

// ExitCodeFor maps the result of Check (report or error) to an exit code.
func ExitCodeFor(r *Report, err error, threshold Severity) int {
	var ae *AnalysisError
	var ue *UsageError
	switch {
	case errors.As(err, &ue):
		return ExitUsage
	case errors.As(err, &ae):
		return ExitCouldNotLoad
	case err != nil:
		return ExitCouldNotLoad
	}
	return ExitCode(r, threshold)
}

// AnalysisError says that an input could not be analysed at all, and where.
type AnalysisError struct {
	Pos Position
	Err error
}

func (e *AnalysisError) Error() string {
	return fmt.Sprintf("could not analyse %s: %v", e.Pos, e.Err)
}

func (e *AnalysisError) Unwrap() error { return e.Err }

// UsageError is a problem with how lint was called (missing files, bad
// suppressions file).
type UsageError struct {
	Err error
}

func (e *UsageError) Error() string { return e.Err.Error() }

func (e *UsageError) Unwrap() error { return e.Err }

// Check loads the compose project described by opts and runs every rule on it.
func Check(ctx context.Context, opts Options) (*Report, error) {
	return check(ctx, opts, nil)
}

// HostExposureRules are the rules about what a service reaches on its
// host (privileged, sensitive host mounts, host namespaces, capabilities,
// confinement switched off). The bank's validation runs them on every
// entry (CheckRules), so that an entry cannot expose the host that
// `dockerbank lint` would flag.
var HostExposureRules = []string{"DB012", "DB013", "DB014", "DB015", "DB025"}

// CheckRules is Check with only the rules whose IDs are given (findings
// made while loading, such as DB090, are dropped).
func CheckRules(ctx context.Context, opts Options, ids []string) (*Report, error) {
	return check(ctx, opts, ids)
}

func check(ctx context.Context, opts Options, only []string) (*Report, error) {
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	p, err := load(ctx, opts)
	if err != nil {
		return nil, err
	}
	findings := slices.Clone(p.loadFindings)
	if only != nil {
		findings = nil
	}
	for _, r := range registry {
		if r.check == nil || (only != nil && !slices.Contains(only, r.ID)) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("lint: %w", err)
		}
		for _, f := range r.check(p) {
			f.Rule = r.ID
			if f.Severity == 0 {
				f.Severity = r.Severity
			}
			if f.Fix == "" {
				f.Fix = r.Fix
			}
			findings = append(findings, f)
		}
	}
	for i := range findings {
		findings[i].Position = p.display(findings[i].Position)
	}
	if opts.Suppressions != nil {
		findings = opts.Suppressions.apply(findings, opts.Now)
	}
	sortFindings(findings)
	files := make([]string, 0, len(p.files))
	for _, f := range p.files {
		files = append(files, p.displayPath(f.path))
	}
	return &Report{Files: files, Partial: p.partial, Findings: findings}, nil
}

// Merge combines the reports of separate projects (see the CLI's
// --separate): files and findings are concatenated, findings re-sorted.
func Merge(reports ...*Report) *Report {
	out := &Report{Files: []string{}, Findings: []Finding{}}
	for _, r := range reports {
		if r == nil {
			continue
		}
		out.Files = append(out.Files, r.Files...)
		out.Findings = append(out.Findings, r.Findings...)
		out.Partial = out.Partial || r.Partial
	}
	sortFindings(out.Findings)
	return out
}

// Apply marks the findings of r that s suppresses, and adds DB098/DB099
// findings for unused and expired entries. Check does this itself when
// Options.Suppressions is set; Apply serves merged reports.
func (s *Suppressions) Apply(r *Report, now time.Time) {
	if now.IsZero() {
		now = time.Now()
	}
	r.Findings = s.apply(r.Findings, now)
	sortFindings(r.Findings)
}

func sortFindings(fs []Finding) {
	slices.SortStableFunc(fs, func(a, b Finding) int {
		if c := strings.Compare(a.File, b.File); c != 0 {
			return c
		}
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		if a.Col != b.Col {
			return a.Col - b.Col
		}
		if c := strings.Compare(a.Rule, b.Rule); c != 0 {
			return c
		}
		if c := strings.Compare(a.Service, b.Service); c != 0 {
			return c
		}
		return strings.Compare(a.Message, b.Message)
	})
}

// displayPath makes a path relative to the project directory when it lies inside it.
func (p *project) displayPath(path string) string {
	if rel, err := filepath.Rel(p.dir, path); err == nil && !strings.HasPrefix(rel, "..") {
		return filepath.ToSlash(rel)
	}
	return filepath.ToSlash(path)
}

func (p *project) display(pos Position) Position {
	if pos.File != "" && filepath.IsAbs(pos.File) {
		pos.File = p.displayPath(pos.File)
	}
	return pos
}
