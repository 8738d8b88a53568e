package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"time"

	"github.com/containerd/errdefs"
	"github.com/dockerbank/dockerbank/internal/instance/label"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"

	"github.com/dockerbank/dockerbank/internal/stack"
)

// LabelStack marks the services, networks, volumes and secrets of a stack,
// as `docker stack deploy` does, so `docker stack ps NAME` shows them.
const LabelStack = stack.LabelStack

// ErrNoSwarm means the engine is not a swarm manager.
var ErrNoSwarm = errors.New("engine is not a swarm manager")

// SwarmState returns the local node's swarm state: inactive, pending,
// active, error or locked, and whether it is a manager.
func (e *Engine) SwarmState(ctx context.Context) (string, bool, error) {
	info, err := e.api.Info(ctx, client.InfoOptions{})
	if err != nil {
		return "", false, fmt.Errorf("read engine info: %w", err)
	}
	return string(info.Info.Swarm.LocalNodeState), info.Info.Swarm.ControlAvailable, nil
}

// SwarmInit makes the engine a single-node swarm (docker swarm init).
func (e *Engine) SwarmInit(ctx context.Context, advertiseAddr string) error {
	if advertiseAddr == "" {
		advertiseAddr = "127.0.0.1"
	}
	_, err := e.api.SwarmInit(ctx, client.SwarmInitOptions{ListenAddr: "0.0.0.0:2377", AdvertiseAddr: advertiseAddr})
	if err != nil {
		return fmt.Errorf("init swarm: %w", err)
	}
	return nil
}

// SwarmLeave leaves the swarm (docker swarm leave --force).
func (e *Engine) SwarmLeave(ctx context.Context) error {
	if _, err := e.api.SwarmLeave(ctx, client.SwarmLeaveOptions{Force: true}); err != nil {
		return fmt.Errorf("leave swarm: %w", err)
	}
	return nil
}

// StackApply runs a stack plan (package stack renders it from a compose
// project) through the API, as `docker stack deploy` would: the networks
// (created when missing), the named volumes, the swarm secrets (kept when
// they exist: swarm secrets cannot change) and one service per compose
// service, created or updated in place.
func (e *Engine) StackApply(ctx context.Context, plan *stack.Plan) error {
	if state, manager, err := e.SwarmState(ctx); err != nil {
		return err
	} else if state != "active" || !manager {
		return fmt.Errorf("%w (state %s); run `docker swarm init` on this host or point --host at a manager", ErrNoSwarm, state)
	}
	nets := map[string]string{}
	for _, n := range plan.Networks {
		id, err := e.stackNetwork(ctx, n)
		if err != nil {
			return err
		}
		nets[n.Compose] = id
	}
	for _, v := range plan.Volumes {
		_, err := e.api.VolumeCreate(ctx, client.VolumeCreateOptions{Name: v.Name, Driver: v.Driver, DriverOpts: v.DriverOpts, Labels: v.Labels})
		if err != nil {
			return fmt.Errorf("create volume %s: %w", v.Name, err)
		}
	}
	secrets := map[string]string{}
	for _, s := range plan.Secrets {
		id, err := e.stackSecret(ctx, s)
		if err != nil {
			return err
		}
		secrets[s.Compose] = id
	}
	for _, svc := range plan.Services {
		spec, err := ServiceSpec(svc, nets, secrets)
		if err != nil {
			return err
		}
		if err := e.upsertService(ctx, spec); err != nil {
			return err
		}
	}
	return nil
}

func (e *Engine) stackNetwork(ctx context.Context, n stack.Network) (string, error) {
	res, err := e.api.NetworkList(ctx, client.NetworkListOptions{Filters: client.Filters{}.Add("name", n.Name)})
	if err != nil {
		return "", fmt.Errorf("list networks: %w", err)
	}
	for _, s := range res.Items {
		if s.Name == n.Name {
			return s.ID, nil
		}
	}
	if n.External {
		return "", fmt.Errorf("external network %s does not exist", n.Name)
	}
	cr, err := e.api.NetworkCreate(ctx, n.Name, client.NetworkCreateOptions{Driver: n.Driver, Scope: "swarm", Attachable: true,
		Internal: n.Internal, Options: n.Options, Labels: n.Labels})
	if err != nil {
		return "", fmt.Errorf("create network %s: %w", n.Name, err)
	}
	return cr.ID, nil
}

