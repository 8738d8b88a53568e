package deploy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/dockerbank/dockerbank/internal/engine"
	"github.com/dockerbank/dockerbank/internal/instance"
	"github.com/dockerbank/dockerbank/internal/site"
)

func engineUp(timeout time.Duration) engine.UpOptions {
	return engine.UpOptions{Wait: true, WaitTimeout: timeout}
}

// Start starts an instance's containers (creating them if down removed them)
// and waits for health.
func (m *Manager) Start(ctx context.Context, name string) error {
	return m.locked(ctx, func() error {
		in, err := m.Site.Instance(name)
		if err != nil {
			return err
		}
		e, err := m.Bank.Get(in.Entry)
		if err != nil {
			return err
		}
		in.State = site.StateUp
		if err := m.Site.Save(in); err != nil {
			return err
		}
		return m.finish(name, m.upAndCheck(ctx, in, e), "started")
	})
}

// Stop stops an instance's containers, keeping them.
func (m *Manager) Stop(ctx context.Context, name string) error {
	return m.locked(ctx, func() error {
		in, err := m.Site.Instance(name)
		if err != nil {
			return err
		}
		m.step("stop %s", name)
		if m.IsSwarm(name) {
			err = m.swarmStop(ctx, name)
		} else {
			var p *types.Project
			if p, err = m.Project(ctx, name); err != nil {
				return err
			}
			err = m.Engine.Stop(ctx, p, m.stopTimeout())
		}
		if err == nil {
			in.State = site.StateDown
			err = m.Site.Save(in)
		}
		return m.finish(name, err, "stopped")
	})
}

// Restart restarts an instance's containers.
func (m *Manager) Restart(ctx context.Context, name string) error {
	return m.locked(ctx, func() error {
		if _, err := m.Site.Instance(name); err != nil {
			return err
		}
		p, err := m.Project(ctx, name)
		if err != nil {
			return err
		}
		m.step("restart %s", name)
		if m.IsSwarm(name) {
			return m.finish(name, errors.New("restart is not available on swarm: use stop, then start"), "")
		}
		return m.finish(name, m.Engine.Restart(ctx, p, m.stopTimeout()), "restarted")
	})
}

// Recreate replaces an instance's containers with new ones (compose up
// --force-recreate: same volumes, networks made again where missing) and
// waits for health. It does not take the site lock: its caller holds it
// (serve's healer, which decides when an instance may be touched).
func (m *Manager) Recreate(ctx context.Context, name string) error {
	if m.IsSwarm(name) {
		return errors.New("recreate is not available on swarm: swarm replaces its tasks itself")
	}
	p, err := m.Project(ctx, name)
	if err != nil {
		return err
	}
	m.step("recreate %s and wait for health (timeout %s)", name, m.healthTimeout())
	if in, err := m.Site.Instance(name); err == nil {
		if err := m.linkTenants(ctx, in); err != nil {
			return err
		}
	}
	if err := m.Engine.Recreate(ctx, p, engineUp(m.healthTimeout())); err != nil {
		return fmt.Errorf("%w; see `dockerbank ps %s` and `dockerbank logs %s`%s", err, name, name, m.diagnose(ctx, name))
	}
	// A recreated shared server has lost its tenants' networks.
	return m.relinkTenants(ctx, name)
}

// Down removes an instance's containers and networks and keeps every
// volume and the instance record; `deploy` or `start` brings it back.
func (m *Manager) Down(ctx context.Context, name string) error {
	return m.locked(ctx, func() error {
		in, err := m.Site.Instance(name)
		if err != nil {
			return err
		}
		m.step("down %s (volumes are kept)", name)
		if m.IsSwarm(name) {
			err = m.stackRemove(ctx, name)
		} else {
			err = m.Engine.Down(ctx, name, m.stopTimeout())
		}
		if err == nil {
			in.State = site.StateDown
			err = m.Site.Save(in)
		}
		return m.finish(name, err, "down, volumes kept")
	})
}

// Ps returns the status of one instance.
func (m *Manager) Ps(ctx context.Context, name string) (instance.Status, error) {
	in, err := m.Site.Instance(name)
	if err != nil {
		return instance.Status{}, err
	}
	ctrs, err := m.Engine.Containers(ctx, map[string]string{engine.LabelProject: name})
	if err != nil {
		return instance.Status{}, err
	}
	all, err := m.Site.Instances()
	if err != nil {
		return instance.Status{}, err
	}
	return instance.Status{Instance: in, Containers: ctrs, UsedBy: site.UsersOf(all, name)}, nil
}

// List returns the status of every instance.
func (m *Manager) List(ctx context.Context) ([]instance.Status, error) {
	ins, err := m.Site.Instances()
	if err != nil {
		return nil, err
	}
	all, err := m.Engine.Containers(ctx, nil)
	if err != nil {
		return nil, err
	}
	out := make([]instance.Status, 0, len(ins))
	for _, in := range ins {
		st := instance.Status{Instance: in, UsedBy: site.UsersOf(ins, in.Name)}
		for _, c := range all {
			if c.Project == in.Name {
				st.Containers = append(st.Containers, c)
			}
		}
		out = append(out, st)
	}
	return out, nil
}
