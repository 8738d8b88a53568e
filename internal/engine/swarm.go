package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/containerd/errdefs"
	"github.com/dockerbank/dockerbank/internal/instance/label"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
)

// LabelStack marks the services, networks, volumes and secrets of a stack,
// as `docker stack deploy` does, so `docker stack ps NAME` shows them.
const LabelStack = "com.docker.stack.namespace"

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

// StackOptions controls StackDeploy.
type StackOptions struct {
	// ExtraLabels go on every service, container and volume (dockerbank's
	// own and compose's project labels, so the jobs find the containers).
	ExtraLabels map[string]string
}

// StackDeploy runs a compose project as a swarm stack named p.Name through
// the API, as `docker stack deploy` would: an overlay network per compose
// network (services reachable by their compose names), named volumes
// NAME_volume with the project's volume labels, swarm secrets NAME_secret
// with the values compose would mount, and one replicated service per
// compose service. Existing services are updated in place.
func (e *Engine) StackDeploy(ctx context.Context, p *types.Project, o StackOptions) error {
	if state, manager, err := e.SwarmState(ctx); err != nil {
		return err
	} else if state != "active" || !manager {
		return fmt.Errorf("%w (state %s); run `docker swarm init` on this host or point --host at a manager", ErrNoSwarm, state)
	}
	stack := p.Name
	nets := map[string]string{}
	for _, name := range sortedNames(p.Networks) {
		id, err := e.stackNetwork(ctx, stack, name, p.Networks[name])
		if err != nil {
			return err
		}
		nets[name] = id
	}
	for _, name := range sortedNames(p.Volumes) {
		v := p.Volumes[name]
		if bool(v.External) {
			continue
		}
		labels := map[string]string{LabelStack: stack, LabelProject: stack, LabelVolume: name}
		for k, val := range v.Labels {
			labels[k] = val
		}
		_, err := e.api.VolumeCreate(ctx, client.VolumeCreateOptions{Name: stackName(stack, name), Driver: v.Driver, DriverOpts: v.DriverOpts, Labels: labels})
		if err != nil {
			return fmt.Errorf("create volume %s: %w", stackName(stack, name), err)
		}
	}
	secrets := map[string]string{}
	for _, name := range sortedNames(p.Secrets) {
		id, err := e.stackSecret(ctx, p, stack, name)
		if err != nil {
			return err
		}
		secrets[name] = id
	}
	for _, name := range sortedNames(p.Services) {
		spec, err := ServiceSpec(p, name, nets, secrets, o.ExtraLabels)
		if err != nil {
			return err
		}
		if err := e.upsertService(ctx, spec); err != nil {
			return err
		}
	}
	return nil
}

func stackName(stack, name string) string { return stack + "_" + name }

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (e *Engine) stackNetwork(ctx context.Context, stack, name string, n types.NetworkConfig) (string, error) {
	full := stackName(stack, name)
	if bool(n.External) {
		full = n.Name
	}
	res, err := e.api.NetworkList(ctx, client.NetworkListOptions{Filters: client.Filters{}.Add("name", full)})
	if err != nil {
		return "", fmt.Errorf("list networks: %w", err)
	}
	for _, s := range res.Items {
		if s.Name == full {
			return s.ID, nil
		}
	}
	if bool(n.External) {
		return "", fmt.Errorf("external network %s does not exist", full)
	}
	driver := n.Driver
	if driver == "" || driver == "bridge" {
		driver = "overlay"
	}
	labels := map[string]string{LabelStack: stack}
	for k, v := range n.Labels {
		labels[k] = v
	}
	cr, err := e.api.NetworkCreate(ctx, full, client.NetworkCreateOptions{Driver: driver, Scope: "swarm", Attachable: true,
		Internal: n.Internal, Options: n.DriverOpts, Labels: labels})
	if err != nil {
		return "", fmt.Errorf("create network %s: %w", full, err)
	}
	return cr.ID, nil
}

