// Package cli is dockerbank's command line: commands, flags, output (human
// tables or --json), progress and exit codes. It holds no business logic: it
// parses, opens the site, bank and engine a command needs, calls a job, and
// renders the result; what a command decides lives in the job it calls
// (deploy, backup, dr, conformance, audit, lint, kube, observe). Jobs
// report progress as internal/progress events to the app (progress.go),
// which renders them as text lines, one bar, or JSON lines on standard
// error. It is the only package that imports cobra.
package cli
