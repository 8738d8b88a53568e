package daemon

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/dockerbank/dockerbank/internal/schedule"
	"github.com/dockerbank/dockerbank/internal/site"
)

func TestAfterGrace(t *testing.T) {
	t.Run("ends grace after its parent", func(t *testing.T) {
		parent, cancel := context.WithCancel(t.Context())
		g, stop := afterGrace(parent, 200*time.Millisecond)
		defer stop()
		cancel()
		start := time.Now()
		select {
		case <-g.Done():
			t.Fatal("ended with its parent")
		case <-time.After(50 * time.Millisecond):
		}
		<-g.Done()
		if d := time.Since(start); d < 200*time.Millisecond || d > 5*time.Second {
			t.Errorf("ended %s after its parent, want 200ms", d)
		}
	})
	t.Run("zero grace ends with its parent", func(t *testing.T) {
		parent, cancel := context.WithCancel(t.Context())
		g, stop := afterGrace(parent, 0)
		defer stop()
		cancel()
		select {
		case <-g.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("still running 5s after its parent ended")
		}
	})
	t.Run("stop ends it at once", func(t *testing.T) {
		g, stop := afterGrace(t.Context(), time.Hour)
		stop()
		if g.Err() == nil {
			t.Error("still running after stop")
		}
	})
}

// blockingJobs is a backup that runs until its context ends, as a long
// capture does; every other job is recorded.
type blockingJobs struct {
	mu      sync.Mutex
	started chan struct{}
	ran     []string
	ended   time.Time
}

func (b *blockingJobs) Backup(ctx context.Context, name string) error {
	b.mu.Lock()
	b.ran = append(b.ran, "backup "+name)
	b.mu.Unlock()
	b.started <- struct{}{}
	<-ctx.Done()
	b.mu.Lock()
	b.ended = time.Now()
	b.mu.Unlock()
	return ctx.Err()
}

func (b *blockingJobs) Drill(context.Context, string) error { return errors.New("not expected") }
func (b *blockingJobs) Forget(context.Context, string, schedule.Keep) error {
	return errors.New("not expected")
}

// TestSchedulerStop: once RunDue's context ends, the running job keeps its
// context for Grace, no further job starts, and the cancelled backup is
// journalled as interrupted, not as a failed attempt that would wait an
// hour to be retried.
func TestSchedulerStop(t *testing.T) {
	s, err := site.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	created := time.Now().Add(-8 * 24 * time.Hour)
	for _, name := range []string{"a", "b"} {
		if err := s.Save(&site.Instance{Name: name, Entry: "demo", Created: created, Changed: created}); err != nil {
			t.Fatal(err)
		}
	}
	jobs := &blockingJobs{started: make(chan struct{}, 2)}
	entry := &schedule.Policy{Backup: "daily 02:00"}
	sch := &Scheduler{Site: s, Jobs: jobs, Grace: 300 * time.Millisecond,
		EntryPolicy: func(context.Context, *site.Instance) (*schedule.Policy, error) { return entry, nil }}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan []Ran, 1)
	go func() {
		ran, _ := sch.RunDue(ctx)
		done <- ran
	}()
	<-jobs.started
	stopped := time.Now()
	cancel()
	var ran []Ran
	select {
	case ran = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("RunDue did not return after its context ended")
	}
	if jobs.ended.Sub(stopped) < 300*time.Millisecond {
		t.Errorf("the running backup was cancelled %s after the stop, want the grace of 300ms", jobs.ended.Sub(stopped))
	}
	if len(ran) != 1 || ran[0].Instance != "a" || len(jobs.ran) != 1 {
		t.Errorf("ran %+v (jobs %v); want only the backup of a, none started after the stop", ran, jobs.ran)
	}
	recs, err := s.Journal()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Outcome != OutcomeInterrupted || recs[0].Instance != "a" {
		t.Fatalf("journal %+v; want one interrupted record of a", recs)
	}
	// The next start runs the backup of a at once.
	plans, err := (&Scheduler{Site: s, EntryPolicy: sch.EntryPolicy}).Plans(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range plans {
		if p.Instance == "a" && (!p.Failed[JobBackup].IsZero() || p.NextBackup.After(time.Now())) {
			t.Errorf("plan of a after an interrupted backup: %+v; want due now, no failed attempt", p)
		}
	}
}