// stackSecret creates the swarm secret of a compose secret once; swarm
// secrets cannot change, so an existing one is kept.
func (e *Engine) stackSecret(ctx context.Context, s stack.Secret) (string, error) {
	res, err := e.api.SecretList(ctx, client.SecretListOptions{Filters: client.Filters{}.Add("name", s.Name)})
	if err != nil {
		return "", fmt.Errorf("list secrets: %w", err)
	}
	for _, x := range res.Items {
		if x.Spec.Name == s.Name {
			return x.ID, nil
		}
	}
	if s.External {
		return "", fmt.Errorf("external secret %s does not exist", s.Name)
	}
	cr, err := e.api.SecretCreate(ctx, client.SecretCreateOptions{Spec: swarm.SecretSpec{
		Annotations: swarm.Annotations{Name: s.Name, Labels: s.Labels}, Data: s.Data}})
	if err != nil {
		return "", fmt.Errorf("create secret %s: %w", s.Name, err)
	}
	return cr.ID, nil
}

func (e *Engine) upsertService(ctx context.Context, spec swarm.ServiceSpec) error {
	cur, err := e.api.ServiceInspect(ctx, spec.Name, client.ServiceInspectOptions{})
	switch {
	case err == nil:
		_, err = e.api.ServiceUpdate(ctx, cur.Service.ID, client.ServiceUpdateOptions{Version: cur.Service.Version, Spec: spec})
		if err != nil {
			return fmt.Errorf("update service %s: %w", spec.Name, err)
		}
	case errdefs.IsNotFound(err):
		if _, err := e.api.ServiceCreate(ctx, client.ServiceCreateOptions{Spec: spec}); err != nil {
			return fmt.Errorf("create service %s: %w", spec.Name, err)
		}
	default:
		return fmt.Errorf("inspect service %s: %w", spec.Name, err)
	}
	return nil
}

