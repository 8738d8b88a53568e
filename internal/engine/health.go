package engine

import (
	"context"
	"time"
)

// Probe is one health check the engine ran in a container.
type Probe struct {
	Start    time.Time
	ExitCode int
	Output   string
}

// HealthState is a container's run state and health checks.
type HealthState struct {
	Running   bool
	StartedAt time.Time
	// Status is healthy, unhealthy, starting, or "" without a health check.
	Status        string
	FailingStreak int
	// Probes are the newest checks the engine keeps (up to 5), oldest first.
	Probes      []Probe
	StartPeriod time.Duration
}

// Health reads a container's health checks (one inspect).
func (e *Engine) Health(ctx context.Context, id string) (HealthState, error) {
	insp, err := e.Inspect(ctx, id)
	if err != nil {
		return HealthState{}, err
	}
	var h HealthState
	if st := insp.State; st != nil {
		h.Running = st.Running && !st.Paused && !st.Restarting
		h.StartedAt, _ = time.Parse(time.RFC3339Nano, st.StartedAt)
		if st.Health != nil {
			h.Status, h.FailingStreak = string(st.Health.Status), st.Health.FailingStreak
			for _, p := range st.Health.Log {
				if p != nil {
					h.Probes = append(h.Probes, Probe{Start: p.Start, ExitCode: p.ExitCode, Output: p.Output})
				}
			}
		}
	}
	if insp.Config != nil && insp.Config.Healthcheck != nil {
		h.StartPeriod = insp.Config.Healthcheck.StartPeriod
	}
	return h, nil
}
