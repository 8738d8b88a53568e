package deploy

import (
	"context"
	"fmt"

	"github.com/dockerbank/dockerbank/internal/bank"
	"github.com/dockerbank/dockerbank/internal/engine"
)

// runChecks runs the entry's post-deploy checks in the instance's containers.
func (m *Manager) runChecks(ctx context.Context, instance string, e *bank.Entry) error {
	if len(e.Checks.PostDeploy) == 0 {
		return nil
	}
	ctrs, err := m.Engine.Containers(ctx, map[string]string{engine.LabelProject: instance})
	if err != nil {
		return err
	}
	for _, c := range e.Checks.PostDeploy {
		id := ""
		for _, ct := range ctrs {
			if ct.Service == c.Service && ct.State == "running" {
				id = ct.ID
				break
			}
		}
		if id == "" {
			return fmt.Errorf("check %s: no running container of service %s in %s", c.Name, c.Service, instance)
		}
		if _, err := m.Engine.ExecOutput(ctx, id, c.Exec...); err != nil {
			return fmt.Errorf("check %s of %s: %w", c.Name, instance, err)
		}
		m.step("check %s passed", c.Name)
	}
	return nil
}