// ServiceSpec converts a planned service to the API's service spec. nets
// and secrets map the plan's compose names to swarm ids.
func ServiceSpec(s stack.Service, nets, secrets map[string]string) (swarm.ServiceSpec, error) {
	c := s.Container
	cs := &swarm.ContainerSpec{
		Image: c.Image, Labels: c.Labels, Command: c.Entrypoint, Args: c.Command, Hostname: c.Hostname,
		Env: c.Env, Dir: c.Dir, User: c.User, Groups: c.Groups, Init: c.Init, StopSignal: c.StopSignal,
		TTY: c.TTY, OpenStdin: c.OpenStdin, ReadOnly: c.ReadOnly, Sysctls: c.Sysctls,
		CapabilityAdd: c.CapAdd, CapabilityDrop: c.CapDrop, Hosts: c.Hosts,
	}
	if c.StopGracePeriod != nil {
		d := time.Duration(*c.StopGracePeriod)
		cs.StopGracePeriod = &d
	}
	if h := c.Healthcheck; h != nil {
		cs.Healthcheck = &container.HealthConfig{Test: h.Test, Interval: time.Duration(h.Interval), Timeout: time.Duration(h.Timeout),
			StartPeriod: time.Duration(h.StartPeriod), Retries: h.Retries}
	}
	for _, m := range c.Mounts {
		mm := mount.Mount{Target: m.Target, ReadOnly: m.ReadOnly, Source: m.Source}
		switch m.Type {
		case stack.MountVolume:
			mm.Type = mount.TypeVolume
			if m.Source != "" {
				mm.VolumeOptions = &mount.VolumeOptions{Labels: m.VolumeLabels, NoCopy: m.NoCopy, Subpath: m.Subpath}
			}
		case stack.MountBind:
			mm.Type = mount.TypeBind
		case stack.MountTmpfs:
			mm.Type = mount.TypeTmpfs
			if m.HasTmpfsOptions {
				mm.TmpfsOptions = &mount.TmpfsOptions{SizeBytes: m.TmpfsSize}
			}
		default:
			return swarm.ServiceSpec{}, fmt.Errorf("service %s: mount type %s", s.Compose, m.Type)
		}
		cs.Mounts = append(cs.Mounts, mm)
	}
	for _, ref := range s.Secrets {
		id, ok := secrets[ref.Secret]
		if !ok {
			return swarm.ServiceSpec{}, fmt.Errorf("service %s: unknown secret %s", s.Compose, ref.Secret)
		}
		cs.Secrets = append(cs.Secrets, &swarm.SecretReference{SecretID: id, SecretName: ref.Name,
			File: &swarm.SecretReferenceFileTarget{Name: ref.File, UID: ref.UID, GID: ref.GID, Mode: os.FileMode(ref.Mode)}})
	}
	task := swarm.TaskSpec{ContainerSpec: cs, RestartPolicy: &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionAny}}
	switch s.Restart {
	case stack.RestartNone:
		task.RestartPolicy.Condition = swarm.RestartPolicyConditionNone
	case stack.RestartOnFailure:
		task.RestartPolicy.Condition = swarm.RestartPolicyConditionOnFailure
	}
	if s.Limits != nil || s.Reservations != nil {
		task.Resources = &swarm.ResourceRequirements{}
		if l := s.Limits; l != nil {
			task.Resources.Limits = &swarm.Limit{NanoCPUs: l.NanoCPUs, MemoryBytes: l.MemoryBytes, Pids: l.Pids}
		}
		if r := s.Reservations; r != nil {
			task.Resources.Reservations = &swarm.Resources{NanoCPUs: r.NanoCPUs, MemoryBytes: r.MemoryBytes}
		}
	}
	if len(s.Constraints) > 0 {
		task.Placement = &swarm.Placement{Constraints: s.Constraints}
	}
	for _, n := range s.Networks {
		id, ok := nets[n.Network]
		if !ok {
			return swarm.ServiceSpec{}, fmt.Errorf("service %s: unknown network %s", s.Compose, n.Network)
		}
		task.Networks = append(task.Networks, swarm.NetworkAttachmentConfig{Target: id, Aliases: n.Aliases})
	}
	replicas := s.Replicas
	spec := swarm.ServiceSpec{
		Annotations:  swarm.Annotations{Name: s.Name, Labels: s.Labels},
		TaskTemplate: task,
		Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &replicas}},
	}
	if s.Global {
		spec.Mode = swarm.ServiceMode{Global: &swarm.GlobalService{}}
	}
	spec.EndpointSpec = &swarm.EndpointSpec{Mode: swarm.ResolutionModeDNSRR}
	if s.EndpointMode == stack.EndpointVIP {
		spec.EndpointSpec.Mode = swarm.ResolutionModeVIP
	}
	for _, pc := range s.Ports {
		mode := swarm.PortConfigPublishModeHost
		if pc.Mode == stack.PublishIngress {
			mode = swarm.PortConfigPublishModeIngress
		}
		proto := network.TCP
		if pc.Protocol == "udp" {
			proto = network.UDP
		}
		spec.EndpointSpec.Ports = append(spec.EndpointSpec.Ports, swarm.PortConfig{Protocol: proto, TargetPort: pc.Target, PublishedPort: pc.Published, PublishMode: mode})
	}
	return spec, nil
}

