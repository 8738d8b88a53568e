//go:build !crashtest

package backup

// crashPoint marks a place of a backup where the crash tests kill the
// process. Built with -tags crashtest (as those tests build dockerbank) it
// kills the process when DOCKERBANK_CRASH_AT names the point; in the
// product it does nothing and reads no environment.
func crashPoint(string) {}
