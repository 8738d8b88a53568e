package deploy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/dockerbank/dockerbank/internal/bank"
	"github.com/dockerbank/dockerbank/internal/instance/label"
	"github.com/dockerbank/dockerbank/internal/site"
)

// Scaling: `dockerbank scale INSTANCE SERVICE=K` records K in the instance
// (site.Instance.Scale) and renders the project again: a service with K > 1
// runs K replicas (compose scale) on the same volumes and networks, its
// published ports move to one proxy service (ProxyService, HAProxy from
// ProxyImage) that balances across the replicas, which it finds through the
// engine's DNS. K = 1 renders the plain service again.

// ProxyService is the service dockerbank adds to an instance with scaled
// services; ProxyImage runs it (scripts/images.sh proxy builds it).
const (
	ProxyService = "dockerbank-proxy"
	ProxyImage   = "dockerbank/proxy:2.6"
	// proxyConfigTarget is where the image reads its configuration.
	proxyConfigTarget = "/etc/dockerbank-proxy/haproxy.cfg"
	proxyConfig       = "dockerbank-proxy-config"
	// ProxyStatsPort serves HAProxy's statistics (/stats, ;csv for CSV)
	// inside the instance's networks; it is never published.
	ProxyStatsPort  = 8404
	proxyHealthPort = 8405
)

// ErrNotScalable means a scale request was refused to protect the data:
// the service is not marked scalable, the count is above its maximum, or
// it mounts a volume that admits one writer only.
var ErrNotScalable = errors.New("refused to scale")

// ErrNoService means the instance has no service of that name.
var ErrNoService = errors.New("no such service")

// ScaleRefusal lists every reason a scale request was refused.
type ScaleRefusal struct {
	Reasons []string
}

func (r *ScaleRefusal) Error() string {
	return "refused to scale: " + strings.Join(r.Reasons, "; ")
}

// Is makes a refusal match ErrNotScalable.
func (r *ScaleRefusal) Is(target error) bool { return target == ErrNotScalable }

// CheckScale decides whether an instance of the entry (model) may run the
// wanted number of replicas of each service; it returns every reason it
// may not. Pure: the model and the wish in, a decision out.
func CheckScale(entry string, model *bank.ComposeModel, want map[string]int) error {
	var reasons []string
	for _, svc := range slices.Sorted(maps.Keys(want)) {
		k := want[svc]
		meta, ok := model.Services[svc]
		if !ok {
			return fmt.Errorf("%w: %s has no service %s (services: %s)", ErrNoService, entry, svc, strings.Join(slices.Sorted(maps.Keys(model.Services)), ", "))
		}
		if k < 1 {
			reasons = append(reasons, fmt.Sprintf("%s=%d: a service runs at least one replica (stop the instance to run none)", svc, k))
			continue
		}
		if k == 1 {
			continue // the plain service: always allowed
		}
		if meta.Scale == nil {
			reasons = append(reasons, fmt.Sprintf("service %s of entry %s is not marked scalable: the entry does not say that the application runs safely as several containers on the same data (x-dockerbank scale)", svc, entry))
			continue
		}
		if k > meta.Scale.Max {
			reasons = append(reasons, fmt.Sprintf("%s=%d is above the maximum of %d replicas that entry %s supports", svc, k, meta.Scale.Max, entry))
		}
		for _, vname := range slices.Sorted(maps.Keys(model.Volumes)) {
			v := model.Volumes[vname]
			if _, mounted := v.Mounts[svc]; !mounted {
				continue
			}
			if why := v.SingleWriterReason(); why != "" {
				reasons = append(reasons, fmt.Sprintf("service %s mounts volume %s, which admits one writer only: %s", svc, vname, why))
			}
		}
	}
	if len(reasons) > 0 {
		return &ScaleRefusal{Reasons: reasons}
	}
	return nil
}

// proxyPort is one port the proxy listens on for a scaled service.
type proxyPort struct {
	Service string
	Target  uint32 // the replicas' container port
	Listen  uint32 // the proxy's container port
	HTTP    bool
}

