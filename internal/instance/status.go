package instance

import (
	"fmt"

	"github.com/dockerbank/dockerbank/internal/engine"
	"github.com/dockerbank/dockerbank/internal/site"
)

// Health summaries of an instance, from worst to best.
const (
	Missing   = "missing"   // no container exists
	Unhealthy = "unhealthy" // a health check fails
	Stopped   = "stopped"   // no container runs
	Partial   = "partial"   // some containers run, not all
	Starting  = "starting"  // all run, a health check has not passed yet
	Healthy   = "healthy"   // all run, every health check passes
	Running   = "running"   // all run, none has a health check
)

// Status is an instance with the state of its containers.
type Status struct {
	Instance   *site.Instance     `json:"instance"`
	Containers []engine.Container `json:"containers"`
	// UsedBy lists the instances that use this (infrastructure) instance.
	UsedBy []string `json:"usedBy,omitempty"`
}

// Health summarises the containers: healthy, unhealthy, starting, running,
// partial, stopped or missing.
func (s Status) Health() string {
	if len(s.Containers) == 0 {
		return Missing
	}
	running, healthy, unhealthy, starting := 0, 0, 0, 0
	for _, c := range s.Containers {
		if c.State == "running" {
			running++
		}
		switch c.Health {
		case "healthy":
			healthy++
		case "unhealthy":
			unhealthy++
		case "starting":
			starting++
		}
	}
	switch {
	case unhealthy > 0:
		return Unhealthy
	case running == 0:
		return Stopped
	case running < len(s.Containers):
		return Partial
	case starting > 0:
		return Starting
	case healthy > 0:
		return Healthy
	}
	return Running
}

func (s Status) String() string {
	return fmt.Sprintf("%s %s %s %s", s.Instance.Name, s.Instance.Entry, s.Instance.Version, s.Health())
}
