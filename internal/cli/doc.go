// Package cli is dockerbank's command line: commands, flags, output (human
// tables or --json), progress and exit codes. It holds no business logic: it
// parses, calls a job, and renders the result. Jobs report progress as
// internal/progress events to the app (progress.go), which renders them as
// text lines, one bar, or JSON lines on standard error. It is the only
// package that imports cobra.
package cli
