package engine

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/compose/v5/pkg/api"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"
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
	// Service narrows Up to one service, its dependencies and the other
	// services untouched, running Replicas containers of it; its existing
	// containers are kept even where their configuration differs (a
	// rolling replacement: the new replica starts before an old one goes).
	Service  string
	Replicas int
}

// Up creates or converges the project's containers, networks and volumes
// like `docker compose up -d`, recreating containers whose configuration
// changed. Volumes are never recreated.
func (e *Engine) Up(ctx context.Context, p *types.Project, o UpOptions) error {
	if o.Service != "" {
		return e.upService(ctx, p, o)
	}
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

// upService is Up narrowed to o.Service with o.Replicas containers, the
// existing ones kept as they are.
func (e *Engine) upService(ctx context.Context, p *types.Project, o UpOptions) error {
	q, err := p.WithSelectedServices([]string{o.Service}, types.IgnoreDependencies)
	if err != nil {
		return fmt.Errorf("compose up %s %s: %w", p.Name, o.Service, err)
	}
	s := q.Services[o.Service]
	n := o.Replicas
	s.Scale = &n
	if s.Deploy != nil && s.Deploy.Replicas != nil {
		s.Deploy.Replicas = &n
	}
	q.Services[o.Service] = s
	err = e.compose.Up(ctx, q, api.UpOptions{
		Create: api.CreateOptions{
			Services:             []string{o.Service},
			RemoveOrphans:        false, // the other services are not in q
			Recreate:             api.RecreateNever,
			RecreateDependencies: api.RecreateNever,
			Inherit:              true,
		},
		Start: api.StartOptions{Project: q, Services: []string{o.Service}, Wait: o.Wait, WaitTimeout: o.WaitTimeout},
	})
	if err != nil {
		return fmt.Errorf("compose up %s %s=%d: %w", p.Name, o.Service, n, err)
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

// Down removes the project's containers and networks. Named volumes are
// kept, always: removing user data is never a side effect of down. The
// anonymous volumes of the containers (an image's VOLUME that the project
// maps to no named volume) go with their containers, like `docker rm -v`:
// compose never attaches them to a container again, so they would only be
// left behind unlabelled.
func (e *Engine) Down(ctx context.Context, project string, timeout time.Duration) error {
	anon, err := e.anonymousVolumesOf(ctx, map[string]string{LabelProject: project})
	if err != nil {
		return fmt.Errorf("compose down %s: %w", project, err)
	}
	if err := e.compose.Down(ctx, project, api.DownOptions{RemoveOrphans: true, Timeout: &timeout, Volumes: false}); err != nil {
		return fmt.Errorf("compose down %s: %w", project, err)
	}
	var errs []error
	for _, v := range anon {
		if _, err := e.api.VolumeRemove(ctx, v, client.VolumeRemoveOptions{}); err != nil && !errors.Is(mapErr(err), ErrNotFound) {
			errs = append(errs, fmt.Errorf("remove anonymous volume %s: %w", v, mapErr(err)))
		}
	}
	return errors.Join(errs...)
}

var anonymousName = regexp.MustCompile(`^[0-9a-f]{64}$`)

// AnonymousVolume says whether a volume is anonymous: a 64-hex name the
// engine chose, and no compose volume label (compose names its volumes).
func AnonymousVolume(name string, labels map[string]string) bool {
	return anonymousName.MatchString(name) && labels[LabelVolume] == ""
}

// anonymousVolumesOf lists the anonymous volumes mounted by the containers
// with the given labels.
func (e *Engine) anonymousVolumesOf(ctx context.Context, labels map[string]string) ([]string, error) {
	f := client.Filters{}
	for k, v := range labels {
		f.Add("label", k+"="+v)
	}
	res, err := e.api.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	var out []string
	for _, c := range res.Items {
		for _, m := range c.Mounts {
			if m.Type != mount.TypeVolume || !anonymousName.MatchString(m.Name) {
				continue
			}
			v, err := e.api.VolumeInspect(ctx, m.Name, client.VolumeInspectOptions{})
			if err != nil {
				continue // gone already
			}
			if AnonymousVolume(v.Volume.Name, v.Volume.Labels) {
				out = append(out, m.Name)
			}
		}
	}
	return out, nil
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
