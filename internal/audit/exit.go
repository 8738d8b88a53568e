package audit

// Exit codes of `dockerbank audit`, the same as lint's.
const (
	ExitClean    = 0 // no finding at or above the threshold
	ExitFindings = 1 // findings at or above the threshold
	ExitError    = 2 // the image could not be analysed
	ExitUsage    = 3 // bad flags or arguments
)

// ExitCode maps a report to ExitClean or ExitFindings: findings at or above
// threshold fail. Suppressed findings never do.
func ExitCode(r *Report, threshold Severity) int {
	for _, f := range r.Findings {
		if f.Severity >= threshold {
			return ExitFindings
		}
	}
	return ExitClean
}
