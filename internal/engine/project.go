package engine

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/compose/v5/pkg/api"
)

// LoadOptions names a compose project on disk.
type LoadOptions struct {
	Dir      string   // working directory; relative paths resolve against it
	Files    []string // compose files, relative to Dir or absolute
	Name     string   // project name
	Env      []string // KEY=VALUE interpolation variables; the OS environment is not used
	Profiles []string
}

// LoadProject loads a compose project the way compose itself does and adds
// the labels compose uses to find its containers again.
func (e *Engine) LoadProject(ctx context.Context, o LoadOptions) (*types.Project, error) {
	files := make([]string, len(o.Files))
	for i, f := range o.Files {
		if !filepath.IsAbs(f) {
			f = filepath.Join(o.Dir, f)
		}
		files[i] = f
	}
	p, err := e.compose.LoadProject(ctx, api.ProjectLoadOptions{
		ProjectName: o.Name,
		ConfigPaths: files,
		WorkingDir:  o.Dir,
		Profiles:    o.Profiles,
		Offline:     true,
		ProjectOptionsFns: []cli.ProjectOptionsFn{
			cli.WithEnv(o.Env),
			cli.WithResolvedPaths(true),
		},
	})
	if err != nil {
		return nil, fmt.Errorf("load compose project %s: %w", o.Name, err)
	}
	return p, nil
}

// UpOptions controls Up.
type UpOptions struct {
	// Wait blocks until every service is running, and healthy where it has a
	// health check, or WaitTimeout passes.
	Wait        bool
	WaitTimeout time.Duration
}

// Up creates or converges the project's containers, networks and volumes
// like `docker compose up -d`, recreating containers whose configuration
// changed. Volumes are never recreated.
func (e *Engine) Up(ctx context.Context, p *types.Project, o UpOptions) error {
	err := e.compose.Up(ctx, p, api.UpOptions{
		Create: api.CreateOptions{
			RemoveOrphans:        true,
			Recreate:             api.RecreateDiverged,
			RecreateDependencies: api.RecreateDiverged,
			Inherit:              true,
		},
		Start: api.StartOptions{Project: p, Wait: o.Wait, WaitTimeout: o.WaitTimeout},
	})
	if err != nil {
		return fmt.Errorf("compose up %s: %w", p.Name, err)
	}
	return nil
}

// Recreate replaces every container of the project with a new one (compose
// up --force-recreate), networks created again where missing; volumes are
// kept. It waits for health like Up.
func (e *Engine) Recreate(ctx context.Context, p *types.Project, o UpOptions) error {
	err := e.compose.Up(ctx, p, api.UpOptions{
		Create: api.CreateOptions{
			RemoveOrphans:        true,
			Recreate:             api.RecreateForce,
			RecreateDependencies: api.RecreateForce,
			Inherit:              true,
		},
		Start: api.StartOptions{Project: p, Wait: o.Wait, WaitTimeout: o.WaitTimeout},
	})
	if err != nil {
		return fmt.Errorf("compose up --force-recreate %s: %w", p.Name, err)
	}
	return nil
}

// Down removes the project's containers and networks. Volumes are kept,
// always: removing user data is never a side effect of down.
func (e *Engine) Down(ctx context.Context, project string, timeout time.Duration) error {
	err := e.compose.Down(ctx, project, api.DownOptions{RemoveOrphans: true, Timeout: &timeout, Volumes: false})
	if err != nil {
		return fmt.Errorf("compose down %s: %w", project, err)
	}
	return nil
}

// Stop stops the project's containers without removing them.
func (e *Engine) Stop(ctx context.Context, p *types.Project, timeout time.Duration) error {
	if err := e.compose.Stop(ctx, p.Name, api.StopOptions{Project: p, Timeout: &timeout}); err != nil {
		return fmt.Errorf("compose stop %s: %w", p.Name, err)
	}
	return nil
}

// Start starts the project's existing containers and waits for health.
func (e *Engine) Start(ctx context.Context, p *types.Project, o UpOptions) error {
	if err := e.compose.Start(ctx, p.Name, api.StartOptions{Project: p, Wait: o.Wait, WaitTimeout: o.WaitTimeout}); err != nil {
		return fmt.Errorf("compose start %s: %w", p.Name, err)
	}
	return nil
}

// Restart restarts the project's containers.
func (e *Engine) Restart(ctx context.Context, p *types.Project, timeout time.Duration) error {
	if err := e.compose.Restart(ctx, p.Name, api.RestartOptions{Project: p, Timeout: &timeout}); err != nil {
		return fmt.Errorf("compose restart %s: %w", p.Name, err)
	}
	return nil
}
