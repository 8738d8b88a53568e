package deploy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/dockerbank/dockerbank/internal/bank"
	"github.com/dockerbank/dockerbank/internal/engine"
	"github.com/dockerbank/dockerbank/internal/site"
	"github.com/dockerbank/dockerbank/internal/stack"
)

// SwarmMarker is the file in an instance's directory that says it runs as
// a swarm stack (its content is the stack name).
const SwarmMarker = "swarm-stack"

// IsSwarm says whether an instance runs as a swarm stack.
func (m *Manager) IsSwarm(name string) bool {
	_, err := os.Stat(filepath.Join(m.Site.InstanceDir(name), SwarmMarker))
	return err == nil
}

// DeploySwarm renders an entry into an instance as Deploy does, then runs
// it as a swarm stack named after the instance (services NAME_service,
// volumes NAME_volume labelled as compose would, secrets as swarm secrets)
// and waits until every service has a running, healthy task. Deploying an
// existing swarm instance of the same entry updates its services.
func (m *Manager) DeploySwarm(ctx context.Context, o DeployOptions) (*site.Instance, error) {
	if o.Name == "" {
		o.Name = o.Entry
	}
	if err := site.ValidName(o.Name); err != nil {
		return nil, err
	}
	var in *site.Instance
	err := m.locked(ctx, func() error {
		e, err := m.Bank.Get(o.Entry)
		if err != nil {
			return err
		}
		in, err = m.Site.Instance(o.Name)
		switch {
		case err == nil:
			if in.Entry != o.Entry || !m.IsSwarm(o.Name) || o.Version != "" && o.Version != in.Version || len(o.Set) > 0 {
				return fmt.Errorf("%w: %s is already an instance of %s %s; choose another --name", ErrNameTaken, o.Name, in.Entry, in.Version)
			}
		case errors.Is(err, site.ErrNoInstance):
			r, err := e.Resolve(o.Version, o.Variant, o.Set)
			if err != nil {
				return err
			}
			ver := r.Version
			if err := m.checkLeftovers(ctx, o.Name); err != nil {
				return err
			}
			now := m.now()
			in = &site.Instance{Name: o.Name, Entry: e.ID, Version: ver.Version, Variant: o.Variant,
				Params: o.Set, State: site.StateUp, Created: now, Changed: now}
		default:
			return err
		}
		if err := m.journal(in.Name, "started", fmt.Sprintf("swarm deploy %s %s", in.Entry, in.Version)); err != nil {
			return err
		}
		err = m.swarmUp(ctx, in)
		return m.finish(in.Name, err, fmt.Sprintf("%s %s healthy on swarm", in.Entry, in.Version))
	})
	return in, err
}

func (m *Manager) swarmUp(ctx context.Context, in *site.Instance) error {
	e, err := m.Bank.Get(in.Entry)
	if err != nil {
		return err
	}
	m.step("render %s %s as instance %s", e.ID, in.Version, in.Name)
	if _, err := m.render(ctx, in, e, nil); err != nil {
		return err
	}
	in.State = site.StateUp
	if err := m.Site.Save(in); err != nil {
		return err
	}
	if err := site.WriteFileAtomic(filepath.Join(m.Site.InstanceDir(in.Name), SwarmMarker), []byte(in.Name+"\n"), 0o600); err != nil {
		return err
	}
	ver, _ := e.Version(in.Version)
	if err := m.ensureImages(ctx, in.Name, e, ver); err != nil {
		return err
	}
	return m.swarmUpAndCheck(ctx, in.Name, e)
}

// swarmUpAndCheck converges the stack to the rendered project (services
// created or updated, replicas as in the compose file), waits for health
// and runs the entry's checks: start, upgrade and rollback of a swarm
// instance.
func (m *Manager) swarmUpAndCheck(ctx context.Context, name string, e *bank.Entry) error {
	p, err := m.Project(ctx, name)
	if err != nil {
		return err
	}
	m.step("deploy stack %s (%d services) and wait for health (timeout %s)", name, len(p.Services), m.healthTimeout())
	plan, err := stack.Render(p, stack.Options{})
	if err != nil {
		return err
	}
	if err := m.Engine.StackApply(ctx, plan); err != nil {
		return err
	}
	services := make([]string, 0, len(p.Services))
	for s := range p.Services {
		services = append(services, s)
	}
	sort.Strings(services)
	if err := m.waitStack(ctx, name, services); err != nil {
		return err
	}
	return m.runChecks(ctx, name, e)
}

// stackRemove removes the stack's services, networks and secrets; the
// wait for its tasks to end is bounded by the stop timeout and two
// minutes.
func (m *Manager) stackRemove(ctx context.Context, name string) error {
	ctx, cancel := context.WithTimeout(ctx, m.stopTimeout()+2*time.Minute)
	defer cancel()
	return m.Engine.StackRemove(ctx, name)
}

// swarmStop scales every service of the stack to 0 and waits until its
// containers have stopped; the services, networks and secrets stay.
func (m *Manager) swarmStop(ctx context.Context, name string) error {
	if err := m.Engine.StackScale(ctx, name, 0); err != nil {
		return err
	}
	deadline := time.Now().Add(m.stopTimeout() + time.Minute)
	for {
		ctrs, err := m.Engine.Containers(ctx, map[string]string{engine.LabelStack: name})
		if err != nil {
			return err
		}
		up := 0
		for _, c := range ctrs {
			if c.State == "running" {
				up++
			}
		}
		if up == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("stack %s: %d containers still running after scaling to 0", name, up)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// waitStack polls until every service has a running task of its current
// spec whose container is healthy (or has no health check).
func (m *Manager) waitStack(ctx context.Context, name string, services []string) error {
	deadline := time.Now().Add(m.healthTimeout())
	for {
		current, err := m.Engine.StackCurrent(ctx, name)
		if err != nil {
			return err
		}
		ctrs, err := m.Engine.Containers(ctx, map[string]string{engine.LabelStack: name})
		if err != nil {
			return err
		}
		byID := map[string]engine.Container{}
		for _, c := range ctrs {
			byID[c.ID] = c
		}
		var waiting []string
		for _, s := range services {
			ok := false
			for _, id := range current[s] {
				if c, found := byID[id]; found && c.State == "running" && (c.Health == "healthy" || c.Health == "") {
					ok = true
				}
			}
			if !ok {
				waiting = append(waiting, s)
			}
		}
		if len(waiting) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("stack %s: services %s not healthy after %s; see `docker service ps %s_%s`", name, strings.Join(waiting, ", "), m.healthTimeout(), name, waiting[0])
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// RemoveSwarm removes an instance's stack (services, networks, secrets) and
// marks it down. Its volumes and its record stay: `dockerbank rm` removes
// the record, `rm --purge-data` the volumes.
func (m *Manager) RemoveSwarm(ctx context.Context, name string) error {
	return m.locked(ctx, func() error {
		in, err := m.Site.Instance(name)
		if err != nil {
			return err
		}
		if !m.IsSwarm(name) {
			return fmt.Errorf("instance %s does not run on swarm; use `dockerbank down %s`", name, name)
		}
		if err := m.journal(name, "started", "swarm remove"); err != nil {
			return err
		}
		m.step("remove stack %s (volumes are kept)", name)
		err = m.stackRemove(ctx, name)
		if err == nil {
			in.State = site.StateDown
			in.Changed = m.now()
			err = m.Site.Save(in)
		}
		return m.finish(name, err, "stack removed; volumes kept")
	})
}
