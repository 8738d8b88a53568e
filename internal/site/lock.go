package site

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// ErrLocked means another dockerbank process holds the site lock.
var ErrLocked = errors.New("site is locked by another dockerbank process")

// Lock is an exclusive lock on the site. It is an flock(2) lock, so the
// kernel releases it when the holding process exits or is killed: it never
// needs unlocking by hand.
type Lock struct{ f *os.File }

// Lock takes the site lock, waiting up to wait for another holder.
func (s *Site) Lock(ctx context.Context, wait time.Duration) (*Lock, error) {
	f, err := os.OpenFile(filepath.Join(s.Dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open site lock: %w", err)
	}
	deadline := time.Now().Add(wait)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			_ = f.Truncate(0)
			_, _ = fmt.Fprintf(f, "pid %d since %s\n", os.Getpid(), time.Now().UTC().Format(time.RFC3339))
			return &Lock{f: f}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("take site lock: %w", err)
		}
		if time.Now().After(deadline) {
			holder, _ := os.ReadFile(f.Name())
			f.Close()
			return nil, fmt.Errorf("%w (%s); wait for it to finish", ErrLocked, string(holder))
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Unlock releases the lock.
func (l *Lock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	defer l.f.Close()
	return syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
}