// StackRemove removes the services, then the networks and secrets of a
// stack. Volumes are kept, always.
func (e *Engine) StackRemove(ctx context.Context, stack string) error {
	if state, _, err := e.SwarmState(ctx); err != nil {
		return err
	} else if state != "active" {
		// Leaving a swarm removed its services; the volumes stay.
		return nil
	}
	f := client.Filters{}.Add("label", LabelStack+"="+stack)
	svcs, err := e.api.ServiceList(ctx, client.ServiceListOptions{Filters: f})
	if err != nil {
		return fmt.Errorf("list services of stack %s: %w", stack, err)
	}
	var errs []error
	for _, s := range svcs.Items {
		if _, err := e.api.ServiceRemove(ctx, s.ID, client.ServiceRemoveOptions{}); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove service %s: %w", s.Spec.Name, err))
		}
	}
	// Tasks stop asynchronously; networks can go only once they are gone.
	// The caller's context bounds the wait.
	for {
		ctrs, err := e.Containers(ctx, map[string]string{LabelStack: stack})
		if err != nil {
			return err
		}
		if len(ctrs) == 0 {
			break
		}
		select {
		case <-ctx.Done():
			return errors.Join(append(errs, fmt.Errorf("stack %s: %d container(s) still there: %w", stack, len(ctrs), ctx.Err()))...)
		case <-time.After(500 * time.Millisecond):
		}
	}
	nets, err := e.api.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		return fmt.Errorf("list networks of stack %s: %w", stack, err)
	}
	for _, n := range nets.Items {
		if _, err := e.api.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{}); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove network %s: %w", n.Name, err))
		}
	}
	secs, err := e.api.SecretList(ctx, client.SecretListOptions{Filters: f})
	if err != nil {
		return fmt.Errorf("list secrets of stack %s: %w", stack, err)
	}
	for _, s := range secs.Items {
		if _, err := e.api.SecretRemove(ctx, s.ID, client.SecretRemoveOptions{}); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove secret %s: %w", s.Spec.Name, err))
		}
	}
	return errors.Join(errs...)
}

