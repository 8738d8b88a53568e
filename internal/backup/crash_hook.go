//go:build crashtest

package backup

import (
	"os"
	"syscall"
)

// crashPoint kills the process with SIGKILL when DOCKERBANK_CRASH_AT names
// the point: the crash tests use it to kill dockerbank at exact places of
// a backup. Only a binary built with -tags crashtest has it.
func crashPoint(name string) {
	if v := os.Getenv("DOCKERBANK_CRASH_AT"); v != "" && v == name {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
}
