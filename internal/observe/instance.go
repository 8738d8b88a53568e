package observe

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/dockerbank/dockerbank/internal/engine"
	"github.com/dockerbank/dockerbank/internal/instance/label"
	"github.com/dockerbank/dockerbank/internal/site"
)

// ErrNoService means the instance has no container for the named service.
var ErrNoService = errors.New("no such service")

// ErrNotRunning means the container must run for the operation.
var ErrNotRunning = errors.New("container is not running")

// Containers lists an instance's containers, or only those of service when
// it is not empty. The instance must be recorded in the site.
func Containers(ctx context.Context, e *engine.Engine, s *site.Site, instance, service string) ([]engine.Container, error) {
	if _, err := s.Instance(instance); err != nil {
		return nil, err
	}
	cs, err := e.Containers(ctx, map[string]string{label.Instance: instance})
	if err != nil {
		return nil, err
	}
	if service == "" {
		return cs, nil
	}
	var names []string
	var sel []engine.Container
	for _, c := range cs {
		names = append(names, c.Service)
		if c.Service == service {
			sel = append(sel, c)
		}
	}
	if len(sel) == 0 {
		sort.Strings(names)
		return nil, fmt.Errorf("%w %q in instance %s (services: %v)", ErrNoService, service, instance, names)
	}
	return sel, nil
}

// One returns the single container of an instance's service, for exec,
// shell and attach; it must be running.
func One(ctx context.Context, e *engine.Engine, s *site.Site, instance, service string) (engine.Container, error) {
	cs, err := Containers(ctx, e, s, instance, service)
	if err != nil {
		return engine.Container{}, err
	}
	for _, c := range cs {
		if c.State == "running" {
			return c, nil
		}
	}
	return engine.Container{}, fmt.Errorf("%w: %s of instance %s is %s; start it with `dockerbank start %s`", ErrNotRunning, service, instance, cs[0].State, instance)
}