// applyScale renders the scaled services of the instance into the project:
// replicas, and the proxy service that takes over their published ports.
// It runs after the instance's labels are set. Pure.
func applyScale(p *types.Project, model *bank.ComposeModel, scale map[string]int) error {
	var scaled []string
	for _, svc := range slices.Sorted(maps.Keys(scale)) {
		if scale[svc] > 1 {
			scaled = append(scaled, svc)
		}
	}
	if len(scaled) == 0 {
		return nil
	}
	if _, taken := p.Services[ProxyService]; taken {
		return fmt.Errorf("render scale: the entry has a service named %s, which dockerbank's proxy needs", ProxyService)
	}
	proxy := types.ServiceConfig{Name: ProxyService, Restart: types.RestartPolicyUnlessStopped}
	proxy.Image = ProxyImage
	proxy.DependsOn = types.DependsOnConfig{}
	proxy.Networks = map[string]*types.ServiceNetworkConfig{}
	proxy.Labels = types.Labels{}
	proxy.Configs = []types.ServiceConfigObjConfig{{Source: proxyConfig, Target: proxyConfigTarget}}
	proxy.CapDrop = []string{"ALL"}
	proxy.SecurityOpt = []string{"no-new-privileges:true"}
	proxy.Logging = &types.LoggingConfig{Driver: "json-file", Options: types.Options{"max-size": "10m", "max-file": "3"}}
	proxy.Deploy = &types.DeployConfig{Resources: types.Resources{Limits: &types.Resource{MemoryBytes: 256 << 20}}}
	used := map[uint32]bool{ProxyStatsPort: true, proxyHealthPort: true}
	var ports []proxyPort
	for _, name := range scaled {
		s := p.Services[name]
		meta := model.Services[name]
		k := scale[name]
		if s.ContainerName != "" {
			return fmt.Errorf("render scale: service %s sets container_name, which cannot name several replicas", name)
		}
		for _, pc := range s.Ports {
			if pc.Protocol != "" && pc.Protocol != "tcp" {
				return fmt.Errorf("render scale: service %s publishes %s port %d, which the proxy cannot balance", name, pc.Protocol, pc.Target)
			}
			listen := pc.Target
			for used[listen] {
				listen = 20000 + uint32(len(used))
			}
			used[listen] = true
			ports = append(ports, proxyPort{Service: name, Target: pc.Target, Listen: listen,
				HTTP: meta.Scale != nil && slices.Contains(meta.Scale.HTTP, pc.Target)})
			moved := pc
			moved.Target = listen
			moved.Protocol = "tcp"
			proxy.Ports = append(proxy.Ports, moved)
		}
		s.Ports = nil
		s.Scale = &k
		if s.Deploy != nil && s.Deploy.Replicas != nil {
			s.Deploy.Replicas = &k
		}
		s.Labels = s.Labels.Add(label.Replicas, strconv.Itoa(k))
		p.Services[name] = s
		cond := types.ServiceConditionStarted
		if s.HealthCheck != nil && !s.HealthCheck.Disable {
			cond = types.ServiceConditionHealthy
		}
		proxy.DependsOn[name] = types.ServiceDependency{Condition: cond, Required: true}
		nets := slices.Sorted(maps.Keys(s.Networks))
		if len(nets) == 0 {
			nets = []string{"default"}
		}
		for _, n := range nets {
			proxy.Networks[n] = nil
		}
		if proxy.Labels[label.Instance] == "" {
			for _, k := range []string{label.Site, label.Instance, label.Entry, label.Version} {
				if v, ok := s.Labels[k]; ok {
					proxy.Labels[k] = v
				}
			}
		}
	}
	proxy.Labels[label.Role] = bank.RoleProxy
	proxy.Labels[label.ProxyFor] = strings.Join(scaled, ",")
	if p.Configs == nil {
		p.Configs = types.Configs{}
	}
	cfg := renderProxyConfig(p.Name, scale, model, ports)
	p.Configs[proxyConfig] = types.ConfigObjConfig{Name: p.Name + "_" + proxyConfig, Content: cfg}
	// compose copies the config into the container when it creates it,
	// and does not compare its content later: the label makes a changed
	// configuration a changed service, which compose recreates.
	sum := sha256.Sum256([]byte(cfg))
	proxy.Labels[label.ConfigSHA256] = hex.EncodeToString(sum[:])
	if _, ok := proxy.Networks["default"]; ok {
		if _, declared := p.Networks["default"]; !declared {
			if p.Networks == nil {
				p.Networks = types.Networks{}
			}
			p.Networks["default"] = types.NetworkConfig{Name: p.Name + "_default"}
		}
	}
	p.Services[ProxyService] = proxy
	return nil
}