// stackSecret creates the swarm secret of a compose secret once; swarm
// secrets cannot change, so an existing one is kept.
func (e *Engine) stackSecret(ctx context.Context, p *types.Project, stack, name string) (string, error) {
	s := p.Secrets[name]
	full := stackName(stack, name)
	if bool(s.External) {
		full = s.Name
		if full == "" {
			full = name
		}
	}
	res, err := e.api.SecretList(ctx, client.SecretListOptions{Filters: client.Filters{}.Add("name", full)})
	if err != nil {
		return "", fmt.Errorf("list secrets: %w", err)
	}
	for _, x := range res.Items {
		if x.Spec.Name == full {
			return x.ID, nil
		}
	}
	if bool(s.External) {
		return "", fmt.Errorf("external secret %s does not exist", full)
	}
	var data []byte
	switch {
	case s.Environment != "":
		v, ok := p.Environment[s.Environment]
		if !ok {
			return "", fmt.Errorf("secret %s: variable %s is not set", name, s.Environment)
		}
		data = []byte(v)
	case s.Content != "":
		data = []byte(s.Content)
	case s.File != "":
		return "", fmt.Errorf("secret %s: file secrets are not supported on swarm by dockerbank; use environment", name)
	}
	cr, err := e.api.SecretCreate(ctx, client.SecretCreateOptions{Spec: swarm.SecretSpec{
		Annotations: swarm.Annotations{Name: full, Labels: map[string]string{LabelStack: stack}}, Data: data}})
	if err != nil {
		return "", fmt.Errorf("create secret %s: %w", full, err)
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

// ServiceSpec converts one compose service into a swarm service spec of
// the stack p.Name. nets and secrets map compose names to swarm ids.
func ServiceSpec(p *types.Project, name string, nets, secrets map[string]string, extra map[string]string) (swarm.ServiceSpec, error) {
	s := p.Services[name]
	stack := p.Name
	var unsupported []string
	if s.Privileged {
		unsupported = append(unsupported, "privileged")
	}
	if s.NetworkMode != "" {
		unsupported = append(unsupported, "network_mode")
	}
	if len(s.Devices) > 0 {
		unsupported = append(unsupported, "devices")
	}
	if len(unsupported) > 0 {
		return swarm.ServiceSpec{}, fmt.Errorf("service %s: %s cannot run on swarm", name, strings.Join(unsupported, ", "))
	}
	labels := map[string]string{LabelStack: stack, LabelProject: stack, LabelService: name}
	for k, v := range extra {
		labels[k] = v
	}
	for k, v := range s.Labels {
		labels[k] = v
	}
	var env []string
	for _, k := range sortedNames(s.Environment) {
		if v := s.Environment[k]; v != nil {
			env = append(env, k+"="+*v)
		}
	}
	cs := &swarm.ContainerSpec{
		Image: s.Image, Labels: labels, Command: s.Entrypoint, Args: s.Command, Hostname: s.Hostname,
		Env: env, Dir: s.WorkingDir, User: s.User, Groups: s.GroupAdd, Init: s.Init, StopSignal: s.StopSignal,
		TTY: s.Tty, OpenStdin: s.StdinOpen, ReadOnly: s.ReadOnly, Sysctls: s.Sysctls,
		CapabilityAdd: s.CapAdd, CapabilityDrop: s.CapDrop,
	}
	if s.StopGracePeriod != nil {
		d := time.Duration(*s.StopGracePeriod)
		cs.StopGracePeriod = &d
	}
	if h := s.HealthCheck; h != nil {
		hc := &container.HealthConfig{Test: h.Test}
		if h.Disable {
			hc.Test = []string{"NONE"}
		}
		if h.Interval != nil {
			hc.Interval = time.Duration(*h.Interval)
		}
		if h.Timeout != nil {
			hc.Timeout = time.Duration(*h.Timeout)
		}
		if h.StartPeriod != nil {
			hc.StartPeriod = time.Duration(*h.StartPeriod)
		}
		if h.Retries != nil {
			hc.Retries = int(*h.Retries)
		}
		cs.Healthcheck = hc
	}
	for host, ips := range s.ExtraHosts {
		for _, ip := range ips {
			cs.Hosts = append(cs.Hosts, ip+" "+host)
		}
	}
	sort.Strings(cs.Hosts)
	for _, v := range s.Volumes {
		m := mount.Mount{Target: v.Target, ReadOnly: v.ReadOnly}
		switch v.Type {
		case types.VolumeTypeVolume:
			m.Type = mount.TypeVolume
			if v.Source != "" {
				m.Source = stackName(stack, v.Source)
				if pv, ok := p.Volumes[v.Source]; ok && bool(pv.External) {
					m.Source = pv.Name
				}
				vl := map[string]string{LabelStack: stack, LabelProject: stack, LabelVolume: v.Source}
				for k, val := range p.Volumes[v.Source].Labels {
					vl[k] = val
				}
				m.VolumeOptions = &mount.VolumeOptions{Labels: vl}
				if v.Volume != nil {
					m.VolumeOptions.NoCopy, m.VolumeOptions.Subpath = v.Volume.NoCopy, v.Volume.Subpath
				}
			}
		case types.VolumeTypeBind:
			m.Type, m.Source = mount.TypeBind, v.Source
		case types.VolumeTypeTmpfs:
			m.Type = mount.TypeTmpfs
			if v.Tmpfs != nil {
				m.TmpfsOptions = &mount.TmpfsOptions{SizeBytes: int64(v.Tmpfs.Size)}
			}
		default:
			return swarm.ServiceSpec{}, fmt.Errorf("service %s: volume type %s cannot run on swarm", name, v.Type)
		}
		cs.Mounts = append(cs.Mounts, m)
	}
	for _, t := range s.Tmpfs {
		target, _, _ := strings.Cut(t, ":")
		cs.Mounts = append(cs.Mounts, mount.Mount{Type: mount.TypeTmpfs, Target: target})
	}
	for _, ref := range s.Secrets {
		id, ok := secrets[ref.Source]
		if !ok {
			return swarm.ServiceSpec{}, fmt.Errorf("service %s: unknown secret %s", name, ref.Source)
		}
		target := ref.Target
		if target == "" {
			target = ref.Source
		}
		target = strings.TrimPrefix(target, "/run/secrets/")
		mode := uint32(0o444)
		if ref.Mode != nil {
			mode = uint32(*ref.Mode)
		}
		uid, gid := ref.UID, ref.GID
		if uid == "" {
			uid = "0"
		}
		if gid == "" {
			gid = "0"
		}
		full := stackName(stack, ref.Source)
		if ps := p.Secrets[ref.Source]; bool(ps.External) {
			full = ps.Name
		}
		cs.Secrets = append(cs.Secrets, &swarm.SecretReference{SecretID: id, SecretName: full,
			File: &swarm.SecretReferenceFileTarget{Name: target, UID: uid, GID: gid, Mode: fileMode(mode)}})
	}
	task := swarm.TaskSpec{ContainerSpec: cs, RestartPolicy: &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionAny}}
	switch s.Restart {
	case types.RestartPolicyNo:
		task.RestartPolicy.Condition = swarm.RestartPolicyConditionNone
	case types.RestartPolicyOnFailure:
		task.RestartPolicy.Condition = swarm.RestartPolicyConditionOnFailure
	}
	res := &swarm.ResourceRequirements{}
	if s.Deploy != nil {
		if l := s.Deploy.Resources.Limits; l != nil {
			res.Limits = &swarm.Limit{NanoCPUs: int64(float64(l.NanoCPUs) * 1e9), MemoryBytes: int64(l.MemoryBytes), Pids: l.Pids}
		}
		if r := s.Deploy.Resources.Reservations; r != nil {
			res.Reservations = &swarm.Resources{NanoCPUs: int64(float64(r.NanoCPUs) * 1e9), MemoryBytes: int64(r.MemoryBytes)}
		}
		if len(s.Deploy.Placement.Constraints) > 0 {
			task.Placement = &swarm.Placement{Constraints: s.Deploy.Placement.Constraints}
		}
	}
	if s.MemLimit > 0 || s.CPUS > 0 {
		if res.Limits == nil {
			res.Limits = &swarm.Limit{}
		}
		if s.MemLimit > 0 {
			res.Limits.MemoryBytes = int64(s.MemLimit)
		}
		if s.CPUS > 0 {
			res.Limits.NanoCPUs = int64(float64(s.CPUS) * 1e9)
		}
	}
	if res.Limits != nil || res.Reservations != nil {
		task.Resources = res
	}
	netNames := sortedNames(s.Networks)
	if len(netNames) == 0 {
		netNames = []string{"default"}
	}
	for _, n := range netNames {
		id, ok := nets[n]
		if !ok {
			return swarm.ServiceSpec{}, fmt.Errorf("service %s: unknown network %s", name, n)
		}
		aliases := []string{name}
		if cfg := s.Networks[n]; cfg != nil {
			aliases = append(aliases, cfg.Aliases...)
		}
		if s.ContainerName != "" {
			aliases = append(aliases, s.ContainerName)
		}
		task.Networks = append(task.Networks, swarm.NetworkAttachmentConfig{Target: id, Aliases: aliases})
	}
	replicas := uint64(1)
	if s.Scale != nil {
		replicas = uint64(*s.Scale)
	}
	svcLabels := map[string]string{LabelStack: stack}
	for k, v := range extra {
		svcLabels[k] = v
	}
	if s.Deploy != nil {
		if s.Deploy.Replicas != nil {
			replicas = uint64(*s.Deploy.Replicas)
		}
		for k, v := range s.Deploy.Labels {
			svcLabels[k] = v
		}
	}
	spec := swarm.ServiceSpec{
		Annotations:  swarm.Annotations{Name: stackName(stack, name), Labels: svcLabels},
		TaskTemplate: task,
		Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &replicas}},
	}
	if s.Deploy != nil && s.Deploy.Mode == "global" {
		spec.Mode = swarm.ServiceMode{Global: &swarm.GlobalService{}}
	}
	// Service names resolve to the task containers (DNS round robin), as
	// compose names do: the virtual-IP mode needs IPVS in the kernel, which
	// many hosts lack, and published ports then bind on the task's host.
	spec.EndpointSpec = &swarm.EndpointSpec{Mode: swarm.ResolutionModeDNSRR}
	vip := s.Deploy != nil && s.Deploy.EndpointMode == "vip"
	if vip {
		spec.EndpointSpec.Mode = swarm.ResolutionModeVIP
	}
	for _, pc := range s.Ports {
		pub := uint32(0)
		if pc.Published != "" {
			n, err := strconv.ParseUint(pc.Published, 10, 32)
			if err != nil {
				return swarm.ServiceSpec{}, fmt.Errorf("service %s: published port %q: %w", name, pc.Published, err)
			}
			pub = uint32(n)
		}
		mode := swarm.PortConfigPublishModeHost
		if vip && pc.Mode != "host" {
			mode = swarm.PortConfigPublishModeIngress
		}
		proto := network.TCP
		if pc.Protocol == "udp" {
			proto = network.UDP
		}
		spec.EndpointSpec.Ports = append(spec.EndpointSpec.Ports, swarm.PortConfig{Protocol: proto, TargetPort: pc.Target, PublishedPort: pub, PublishMode: mode})
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
	deadline := time.Now().Add(2 * time.Minute)
	for {
		ctrs, err := e.Containers(ctx, map[string]string{LabelStack: stack})
		if err != nil {
			return err
		}
		if len(ctrs) == 0 || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
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

func fileMode(m uint32) os.FileMode { return os.FileMode(m) }

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
// none does (!up).
func (e *Engine) waitServiceRunning(ctx context.Context, id, name string, up bool) error {
	deadline := time.Now().Add(2 * time.Minute)
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
		if time.Now().After(deadline) {
			return fmt.Errorf("service %s: still %s after 2m", name, map[bool]string{true: "not running", false: "running"}[up])
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}
