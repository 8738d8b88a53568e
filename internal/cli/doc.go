// Package cli is dockerbank's command line: commands, flags, output (human
// tables or --json), progress and exit codes. It holds no business logic: it
// parses, calls a job, and renders the result. It is the only package that
// imports cobra.
package cli