// renderProxyConfig renders the HAProxy configuration of an instance's proxy: one
// frontend and backend per moved port, HTTP ones balanced per request and
// the others per TCP connection, the replicas found through the engine's DNS
// (the service name resolves to every replica), checked every two seconds
// and taken out after two failures; a failed connection is retried on
// another replica (redispatch). Statistics on ProxyStatsPort, the health
// endpoint /healthz on 8405 (the image's health check).
func renderProxyConfig(instance string, scale map[string]int, model *bank.ComposeModel, ports []proxyPort) string {
	var b strings.Builder
	var what []string
	for _, svc := range slices.Sorted(maps.Keys(scale)) {
		if scale[svc] > 1 {
			what = append(what, svc)
		}
	}
	// Not the replica counts: the configuration (one server slot per
	// possible replica) stays the same from 2 to the maximum, so scaling
	// does not recreate the proxy.
	fmt.Fprintf(&b, "# Rendered by dockerbank for instance %s: the replicas of %s.\n", instance, strings.Join(what, ", "))
	b.WriteString(`global
    log stderr format short local0 info
    maxconn 4096

# the engine's DNS (Docker's 127.0.0.11, Podman's gateway) from resolv.conf
resolvers engine
    parse-resolv-conf
    resolve_retries 3
    timeout resolve 1s
    timeout retry 1s
    hold valid 2s
    hold other 2s
    hold refused 2s
    hold nx 2s
    hold timeout 2s
    hold obsolete 2s
    accepted_payload_size 8192

defaults
    log global
    option dontlognull
    timeout connect 3s
    timeout client 10m
    timeout server 10m
    timeout check 2s
    retries 3
    option redispatch 1
    default-server init-addr none resolvers engine resolve-prefer ipv4 check inter 2s fall 2 rise 1

frontend health
    mode http
    bind :8405
    monitor-uri /healthz

frontend stats
    mode http
    bind :` + strconv.Itoa(ProxyStatsPort) + `
    stats enable
    stats uri /stats
    stats refresh 10s
    # addresses of the replicas in the statistics (inside the instance only)
    stats show-legends
`)
	for _, pp := range ports {
		name := fmt.Sprintf("%s-%d", pp.Service, pp.Target)
		max := 1
		if meta := model.Services[pp.Service]; meta.Scale != nil {
			max = meta.Scale.Max
		}
		mode := "tcp"
		if pp.HTTP {
			mode = "http"
		}
		fmt.Fprintf(&b, "\nfrontend %s\n    mode %s\n    bind :%d\n", name, mode, pp.Listen)
		if pp.HTTP {
			b.WriteString("    option forwardfor\n")
		}
		fmt.Fprintf(&b, "    default_backend %s\n\nbackend %s\n    mode %s\n", name, name, mode)
		if pp.HTTP {
			b.WriteString("    balance roundrobin\n")
			b.WriteString("    # any HTTP answer but a server error: a replica that asks for a login is up\n")
			b.WriteString("    option httpchk GET /\n    http-check expect rstatus ^[1-4]\n")
			b.WriteString("    retry-on conn-failure empty-response response-timeout\n")
		} else {
			b.WriteString("    balance leastconn\n")
		}
		fmt.Fprintf(&b, "    server-template replica 1-%d %s:%d\n", max, pp.Service, pp.Target)
	}
	return b.String()
}

// ScaleOptions says which services of an instance to scale to how many
// replicas.
type ScaleOptions struct {
	Name    string
	Replica map[string]int
}

// Scale records the wanted replicas of an instance's services, renders the
// instance again and brings it up: K replicas of each service (one for
// K = 1) behind the proxy, healthy. It refuses (ErrNotScalable) services
// the entry does not mark scalable, counts above the entry's maximum and
// services on single-writer volumes, before anything changes.
func (m *Manager) Scale(ctx context.Context, o ScaleOptions) (*site.Instance, error) {
	var in *site.Instance
	err := m.locked(ctx, func() error {
		var err error
		in, err = m.Site.Instance(o.Name)
		if err != nil {
			return err
		}
		if m.IsSwarm(in.Name) {
			return fmt.Errorf("scale %s: the instance runs as a swarm stack; swarm scales its services itself", in.Name)
		}
		e, err := m.Bank.Get(in.Entry)
		if err != nil {
			return err
		}
		model, err := m.modelOf(ctx, in, e)
		if err != nil {
			return err
		}
		if err := CheckScale(e.ID, model, o.Replica); err != nil {
			return err
		}
		next := maps.Clone(in.Scale)
		if next == nil {
			next = map[string]int{}
		}
		for svc, k := range o.Replica {
			if k == 1 {
				delete(next, svc)
			} else {
				next[svc] = k
			}
		}
		if len(next) > 0 {
			ok, err := m.Engine.ImageExists(ctx, ProxyImage)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("scale %s: the proxy image %s is missing; build it with `scripts/images.sh proxy`", in.Name, ProxyImage)
			}
		}
		if len(next) == 0 {
			next = nil
		}
		in.Scale = next
		if err := m.journal(in.Name, "started", "scale "+scaleText(o.Replica)); err != nil {
			return err
		}
		if in.State != site.StateUp {
			// recorded: the next start runs the replicas
			err := m.Site.Save(in)
			return m.finish(in.Name, err, "scale recorded; the instance is down")
		}
		return m.finish(in.Name, m.bringUp(ctx, in, e, nil), "scaled "+scaleText(o.Replica))
	})
	return in, err
}

// modelOf loads the compose model of the instance's entry version and
// variant (what render loads).
func (m *Manager) modelOf(ctx context.Context, in *site.Instance, e *bank.Entry) (*bank.ComposeModel, error) {
	r, err := e.Resolve(in.Version, in.Variant, in.Params)
	if err != nil {
		return nil, err
	}
	// render copied the entry's files of this version beside the record
	dir := filepath.Join(m.Site.InstanceDir(in.Name), "entry")
	p, err := bank.LoadProject(ctx, bank.LoadOptions{Dir: dir, Files: r.ComposeFiles(), Name: in.Name,
		Env: r.Env(), Profiles: r.Variant.Profiles})
	if err != nil {
		return nil, fmt.Errorf("scale %s: load the rendered entry in %s: %w", in.Name, dir, err)
	}
	return bank.Model(p)
}

func scaleText(want map[string]int) string {
	var parts []string
	for _, svc := range slices.Sorted(maps.Keys(want)) {
		parts = append(parts, fmt.Sprintf("%s=%d", svc, want[svc]))
	}
	return strings.Join(parts, " ")
}
