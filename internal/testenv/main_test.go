package testenv

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// TestHangupIsIgnored: a stray SIGHUP (see Main) neither ends the test
// binary nor a process it starts.
func TestHangupIsIgnored(t *testing.T) {
	child := exec.Command("sleep", "30")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer child.Process.Kill()
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if err := child.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- child.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("a child of the test binary ended on SIGHUP: %v", ee)
		}
		t.Fatalf("the child ended early: %v", err)
	case <-time.After(300 * time.Millisecond):
		// Both still here: this goroutine runs in the test binary.
	}
}
