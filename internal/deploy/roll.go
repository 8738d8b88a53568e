package deploy

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/dockerbank/dockerbank/internal/engine"
	"github.com/dockerbank/dockerbank/internal/site"
)

// RollStep is one replica on another image: with Replace, the container
// goes once a new replica of the service is healthy; without (it serves
// nothing: stopped, unhealthy, starting), it goes first, replaced by the
// Up that follows the roll.
type RollStep struct {
	Service string
	Old     engine.Container
	Replace bool
}

// PlanRoll decides which replicas of the scaled services run another image
// than the project's, in the order they are replaced: a replica that does
// not run (healthy where it has a check) first, as it serves nothing. Pure.
func PlanRoll(p *types.Project, scale map[string]int, ctrs []engine.Container) []RollStep {
	var steps []RollStep
	for _, svc := range slices.Sorted(maps.Keys(scale)) {
		s, ok := p.Services[svc]
		if !ok || scale[svc] < 2 {
			continue
		}
		var down, up []RollStep
		for _, c := range ctrs {
			if c.Service != svc || c.Image == s.Image {
				continue
			}
			if c.State == "running" && c.Health != "unhealthy" && c.Health != "starting" {
				up = append(up, RollStep{Service: svc, Old: c, Replace: true})
			} else {
				down = append(down, RollStep{Service: svc, Old: c})
			}
		}
		steps = append(append(steps, down...), up...)
	}
	return steps
}

// roll replaces the replicas of the instance's scaled services that run
// another image (an upgrade, a rollback) one at a time: a new replica is
// started and healthy before an old one is removed, so the service keeps
// its count of healthy replicas behind the proxy. Replicas that serve
// nothing are removed first (a failed new one, when an upgrade goes back):
// waiting for health would wait for them too. The Up that follows
// converges the rest of the project.
func (m *Manager) roll(ctx context.Context, in *site.Instance, p *types.Project) error {
	if len(in.Scale) == 0 {
		return nil
	}
	ctrs, err := m.Engine.Containers(ctx, map[string]string{engine.LabelProject: in.Name})
	if err != nil {
		return err
	}
	steps := PlanRoll(p, in.Scale, ctrs)
	for i, st := range steps {
		if !st.Replace {
			m.step("roll %s (%d/%d): remove %s (%s, %s), which serves nothing", in.Name, i+1, len(steps), st.Old.Name, st.Old.Image, st.Old.State)
			if err := m.Engine.RemoveContainer(ctx, st.Old.ID); err != nil {
				return fmt.Errorf("roll %s: %w", in.Name, err)
			}
			continue
		}
		cur, err := m.Engine.Containers(ctx, map[string]string{engine.LabelProject: in.Name, engine.LabelService: st.Service})
		if err != nil {
			return err
		}
		count := len(cur)
		m.step("roll %s (%d/%d): start a replica of %s with %s, then remove %s (%s)", in.Name, i+1, len(steps),
			st.Service, p.Services[st.Service].Image, st.Old.Name, st.Old.Image)
		if err := m.Engine.Up(ctx, p, engine.UpOptions{Wait: true, WaitTimeout: m.healthTimeout(),
			Service: st.Service, Replicas: count + 1}); err != nil {
			return fmt.Errorf("roll %s: the new replica of %s is not healthy: %w", in.Name, st.Service, err)
		}
		if err := m.Engine.RemoveContainer(ctx, st.Old.ID); err != nil {
			return fmt.Errorf("roll %s: %w", in.Name, err)
		}
	}
	return nil
}
