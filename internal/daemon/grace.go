package daemon

import (
	"context"
	"sync"
	"time"
)

// afterGrace returns a context that keeps ctx's values and ends grace
// after ctx ends (at once with grace 0), or when the returned cancel is
// called. The jobs of a stopping daemon run under it: they may finish
// within the grace period, and are cancelled after it.
func afterGrace(ctx context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	if grace <= 0 {
		return context.WithCancel(ctx)
	}
	g, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var mu sync.Mutex
	var timer *time.Timer
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		timer = time.AfterFunc(grace, cancel)
		mu.Unlock()
	})
	return g, func() {
		stop()
		mu.Lock()
		if timer != nil {
			timer.Stop()
		}
		mu.Unlock()
		cancel()
	}
}

// both returns a context that ends when a or b ends; it keeps a's values.
func both(a, b context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(a)
	stop := context.AfterFunc(b, cancel)
	return ctx, func() { stop(); cancel() }
}
