// Package enginetest is an in-memory container engine for unit tests of the
// jobs' decisions: which version runs after an upgrade, a rollback or a
// refused operation, which volumes exist. It keeps projects, containers,
// volumes and images as plain data and implements deploy.Engine; a test
// says which images start unhealthy (Unhealthy) and reads the outcome
// (Running, Volumes).
//
// It models state, not behaviour: nothing runs, exec succeeds without
// output, helpers and swarm stacks are refused. Everything that moves data
// (backup, restore, fingerprints) is proven on a real engine instead.
//
// Only _test.go files import it.
package enginetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/dockerbank/dockerbank/internal/bank"
	"github.com/dockerbank/dockerbank/internal/engine"
	"github.com/dockerbank/dockerbank/internal/stack"
)

// ErrNotModelled is returned by what the fake does not model.
var ErrNotModelled = errors.New("not modelled by the in-memory engine")

// Engine is the in-memory engine. The zero value is ready; it is safe for
// concurrent use.
type Engine struct {
	// Unhealthy lists images whose containers never become healthy.
	Unhealthy map[string]bool

	mu         sync.Mutex
	containers map[string]engine.Container // by ID
	volumes    map[string]engine.Volume    // by name
	images     map[string]map[string]string
	next       int
}

// AddImage makes an image exist, with labels.
func (f *Engine) AddImage(ref string, labels map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.images == nil {
		f.images = map[string]map[string]string{}
	}
	f.images[ref] = maps.Clone(labels)
}

// Running returns the image each running container of a project runs, by
// service.
func (f *Engine) Running(project string) map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]string{}
	for _, c := range f.containers {
		if c.Project == project && c.State == "running" {
			out[c.Service] = c.Image
		}
	}
	return out
}

// VolumeNames lists the volumes that exist, sorted.
func (f *Engine) VolumeNames() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Sorted(maps.Keys(f.volumes))
}

// LoadProject loads compose files as the engine does (bank's loader, the
// same compose-go library).
func (f *Engine) LoadProject(ctx context.Context, o engine.LoadOptions) (*types.Project, error) {
	return bank.LoadProject(ctx, bank.LoadOptions{Dir: o.Dir, Files: o.Files, Name: o.Name, Env: o.Env, Profiles: o.Profiles})
}

// Up creates the project's volumes (never recreating one) and replaces its
// containers with one per service. With o.Wait it fails when a container's
// image is Unhealthy, as the engine does when the wait times out.
func (f *Engine) Up(ctx context.Context, p *types.Project, o engine.UpOptions) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.containers == nil {
		f.containers = map[string]engine.Container{}
	}
	if f.volumes == nil {
		f.volumes = map[string]engine.Volume{}
	}
	for key, v := range p.Volumes {
		name := v.Name
		if name == "" {
			name = p.Name + "_" + key
		}
		if _, ok := f.volumes[name]; ok || bool(v.External) {
			continue
		}
		labels := maps.Clone(map[string]string(v.Labels))
		if labels == nil {
			labels = map[string]string{}
		}
		labels[engine.LabelProject], labels[engine.LabelVolume] = p.Name, key
		f.volumes[name] = engine.Volume{Name: name, Labels: labels, Driver: v.Driver, Options: maps.Clone(v.DriverOpts), Size: -1, RefCount: -1}
	}
	for id, c := range f.containers {
		if c.Project == p.Name {
			delete(f.containers, id)
		}
	}
	var unhealthy []string
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		s := p.Services[name]
		f.next++
		labels := maps.Clone(map[string]string(s.Labels))
		if labels == nil {
			labels = map[string]string{}
		}
		labels[engine.LabelProject], labels[engine.LabelService] = p.Name, name
		c := engine.Container{ID: fmt.Sprintf("c%04d", f.next), Name: p.Name + "-" + name + "-1", Service: name,
			Project: p.Name, Image: s.Image, State: "running", Labels: labels, Created: time.Now()}
		if s.HealthCheck != nil && !s.HealthCheck.Disable {
			c.Health = "healthy"
		}
		if f.Unhealthy[s.Image] {
			c.Health = "unhealthy"
			unhealthy = append(unhealthy, c.Name)
		}
		f.containers[c.ID] = c
	}
	if o.Wait && len(unhealthy) > 0 {
		return fmt.Errorf("container %s is unhealthy", unhealthy[0])
	}
	return nil
}

// Recreate is Up: every container is new in the fake anyway.
func (f *Engine) Recreate(ctx context.Context, p *types.Project, o engine.UpOptions) error {
	return f.Up(ctx, p, o)
}

func (f *Engine) setState(project, state string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, c := range f.containers {
		if c.Project == project {
			c.State = state
			f.containers[id] = c
		}
	}
}

// Stop stops the project's containers.
func (f *Engine) Stop(ctx context.Context, p *types.Project, timeout time.Duration) error {
	f.setState(p.Name, "exited")
	return nil
}

// Restart runs the project's containers again.
func (f *Engine) Restart(ctx context.Context, p *types.Project, timeout time.Duration) error {
	f.setState(p.Name, "running")
	return nil
}

// Down removes the project's containers; volumes stay.
func (f *Engine) Down(ctx context.Context, project string, timeout time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, c := range f.containers {
		if c.Project == project {
			delete(f.containers, id)
		}
	}
	return nil
}

