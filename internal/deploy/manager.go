package deploy

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/dockerbank/dockerbank/internal/bank"
	"github.com/dockerbank/dockerbank/internal/progress"
	"github.com/dockerbank/dockerbank/internal/site"
)

// Manager runs lifecycle operations for one site on one engine.
type Manager struct {
	Bank   *bank.Bank
	Site   *site.Site
	Engine Engine
	// Report receives progress meant for the user (the CLI renders it);
	// may be nil.
	Report progress.Reporter
	Log    *slog.Logger
	// Command is the command line recorded in the journal.
	Command string
	// HealthTimeout bounds every wait for healthy containers.
	HealthTimeout time.Duration
	// StopTimeout is the grace period before containers are killed.
	StopTimeout time.Duration
	// EphemeralPorts makes every instance this manager deploys publish its
	// ports on host ports the engine picks (drills, beside production).
	EphemeralPorts bool
	Now            func() time.Time
}

func (m *Manager) now() time.Time {
	if m.Now != nil {
		return m.Now().UTC()
	}
	return time.Now().UTC()
}

func (m *Manager) step(format string, args ...any) {
	progress.Stepf(m.Report, "", format, args...)
}

func (m *Manager) healthTimeout() time.Duration {
	if m.HealthTimeout > 0 {
		return m.HealthTimeout
	}
	return 5 * time.Minute
}

// healthTimeoutFor is how long bringing an instance up may wait for health:
// the Manager's HealthTimeout when set (--timeout), else the start-up
// budgets the entry declares for the version plus two minutes for the
// other services, and at least the default five minutes.
func (m *Manager) healthTimeoutFor(e *bank.Entry, version string) time.Duration {
	if m.HealthTimeout > 0 || e == nil {
		return m.healthTimeout()
	}
	ver, ok := e.Version(version)
	if !ok {
		return m.healthTimeout()
	}
	var sum time.Duration
	for _, d := range e.StartupBudgets(ver) {
		sum += d
	}
	if sum == 0 {
		return m.healthTimeout()
	}
	return max(m.healthTimeout(), sum+2*time.Minute)
}

func (m *Manager) stopTimeout() time.Duration {
	if m.StopTimeout > 0 {
		return m.StopTimeout
	}
	return 30 * time.Second
}

// journal appends a record; a journal that cannot be written fails the
// operation, since the journal is what makes crashes recoverable.
func (m *Manager) journal(instance, outcome, detail string) error {
	return m.Site.Append(site.Record{Command: m.Command, Instance: instance, Outcome: outcome, Detail: detail})
}

// locked runs fn holding the site lock.
func (m *Manager) locked(ctx context.Context, fn func() error) error {
	l, err := m.Site.Lock(ctx, 2*time.Minute)
	if err != nil {
		return err
	}
	defer l.Unlock()
	return fn()
}

// finish journals the outcome of an operation and returns its error.
func (m *Manager) finish(instance string, err error, okDetail string) error {
	if err != nil {
		if jerr := m.journal(instance, "failed", err.Error()); jerr != nil {
			return fmt.Errorf("%w (and the journal could not be written: %v)", err, jerr)
		}
		return err
	}
	return m.journal(instance, "ok", okDetail)
}
