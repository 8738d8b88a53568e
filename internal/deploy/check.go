package deploy

import (
	"context"
	"fmt"
	"time"

	"github.com/dockerbank/dockerbank/internal/bank"
	"github.com/dockerbank/dockerbank/internal/engine"
)

// runChecks runs the entry's post-deploy checks in the instance's containers.
func (m *Manager) runChecks(ctx context.Context, instance string, e *bank.Entry) error {
	if len(e.Checks.PostDeploy) == 0 {
		return nil
	}
	var ts []Tenant
	if in, err := m.Site.Instance(instance); err == nil {
		if ts, err = m.tenants(in); err != nil {
			return err
		}
	}
	shared := map[string]Tenant{}
	for _, t := range ts {
		shared[t.Service] = t
	}
	for _, c := range e.Checks.PostDeploy {
		if t, ok := shared[c.Service]; ok {
			// The entry's check names its own database and user; on a
			// shared server the tenant's role must reach its database.
			if err := m.tenantCheck(ctx, t); err != nil {
				return fmt.Errorf("check %s of %s: %w", c.Name, instance, err)
			}
			m.step("check %s passed (database %s in %s)", c.Name, t.Database, t.Server)
			continue
		}
		// A container may restart right after its first healthy report;
		// a check gets a few tries before it fails the operation.
		var err error
		for try := 0; try < 4; try++ {
			if try > 0 {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(2 * time.Second):
				}
			}
			if err = m.runCheck(ctx, instance, c); err == nil {
				break
			}
		}
		if err != nil {
			return err
		}
		m.step("check %s passed", c.Name)
	}
	return nil
}

func (m *Manager) runCheck(ctx context.Context, instance string, c bank.Check) error {
	ctrs, err := m.Engine.Containers(ctx, map[string]string{engine.LabelProject: instance})
	if err != nil {
		return err
	}
	for _, ct := range ctrs {
		if ct.Service == c.Service && ct.State == "running" {
			if _, err := m.Engine.ExecOutput(ctx, ct.ID, c.Exec...); err != nil {
				return fmt.Errorf("check %s of %s: %w", c.Name, instance, err)
			}
			return nil
		}
	}
	return fmt.Errorf("check %s: no running container of service %s in %s", c.Name, c.Service, instance)
}
