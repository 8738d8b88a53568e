package stack

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// Options controls Render.
type Options struct {
	// ExtraLabels go on every service, container and volume (dockerbank's
	// own labels, so the jobs find the containers).
	ExtraLabels map[string]string
}

// Plan is what a stack deploy creates or updates, in the order it does:
// networks, volumes, secrets, services (each sorted by compose name).
type Plan struct {
	Stack    string    `json:"stack"`
	Networks []Network `json:"networks,omitempty"`
	Volumes  []Volume  `json:"volumes,omitempty"`
	Secrets  []Secret  `json:"secrets,omitempty"`
	Services []Service `json:"services"`
}

// Network is a compose network as a swarm network. An external one must
// exist; the others are created as attachable overlay networks when
// missing.
type Network struct {
	Compose  string            `json:"compose"`
	Name     string            `json:"name"`
	External bool              `json:"external,omitempty"`
	Driver   string            `json:"driver,omitempty"`
	Internal bool              `json:"internal,omitempty"`
	Options  map[string]string `json:"options,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
}

// Volume is a named volume the stack creates (external ones are only
// mounted).
type Volume struct {
	Compose    string            `json:"compose"`
	Name       string            `json:"name"`
	Driver     string            `json:"driver,omitempty"`
	DriverOpts map[string]string `json:"driverOpts,omitempty"`
	Labels     map[string]string `json:"labels"`
}

// Secret is a compose secret as a swarm secret. Swarm secrets cannot
// change: an existing one is kept. An external one must exist.
type Secret struct {
	Compose  string            `json:"compose"`
	Name     string            `json:"name"`
	External bool              `json:"external,omitempty"`
	Source   string            `json:"source,omitempty"` // where Data came from: "environment VAR" or "content"
	Labels   map[string]string `json:"labels,omitempty"`
	// Data is the secret's value; it never prints.
	Data []byte `json:"-"`
}

// Service is one compose service as a swarm service.
type Service struct {
	Compose string            `json:"compose"`
	Name    string            `json:"name"`
	Labels  map[string]string `json:"labels"`
	// Replicas of a replicated service; Global runs one task per node.
	Replicas uint64 `json:"replicas"`
	Global   bool   `json:"global,omitempty"`
	// EndpointMode is dnsrr (the default: names resolve to the tasks, as
	// compose names do) or vip.
	EndpointMode string         `json:"endpointMode"`
	Ports        []Port         `json:"ports,omitempty"`
	Networks     []NetworkRef   `json:"networks"`
	Restart      string         `json:"restart"` // any, none or on-failure
	Limits       *Limits        `json:"limits,omitempty"`
	Reservations *Reservations  `json:"reservations,omitempty"`
	Constraints  []string       `json:"constraints,omitempty"`
	Container    ContainerSpec  `json:"container"`
	Secrets      []SecretTarget `json:"secrets,omitempty"`
}

// ContainerSpec is what every task's container runs.
type ContainerSpec struct {
	Image           string            `json:"image"`
	Labels          map[string]string `json:"labels"`
	Entrypoint      []string          `json:"entrypoint,omitempty"`
	Command         []string          `json:"command,omitempty"`
	Hostname        string            `json:"hostname,omitempty"`
	Env             []string          `json:"env,omitempty"`
	Dir             string            `json:"dir,omitempty"`
	User            string            `json:"user,omitempty"`
	Groups          []string          `json:"groups,omitempty"`
	Init            *bool             `json:"init,omitempty"`
	StopSignal      string            `json:"stopSignal,omitempty"`
	StopGracePeriod *Duration         `json:"stopGracePeriod,omitempty"`
	TTY             bool              `json:"tty,omitempty"`
	OpenStdin       bool              `json:"openStdin,omitempty"`
	ReadOnly        bool              `json:"readOnly,omitempty"`
	Sysctls         map[string]string `json:"sysctls,omitempty"`
	CapAdd          []string          `json:"capAdd,omitempty"`
	CapDrop         []string          `json:"capDrop,omitempty"`
	Healthcheck     *Healthcheck      `json:"healthcheck,omitempty"`
	Hosts           []string          `json:"hosts,omitempty"` // "IP HOST"
	Mounts          []Mount           `json:"mounts,omitempty"`
}

// Healthcheck is the container's health check; Test ["NONE"] disables
// the image's.
type Healthcheck struct {
	Test        []string `json:"test,omitempty"`
	Interval    Duration `json:"interval,omitempty"`
	Timeout     Duration `json:"timeout,omitempty"`
	StartPeriod Duration `json:"startPeriod,omitempty"`
	Retries     int      `json:"retries,omitempty"`
}

// Mount types.
const (
	MountVolume = "volume"
	MountBind   = "bind"
	MountTmpfs  = "tmpfs"
)

// Mount is a volume, bind or tmpfs mount of the container.
type Mount struct {
	Type     string `json:"type"`
	Source   string `json:"source,omitempty"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"readOnly,omitempty"`
	// VolumeLabels label a volume swarm creates on the node for the mount
	// (nil for anonymous volumes, binds and tmpfs).
	VolumeLabels map[string]string `json:"volumeLabels,omitempty"`
	NoCopy       bool              `json:"noCopy,omitempty"`
	Subpath      string            `json:"subpath,omitempty"`
	// TmpfsSize in bytes (0: none given).
	TmpfsSize int64 `json:"tmpfsSize,omitempty"`
	// HasTmpfsOptions says whether compose gave tmpfs options (a size of
	// 0 included).
	HasTmpfsOptions bool `json:"-"`
}

// SecretTarget mounts a secret of the plan (by compose name) as a file
// under /run/secrets.
type SecretTarget struct {
	Secret string   `json:"secret"` // compose name
	Name   string   `json:"name"`   // swarm secret name
	File   string   `json:"file"`   // file name under /run/secrets
	UID    string   `json:"uid"`
	GID    string   `json:"gid"`
	Mode   FileMode `json:"mode"`
}

// NetworkRef attaches the service to a network of the plan (by compose
// name) under aliases.
type NetworkRef struct {
	Network string   `json:"network"`
	Aliases []string `json:"aliases"`
}

// Port is a published port.
type Port struct {
	Protocol  string `json:"protocol"` // tcp or udp
	Target    uint32 `json:"target"`
	Published uint32 `json:"published,omitempty"`
	Mode      string `json:"mode"` // host or ingress
}

// Limits cap a task's resources.
type Limits struct {
	NanoCPUs    int64 `json:"nanoCPUs,omitempty"`
	MemoryBytes int64 `json:"memoryBytes,omitempty"`
	Pids        int64 `json:"pids,omitempty"`
}

// Reservations are what a node must have free for a task.
type Reservations struct {
	NanoCPUs    int64 `json:"nanoCPUs,omitempty"`
	MemoryBytes int64 `json:"memoryBytes,omitempty"`
}

// Endpoint modes, restart conditions and publish modes.
const (
	EndpointDNSRR = "dnsrr"
	EndpointVIP   = "vip"

	RestartAny       = "any"
	RestartNone      = "none"
	RestartOnFailure = "on-failure"

	PublishHost    = "host"
	PublishIngress = "ingress"
)

// Name is the swarm name of a stack's object: STACK_NAME.
func Name(stack, name string) string { return stack + "_" + name }

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Render plans the stack p.Name of a compose project. Its error is
// Problems, listing every refusal.
func Render(p *types.Project, o Options) (*Plan, error) {
	stack := p.Name
	plan := &Plan{Stack: stack}
	var probs Problems
	for _, name := range sortedNames(p.Networks) {
		n := p.Networks[name]
		pn := Network{Compose: name, Name: Name(stack, name)}
		if bool(n.External) {
			pn.Name, pn.External = n.Name, true
		} else {
			pn.Driver = n.Driver
			if pn.Driver == "" || pn.Driver == "bridge" {
				pn.Driver = "overlay"
			}
			pn.Internal, pn.Options = n.Internal, n.DriverOpts
			pn.Labels = map[string]string{LabelStack: stack}
			for k, v := range n.Labels {
				pn.Labels[k] = v
			}
		}
		plan.Networks = append(plan.Networks, pn)
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
		plan.Volumes = append(plan.Volumes, Volume{Compose: name, Name: Name(stack, name), Driver: v.Driver, DriverOpts: v.DriverOpts, Labels: labels})
	}
	for _, name := range sortedNames(p.Secrets) {
		s := p.Secrets[name]
		ps := Secret{Compose: name, Name: Name(stack, name)}
		if bool(s.External) {
			ps.Name, ps.External = s.Name, true
			if ps.Name == "" {
				ps.Name = name
			}
			plan.Secrets = append(plan.Secrets, ps)
			continue
		}
		ps.Labels = map[string]string{LabelStack: stack}
		switch {
		case s.Environment != "":
			v, ok := p.Environment[s.Environment]
			if !ok {
				probs = append(probs, Problem{"secret " + name, fmt.Sprintf("variable %s is not set", s.Environment)})
			}
			ps.Data, ps.Source = []byte(v), "environment "+s.Environment
		case s.Content != "":
			ps.Data, ps.Source = []byte(s.Content), "content"
		case s.File != "":
			probs = append(probs, Problem{"secret " + name, "file secrets are not supported on swarm by dockerbank; use environment"})
		}
		plan.Secrets = append(plan.Secrets, ps)
	}
	for _, name := range sortedNames(p.Services) {
		svc, sp := service(p, name, o.ExtraLabels)
		probs = append(probs, sp...)
		plan.Services = append(plan.Services, svc)
	}
	if len(probs) > 0 {
		return plan, probs
	}
	return plan, nil
}

// service renders one compose service of the stack p.Name.
func service(p *types.Project, name string, extra map[string]string) (Service, Problems) {
	s := p.Services[name]
	stack := p.Name
	subject := "service " + name
	var probs Problems
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
		probs = append(probs, Problem{subject, strings.Join(unsupported, ", ") + " cannot run on swarm"})
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
	cs := ContainerSpec{
		Image: s.Image, Labels: labels, Entrypoint: s.Entrypoint, Command: s.Command, Hostname: s.Hostname,
		Env: env, Dir: s.WorkingDir, User: s.User, Groups: s.GroupAdd, Init: s.Init, StopSignal: s.StopSignal,
		TTY: s.Tty, OpenStdin: s.StdinOpen, ReadOnly: s.ReadOnly, Sysctls: s.Sysctls,
		CapAdd: s.CapAdd, CapDrop: s.CapDrop,
	}
	if s.StopGracePeriod != nil {
		d := Duration(*s.StopGracePeriod)
		cs.StopGracePeriod = &d
	}
	if h := s.HealthCheck; h != nil {
		hc := &Healthcheck{Test: h.Test}
		if h.Disable {
			hc.Test = []string{"NONE"}
		}
		if h.Interval != nil {
			hc.Interval = Duration(*h.Interval)
		}
		if h.Timeout != nil {
			hc.Timeout = Duration(*h.Timeout)
		}
		if h.StartPeriod != nil {
			hc.StartPeriod = Duration(*h.StartPeriod)
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
		m := Mount{Target: v.Target, ReadOnly: v.ReadOnly}
		switch v.Type {
		case types.VolumeTypeVolume:
			m.Type = MountVolume
			if v.Source != "" {
				m.Source = Name(stack, v.Source)
				if pv, ok := p.Volumes[v.Source]; ok && bool(pv.External) {
					m.Source = pv.Name
				}
				vl := map[string]string{LabelStack: stack, LabelProject: stack, LabelVolume: v.Source}
				for k, val := range p.Volumes[v.Source].Labels {
					vl[k] = val
				}
				m.VolumeLabels = vl
				if v.Volume != nil {
					m.NoCopy, m.Subpath = v.Volume.NoCopy, v.Volume.Subpath
				}
			}
		case types.VolumeTypeBind:
			m.Type, m.Source = MountBind, v.Source
		case types.VolumeTypeTmpfs:
			m.Type = MountTmpfs
			if v.Tmpfs != nil {
				m.TmpfsSize, m.HasTmpfsOptions = int64(v.Tmpfs.Size), true
			}
		default:
			probs = append(probs, Problem{subject, fmt.Sprintf("volume type %s cannot run on swarm", v.Type)})
			continue
		}
		cs.Mounts = append(cs.Mounts, m)
	}
	for _, t := range s.Tmpfs {
		target, _, _ := strings.Cut(t, ":")
		cs.Mounts = append(cs.Mounts, Mount{Type: MountTmpfs, Target: target})
	}
	out := Service{Compose: name, Name: Name(stack, name), Restart: RestartAny}
	for _, ref := range s.Secrets {
		ps, ok := p.Secrets[ref.Source]
		if !ok {
			probs = append(probs, Problem{subject, "unknown secret " + ref.Source})
			continue
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
		full := Name(stack, ref.Source)
		if bool(ps.External) {
			full = ps.Name
		}
		out.Secrets = append(out.Secrets, SecretTarget{Secret: ref.Source, Name: full, File: target, UID: uid, GID: gid, Mode: FileMode(mode)})
	}
	switch s.Restart {
	case types.RestartPolicyNo:
		out.Restart = RestartNone
	case types.RestartPolicyOnFailure:
		out.Restart = RestartOnFailure
	}
	if s.Deploy != nil {
		if l := s.Deploy.Resources.Limits; l != nil {
			out.Limits = &Limits{NanoCPUs: int64(float64(l.NanoCPUs) * 1e9), MemoryBytes: int64(l.MemoryBytes), Pids: l.Pids}
		}
		if r := s.Deploy.Resources.Reservations; r != nil {
			out.Reservations = &Reservations{NanoCPUs: int64(float64(r.NanoCPUs) * 1e9), MemoryBytes: int64(r.MemoryBytes)}
		}
		out.Constraints = s.Deploy.Placement.Constraints
	}
	if s.MemLimit > 0 || s.CPUS > 0 {
		if out.Limits == nil {
			out.Limits = &Limits{}
		}
		if s.MemLimit > 0 {
			out.Limits.MemoryBytes = int64(s.MemLimit)
		}
		if s.CPUS > 0 {
			out.Limits.NanoCPUs = int64(float64(s.CPUS) * 1e9)
		}
	}
	netNames := sortedNames(s.Networks)
	if len(netNames) == 0 && s.NetworkMode == "" { // network_mode is refused above
		netNames = []string{"default"}
	}
	for _, n := range netNames {
		if _, ok := p.Networks[n]; !ok {
			probs = append(probs, Problem{subject, "unknown network " + n})
			continue
		}
		aliases := []string{name}
		if cfg := s.Networks[n]; cfg != nil {
			aliases = append(aliases, cfg.Aliases...)
		}
		if s.ContainerName != "" {
			aliases = append(aliases, s.ContainerName)
		}
		out.Networks = append(out.Networks, NetworkRef{Network: n, Aliases: aliases})
	}
	out.Replicas = 1
	if s.Scale != nil {
		out.Replicas = uint64(*s.Scale)
	}
	out.Labels = map[string]string{LabelStack: stack}
	for k, v := range extra {
		out.Labels[k] = v
	}
	if s.Deploy != nil {
		if s.Deploy.Replicas != nil {
			out.Replicas = uint64(*s.Deploy.Replicas)
		}
		for k, v := range s.Deploy.Labels {
			out.Labels[k] = v
		}
		out.Global = s.Deploy.Mode == "global"
	}
	// Service names resolve to the task containers (DNS round robin), as
	// compose names do: the virtual-IP mode needs IPVS in the kernel, which
	// many hosts lack, and published ports then bind on the task's host.
	out.EndpointMode = EndpointDNSRR
	vip := s.Deploy != nil && s.Deploy.EndpointMode == "vip"
	if vip {
		out.EndpointMode = EndpointVIP
	}
	for _, pc := range s.Ports {
		pub := uint32(0)
		if pc.Published != "" {
			n, err := strconv.ParseUint(pc.Published, 10, 32)
			if err != nil {
				probs = append(probs, Problem{subject, fmt.Sprintf("published port %q: %v", pc.Published, err)})
				continue
			}
			pub = uint32(n)
		}
		mode := PublishHost
		if vip && pc.Mode != "host" {
			mode = PublishIngress
		}
		proto := "tcp"
		if pc.Protocol == "udp" {
			proto = "udp"
		}
		out.Ports = append(out.Ports, Port{Protocol: proto, Target: pc.Target, Published: pub, Mode: mode})
	}
	out.Container = cs
	return out, probs
}