// StackServices lists the services of a stack with their running and
// desired task counts.
func (e *Engine) StackServices(ctx context.Context, stack string) ([]StackService, error) {
	res, err := e.api.ServiceList(ctx, client.ServiceListOptions{Filters: client.Filters{}.Add("label", LabelStack+"="+stack), Status: true})
	if err != nil {
		return nil, fmt.Errorf("list services of stack %s: %w", stack, err)
	}
	out := make([]StackService, 0, len(res.Items))
	for _, s := range res.Items {
		ss := StackService{Name: s.Spec.Name}
		if s.Spec.TaskTemplate.ContainerSpec != nil {
			ss.Image = s.Spec.TaskTemplate.ContainerSpec.Image
		}
		if s.ServiceStatus != nil {
			ss.Running, ss.Desired = s.ServiceStatus.RunningTasks, s.ServiceStatus.DesiredTasks
		}
		out = append(out, ss)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// StackService is one service of a stack.
type StackService struct {
	Name    string `json:"name"`
	Image   string `json:"image"`
	Running uint64 `json:"running"`
	Desired uint64 `json:"desired"`
}

// StackScale sets the replicas of every replicated service of a stack;
// 0 stops the stack without removing it. StackDeploy restores the counts
// of the compose file.
func (e *Engine) StackScale(ctx context.Context, stack string, replicas uint64) error {
	res, err := e.api.ServiceList(ctx, client.ServiceListOptions{Filters: client.Filters{}.Add("label", LabelStack+"="+stack)})
	if err != nil {
		return fmt.Errorf("list services of stack %s: %w", stack, err)
	}
	for _, s := range res.Items {
		if s.Spec.Mode.Replicated == nil {
			continue
		}
		spec := s.Spec
		n := replicas
		spec.Mode.Replicated.Replicas = &n
		if _, err := e.api.ServiceUpdate(ctx, s.ID, client.ServiceUpdateOptions{Version: s.Version, Spec: spec}); err != nil {
			return fmt.Errorf("scale service %s to %d: %w", s.Spec.Name, replicas, err)
		}
	}
	return nil
}

// StackCurrent returns, per compose service of a stack, the containers of
// its running tasks that run the service's current spec: after an update,
// the tasks of the old spec do not count even while they still run.
func (e *Engine) StackCurrent(ctx context.Context, stack string) (map[string][]string, error) {
	svcs, err := e.api.ServiceList(ctx, client.ServiceListOptions{Filters: client.Filters{}.Add("label", LabelStack+"="+stack)})
	if err != nil {
		return nil, fmt.Errorf("list services of stack %s: %w", stack, err)
	}
	out := map[string][]string{}
	for _, s := range svcs.Items {
		if s.Spec.TaskTemplate.ContainerSpec == nil {
			continue
		}
		want, err := json.Marshal(s.Spec.TaskTemplate.ContainerSpec)
		if err != nil {
			return nil, err
		}
		name := s.Spec.TaskTemplate.ContainerSpec.Labels[LabelService]
		tasks, err := e.api.TaskList(ctx, client.TaskListOptions{Filters: client.Filters{}.Add("service", s.ID).Add("desired-state", "running")})
		if err != nil {
			return nil, fmt.Errorf("list tasks of %s: %w", s.Spec.Name, err)
		}
		for _, t := range tasks.Items {
			if t.Status.State != swarm.TaskStateRunning || t.Status.ContainerStatus == nil || t.Spec.ContainerSpec == nil {
				continue
			}
			got, err := json.Marshal(t.Spec.ContainerSpec)
			if err != nil {
				return nil, err
			}
			if string(got) == string(want) {
				out[name] = append(out[name], t.Status.ContainerStatus.ContainerID)
			}
		}
	}
	return out, nil
}

// labelTaskService is the swarm service of a task's container; the
// replicas a service had before StopContainer scaled it to 0 are kept in
// label.StoppedReplicas.
const labelTaskService = "com.docker.swarm.service.id"

// taskService returns the swarm service of a task's container, or "".
func (e *Engine) taskService(ctx context.Context, id string) string {
	res, err := e.api.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil || res.Container.Config == nil {
		return ""
	}
	return res.Container.Config.Labels[labelTaskService]
}

// stopService scales a replicated service to 0, remembering its replicas,
// and waits until none of its containers runs.
func (e *Engine) stopService(ctx context.Context, id string) error {
	cur, err := e.api.ServiceInspect(ctx, id, client.ServiceInspectOptions{})
	if err != nil {
		return fmt.Errorf("inspect service %s: %w", id, err)
	}
	spec := cur.Service.Spec
	if spec.Mode.Replicated == nil {
		return fmt.Errorf("service %s is not replicated: it cannot be stopped by scaling", spec.Name)
	}
	if n := spec.Mode.Replicated.Replicas; n != nil && *n > 0 {
		if spec.Labels == nil {
			spec.Labels = map[string]string{}
		}
		spec.Labels[label.StoppedReplicas] = strconv.FormatUint(*n, 10)
		zero := uint64(0)
		spec.Mode.Replicated.Replicas = &zero
		if _, err := e.api.ServiceUpdate(ctx, id, client.ServiceUpdateOptions{Version: cur.Service.Version, Spec: spec}); err != nil {
			return fmt.Errorf("scale service %s to 0: %w", spec.Name, err)
		}
	}
	return e.waitServiceRunning(ctx, id, spec.Name, false)
}

// startService scales a service stopped by stopService back to its
// replicas and waits until one of its containers runs.
func (e *Engine) startService(ctx context.Context, id string) error {
	cur, err := e.api.ServiceInspect(ctx, id, client.ServiceInspectOptions{})
	if err != nil {
		return fmt.Errorf("inspect service %s: %w", id, err)
	}
	spec := cur.Service.Spec
	if spec.Mode.Replicated == nil {
		return nil
	}
	if n := spec.Mode.Replicated.Replicas; n == nil || *n == 0 {
		want := uint64(1)
		if v, err := strconv.ParseUint(spec.Labels[label.StoppedReplicas], 10, 64); err == nil && v > 0 {
			want = v
		}
		delete(spec.Labels, label.StoppedReplicas)
		spec.Mode.Replicated.Replicas = &want
		if _, err := e.api.ServiceUpdate(ctx, id, client.ServiceUpdateOptions{Version: cur.Service.Version, Spec: spec}); err != nil {
			return fmt.Errorf("scale service %s to %d: %w", spec.Name, want, err)
		}
	}
	return e.waitServiceRunning(ctx, id, spec.Name, true)
}

// waitServiceRunning polls until a container of the service runs (up) or
// none does (!up), or the caller's context ends.
func (e *Engine) waitServiceRunning(ctx context.Context, id, name string, up bool) error {
	for {
		ctrs, err := e.Containers(ctx, map[string]string{labelTaskService: id})
		if err != nil {
			return err
		}
		running := false
		for _, c := range ctrs {
			running = running || c.State == "running"
		}
		if running == up {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("service %s: still %s: %w", name, map[bool]string{true: "not running", false: "running"}[up], ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}