// Containers lists the containers whose labels match all of labels,
// sorted by name.
func (f *Engine) Containers(ctx context.Context, labels map[string]string) ([]engine.Container, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []engine.Container
	for _, c := range f.containers {
		match := true
		for k, v := range labels {
			if c.Labels[k] != v {
				match = false
			}
		}
		if match {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// RemoveContainer removes a container.
func (f *Engine) RemoveContainer(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.containers, id)
	return nil
}

// ExecOutput succeeds without output in a running container.
func (f *Engine) ExecOutput(ctx context.Context, id string, cmd ...string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.containers[id]; !ok || c.State != "running" {
		return "", fmt.Errorf("exec in %s: %w", id, engine.ErrNotFound)
	}
	return "", nil
}

// Logs writes nothing.
func (f *Engine) Logs(ctx context.Context, id string, o engine.LogsOptions, stdout, stderr io.Writer) error {
	return nil
}

// Health reports the container's state; the fake keeps no probes.
func (f *Engine) Health(ctx context.Context, id string) (engine.HealthState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[id]
	if !ok {
		return engine.HealthState{}, engine.ErrNotFound
	}
	return engine.HealthState{Running: c.State == "running", Status: c.Health}, nil
}

// Volumes lists the volumes.
func (f *Engine) Volumes(ctx context.Context, withSize bool) ([]engine.Volume, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]engine.Volume, 0, len(f.volumes))
	for _, name := range slices.Sorted(maps.Keys(f.volumes)) {
		out = append(out, f.volumes[name])
	}
	return out, nil
}

// InspectVolume returns one volume.
func (f *Engine) InspectVolume(ctx context.Context, name string) (engine.Volume, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.volumes[name]
	if !ok {
		return engine.Volume{}, fmt.Errorf("volume %s: %w", name, engine.ErrNotFound)
	}
	return v, nil
}

// RemoveVolume removes a volume.
func (f *Engine) RemoveVolume(ctx context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.volumes[name]; !ok {
		return fmt.Errorf("volume %s: %w", name, engine.ErrNotFound)
	}
	delete(f.volumes, name)
	return nil
}

// ProbeVolume models the local driver's bind of a directory, checked on
// this machine's file system: a missing device fails the mount, as on the
// engine; the script does not run. Other drivers are ErrNotModelled.
func (f *Engine) ProbeVolume(ctx context.Context, o engine.ProbeOptions) error {
	if (o.Driver != "" && o.Driver != "local") || o.DriverOpts["type"] != "none" {
		return ErrNotModelled
	}
	if st, err := os.Stat(o.DriverOpts["device"]); err != nil || !st.IsDir() {
		return &engine.ProbeError{Mount: true, Output: fmt.Sprintf("mount %s: no such file or directory", o.DriverOpts["device"])}
	}
	return nil
}

// ImageVolumes reports no VOLUME in any image.
func (f *Engine) ImageVolumes(ctx context.Context, ref string) ([]string, error) { return nil, nil }

// ImageExists reports whether AddImage or BuildImage made the image.
func (f *Engine) ImageExists(ctx context.Context, ref string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.images[ref]
	return ok, nil
}

// ImageLabels returns the image's labels.
func (f *Engine) ImageLabels(ctx context.Context, ref string) (map[string]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, ok := f.images[ref]
	if !ok {
		return nil, fmt.Errorf("image %s: %w", ref, engine.ErrNotFound)
	}
	return maps.Clone(l), nil
}

// BuildImage reads the build context and makes the image exist.
func (f *Engine) BuildImage(ctx context.Context, buildContext io.Reader, o engine.BuildOptions) error {
	if _, err := io.Copy(io.Discard, buildContext); err != nil {
		return err
	}
	f.AddImage(o.Tag, o.Labels)
	return nil
}

// Exec, Describe, CreateHelper, CopyFrom, ContainerAddress and the swarm
// stack calls are not modelled.

func (f *Engine) Exec(ctx context.Context, id string, cmd []string, o engine.ExecOptions) error {
	return fmt.Errorf("exec %v: %w", cmd, ErrNotModelled)
}

func (f *Engine) Describe(ctx context.Context, id string) (engine.Description, error) {
	return engine.Description{}, fmt.Errorf("describe: %w", ErrNotModelled)
}

func (f *Engine) CreateHelper(ctx context.Context, o engine.HelperOptions) (string, error) {
	return "", fmt.Errorf("helper container: %w", ErrNotModelled)
}

func (f *Engine) CopyFrom(ctx context.Context, id, path string) (io.ReadCloser, error) {
	return nil, fmt.Errorf("copy from a container: %w", ErrNotModelled)
}

func (f *Engine) ContainerAddress(ctx context.Context, id string, port int) (string, error) {
	return "", fmt.Errorf("container address: %w", ErrNotModelled)
}

func (f *Engine) StackApply(ctx context.Context, plan *stack.Plan) error {
	return fmt.Errorf("swarm stack: %w", ErrNotModelled)
}

func (f *Engine) StackRemove(ctx context.Context, stack string) error {
	return fmt.Errorf("swarm stack: %w", ErrNotModelled)
}

func (f *Engine) StackScale(ctx context.Context, stack string, replicas uint64) error {
	return fmt.Errorf("swarm stack: %w", ErrNotModelled)
}

func (f *Engine) StackCurrent(ctx context.Context, stack string) (map[string][]string, error) {
	return nil, fmt.Errorf("swarm stack: %w", ErrNotModelled)
}
