package kube

import (
	"fmt"
	"maps"
	"math"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Docker's healthcheck defaults.
const (
	defaultInterval      = 30 * time.Second
	defaultTimeout       = 30 * time.Second
	defaultRetries       = 3
	defaultStartInterval = 5 * time.Second
)

// secretLike matches environment variables whose values must not sit in a
// pod spec in clear text.
var secretLike = regexp.MustCompile(`(?i)(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIAL)`)

// podParts is what a service's pod needs besides its spec.
type podParts struct {
	spec      corev1.PodSpec
	templates []corev1.PersistentVolumeClaim
	labels    map[string]string // extra pod labels (networks)
	rwo       bool              // mounts a ReadWriteOnce claim shared with nobody
}

func ptr[T any](v T) *T { return &v }

func seconds(d time.Duration) int32 {
	s := int32(math.Ceil(d.Seconds()))
	if s < 1 {
		s = 1
	}
	return s
}

func dur(d *types.Duration, def time.Duration) time.Duration {
	if d == nil || *d == 0 {
		return def
	}
	return time.Duration(*d)
}

// workload emits the StatefulSet (role database) or Deployment of a service.
func (c *converter) workload(s types.ServiceConfig) {
	parts := c.pod(s)
	c.pods[s.Name] = parts
	labels := c.serviceLabels(s.Name)
	podLabels := merge(labels, parts.labels)
	annotations := map[string]string{}
	for k, v := range s.Labels {
		if strings.HasPrefix(k, "com.docker.compose.") {
			continue
		}
		if validLabelKey(k) && validLabelValue(v) {
			podLabels[k] = v
		} else {
			annotations[k] = v
		}
	}
	for k, v := range s.Annotations {
		annotations[k] = v
	}
	if len(annotations) == 0 {
		annotations = nil
	}
	wlLabels := merge(labels)
	if s.Deploy != nil {
		for k, v := range s.Deploy.Labels {
			if validLabelKey(k) && validLabelValue(v) {
				wlLabels[k] = v
			} else {
				c.refuse(s.Name, "deploy.labels", "label %s=%q is not a valid Kubernetes label", k, v)
			}
		}
	}
	replicas := int32(1)
	if s.Scale != nil {
		replicas = int32(*s.Scale)
	}
	if s.Deploy != nil && s.Deploy.Replicas != nil {
		replicas = int32(*s.Deploy.Replicas)
	}
	if s.Deploy != nil && s.Deploy.Mode != "" && s.Deploy.Mode != "replicated" {
		c.refuse(s.Name, "deploy.mode", "mode %s: only replicated services are exported", s.Deploy.Mode)
	}
	name := c.objName(s.Name)
	tmpl := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: podLabels, Annotations: annotations},
		Spec:       parts.spec,
	}
	sel := &metav1.LabelSelector{MatchLabels: c.selector(s.Name)}
	if c.isDatabase(s.Name) {
		sts := &appsv1.StatefulSet{
			TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "StatefulSet"},
			ObjectMeta: c.meta(name, wlLabels),
			Spec: appsv1.StatefulSetSpec{
				Replicas:             ptr(replicas),
				Selector:             sel,
				ServiceName:          dnsLabel(s.Name),
				Template:             tmpl,
				VolumeClaimTemplates: parts.templates,
				PodManagementPolicy:  appsv1.OrderedReadyPodManagement,
				PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
					WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
					WhenScaled:  appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
				},
			},
		}
		c.add(50, s.Name, sts, "statefulset", name)
		return
	}
	dep := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: c.meta(name, wlLabels),
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr(replicas),
			Selector: sel,
			Template: tmpl,
		},
	}
	if parts.rwo {
		// A rolling update would start the new pod while the old one
		// still holds the ReadWriteOnce claim.
		dep.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	}
	c.add(60, s.Name, dep, "deployment", name)
}

// pod builds the pod spec of a service.
func (c *converter) pod(s types.ServiceConfig) podParts {
	var parts podParts
	ctr := corev1.Container{Name: dnsLabel(s.Name), Image: s.Image}
	if s.Image == "" {
		c.refuse(s.Name, "build", "no image: build it, push it to a registry the cluster pulls from, and set image")
	}
	switch s.Restart {
	case "", types.RestartPolicyAlways, types.RestartPolicyUnlessStopped:
	default:
		c.refuse(s.Name, "restart", "restart %s: long-running pods always restart in Kubernetes", s.Restart)
	}
	if s.Deploy != nil && s.Deploy.RestartPolicy != nil && s.Deploy.RestartPolicy.Condition != "" && s.Deploy.RestartPolicy.Condition != "any" {
		c.refuse(s.Name, "deploy.restart_policy", "condition %s: long-running pods always restart in Kubernetes", s.Deploy.RestartPolicy.Condition)
	}
	if s.Logging != nil && s.Logging.Driver != "" && s.Logging.Driver != "json-file" && s.Logging.Driver != "local" {
		c.refuse(s.Name, "logging", "driver %s: pods log to the node; ship logs with a node agent instead", s.Logging.Driver)
	}
	if s.LogDriver != "" && s.LogDriver != "json-file" && s.LogDriver != "local" {
		c.refuse(s.Name, "log_driver", "driver %s: pods log to the node; ship logs with a node agent instead", s.LogDriver)
	}
	ctr.Command = s.Entrypoint
	ctr.Args = s.Command
	ctr.WorkingDir = s.WorkingDir
	ctr.TTY = s.Tty
	ctr.Stdin = s.StdinOpen
	switch s.PullPolicy {
	case types.PullPolicyAlways:
		ctr.ImagePullPolicy = corev1.PullAlways
	case types.PullPolicyNever:
		ctr.ImagePullPolicy = corev1.PullNever
	case "", types.PullPolicyMissing, types.PullPolicyIfNotPresent, types.PullPolicyBuild:
		ctr.ImagePullPolicy = corev1.PullIfNotPresent
	default:
		c.refuse(s.Name, "pull_policy", "pull_policy %s has no imagePullPolicy", s.PullPolicy)
	}
	ctr.Env = c.env(s)
	ctr.Ports = containerPorts(s, c.m.Services[s.Name].Engine)
	c.mounts(s, &ctr, &parts)
	ctr.StartupProbe, ctr.ReadinessProbe = probes(s.HealthCheck)
	ctr.Resources = c.resources(s)
	ctr.SecurityContext = c.securityContext(s)
	ctr.Lifecycle = c.lifecycle(s)

	spec := corev1.PodSpec{
		Containers:                   []corev1.Container{ctr},
		RestartPolicy:                corev1.RestartPolicyAlways,
		EnableServiceLinks:           ptr(false),
		AutomountServiceAccountToken: ptr(false),
		Hostname:                     s.Hostname,
		SecurityContext: &corev1.PodSecurityContext{
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
	}
	spec.Volumes = parts.spec.Volumes
	if s.StopGracePeriod != nil {
		spec.TerminationGracePeriodSeconds = ptr(int64(seconds(time.Duration(*s.StopGracePeriod))))
	}
	for _, name := range slices.Sorted(maps.Keys(s.Sysctls)) {
		spec.SecurityContext.Sysctls = append(spec.SecurityContext.Sysctls, corev1.Sysctl{Name: name, Value: s.Sysctls[name]})
	}
	for _, g := range s.GroupAdd {
		n, err := strconv.ParseInt(g, 10, 64)
		if err != nil {
			c.refuse(s.Name, "group_add", "group %q: Kubernetes needs numeric groups", g)
			continue
		}
		spec.SecurityContext.SupplementalGroups = append(spec.SecurityContext.SupplementalGroups, n)
	}
	spec.HostAliases = c.hostAliases(s)
	if len(s.DNSOpts) > 0 || len(s.DNSSearch) > 0 {
		spec.DNSConfig = &corev1.PodDNSConfig{Searches: s.DNSSearch}
		for _, o := range s.DNSOpts {
			k, v, ok := strings.Cut(o, ":")
			opt := corev1.PodDNSConfigOption{Name: k}
			if ok {
				opt.Value = ptr(v)
			}
			spec.DNSConfig.Options = append(spec.DNSConfig.Options, opt)
		}
	}
	if s.Platform != "" {
		osName, arch, _ := strings.Cut(s.Platform, "/")
		spec.NodeSelector = map[string]string{"kubernetes.io/os": osName}
		if arch != "" {
			arch, _, _ = strings.Cut(arch, "/")
			spec.NodeSelector["kubernetes.io/arch"] = arch
		}
	}
	spec.InitContainers = c.waits(s)
	parts.spec = spec
	parts.labels = c.networkLabels(s)
	return parts
}

// env builds the container environment; secret-like variables go to the
// service's env Secret.
func (c *converter) env(s types.ServiceConfig) []corev1.EnvVar {
	var out []corev1.EnvVar
	secretData := map[string][]byte{}
	for _, k := range slices.Sorted(maps.Keys(s.Environment)) {
		v := s.Environment[k]
		if v == nil {
			c.refuse(s.Name, "environment", "%s has no value (compose takes it from the shell); give it a value or a parameter", k)
			continue
		}
		// A value naming a mounted secret file is a reference, not a secret.
		if secretLike.MatchString(k) && !strings.HasSuffix(k, "_FILE") && *v != "" && !strings.HasPrefix(*v, "/run/secrets/") {
			secretData[k] = []byte(*v)
			out = append(out, corev1.EnvVar{Name: k, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: c.objName(s.Name, "env")}, Key: k}}})
			continue
		}
		out = append(out, corev1.EnvVar{Name: k, Value: *v})
	}
	if len(secretData) > 0 {
		name := c.objName(s.Name, "env")
		sec := &corev1.Secret{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
			ObjectMeta: c.meta(name, c.serviceLabels(s.Name)),
			Type:       corev1.SecretTypeOpaque,
			Data:       secretData,
		}
		c.add(10, s.Name, sec, "secret", name)
	}
	return out
}

// enginePorts are the ports of database engines, reachable by the other
// services of the project without being listed in expose.
var enginePorts = map[string]int32{"postgres": 5432, "mariadb": 3306, "mysql": 3306, "mongo": 27017}

func containerPorts(s types.ServiceConfig, engine string) []corev1.ContainerPort {
	seen := map[string]bool{}
	var out []corev1.ContainerPort
	addPort := func(port int32, proto string) {
		p := corev1.ProtocolTCP
		if strings.EqualFold(proto, "udp") {
			p = corev1.ProtocolUDP
		} else if strings.EqualFold(proto, "sctp") {
			p = corev1.ProtocolSCTP
		}
		key := fmt.Sprint(port, p)
		if port <= 0 || seen[key] {
			return
		}
		seen[key] = true
		out = append(out, corev1.ContainerPort{Name: portName(port, p), ContainerPort: port, Protocol: p})
	}
	for _, p := range s.Ports {
		addPort(int32(p.Target), p.Protocol)
	}
	for _, e := range s.Expose {
		port, proto, _ := strings.Cut(e, "/")
		if lo, _, ok := strings.Cut(port, "-"); ok {
			port = lo
		}
		n, _ := strconv.Atoi(port)
		addPort(int32(n), proto)
	}
	if p, ok := enginePorts[engine]; ok {
		addPort(p, "tcp")
	}
	return out
}

func portName(port int32, p corev1.Protocol) string {
	return strings.ToLower(string(p)) + "-" + strconv.Itoa(int(port))
}

// probes turns a compose healthcheck into a startup and a readiness probe.
func probes(h *types.HealthCheckConfig) (startup, readiness *corev1.Probe) {
	if h == nil || h.Disable || len(h.Test) == 0 {
		return nil, nil
	}
	var cmd []string
	switch h.Test[0] {
	case "NONE":
		return nil, nil
	case "CMD":
		cmd = h.Test[1:]
	case "CMD-SHELL":
		cmd = []string{"/bin/sh", "-c", strings.Join(h.Test[1:], " ")}
	default:
		cmd = []string{"/bin/sh", "-c", strings.Join(h.Test, " ")}
	}
	interval := dur(h.Interval, defaultInterval)
	timeout := dur(h.Timeout, defaultTimeout)
	retries := int32(defaultRetries)
	if h.Retries != nil {
		retries = int32(*h.Retries)
	}
	handler := corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: cmd}}
	readiness = &corev1.Probe{ProbeHandler: handler, PeriodSeconds: seconds(interval), TimeoutSeconds: seconds(timeout),
		FailureThreshold: retries, SuccessThreshold: 1}
	if start := dur(h.StartPeriod, 0); start > 0 {
		every := dur(h.StartInterval, defaultStartInterval)
		if h.StartInterval == nil && interval < every {
			every = interval
		}
		n := int32(math.Ceil(float64(start)/float64(every))) + retries
		startup = &corev1.Probe{ProbeHandler: handler, PeriodSeconds: seconds(every), TimeoutSeconds: seconds(timeout),
			FailureThreshold: n, SuccessThreshold: 1}
	}
	return startup, readiness
}

func (c *converter) resources(s types.ServiceConfig) corev1.ResourceRequirements {
	var r corev1.ResourceRequirements
	set := func(l *corev1.ResourceList, name corev1.ResourceName, q resource.Quantity) {
		if *l == nil {
			*l = corev1.ResourceList{}
		}
		(*l)[name] = q
	}
	cpu := func(n float32) resource.Quantity {
		return *resource.NewMilliQuantity(int64(math.Round(float64(n)*1000)), resource.DecimalSI)
	}
	mem := func(b types.UnitBytes) resource.Quantity {
		return *resource.NewQuantity(int64(b), resource.BinarySI)
	}
	if s.CPUS > 0 {
		set(&r.Limits, corev1.ResourceCPU, cpu(s.CPUS))
	}
	if s.MemLimit > 0 {
		set(&r.Limits, corev1.ResourceMemory, mem(s.MemLimit))
	}
	if s.MemReservation > 0 {
		set(&r.Requests, corev1.ResourceMemory, mem(s.MemReservation))
	}
	if s.Deploy == nil {
		return r
	}
	apply := func(res *types.Resource, l *corev1.ResourceList, which string) {
		if res == nil {
			return
		}
		if res.NanoCPUs > 0 {
			set(l, corev1.ResourceCPU, cpu(float32(res.NanoCPUs)))
		}
		if res.MemoryBytes > 0 {
			set(l, corev1.ResourceMemory, mem(res.MemoryBytes))
		}
		if res.Pids > 0 {
			c.refuse(s.Name, "deploy.resources."+which+".pids", "pod PID limits are node-wide")
		}
		if len(res.Devices) > 0 {
			c.refuse(s.Name, "deploy.resources."+which+".devices", "devices need a device plugin")
		}
		if len(res.GenericResources) > 0 {
			c.refuse(s.Name, "deploy.resources."+which+".generic_resources", "Swarm generic resources")
		}
	}
	apply(s.Deploy.Resources.Limits, &r.Limits, "limits")
	apply(s.Deploy.Resources.Reservations, &r.Requests, "reservations")
	return r
}

func (c *converter) securityContext(s types.ServiceConfig) *corev1.SecurityContext {
	sc := &corev1.SecurityContext{}
	if s.User != "" {
		u, g, hasGroup := strings.Cut(s.User, ":")
		uid, err := strconv.ParseInt(u, 10, 64)
		if err != nil {
			c.refuse(s.Name, "user", "user %q: Kubernetes needs a numeric uid (runAsUser)", s.User)
		} else {
			sc.RunAsUser = ptr(uid)
		}
		if hasGroup {
			gid, err := strconv.ParseInt(g, 10, 64)
			if err != nil {
				c.refuse(s.Name, "user", "group %q: Kubernetes needs a numeric gid (runAsGroup)", g)
			} else {
				sc.RunAsGroup = ptr(gid)
			}
		}
	}
	if s.ReadOnly {
		sc.ReadOnlyRootFilesystem = ptr(true)
	}
	if len(s.CapAdd) > 0 || len(s.CapDrop) > 0 {
		sc.Capabilities = &corev1.Capabilities{}
		for _, cp := range s.CapAdd {
			sc.Capabilities.Add = append(sc.Capabilities.Add, corev1.Capability(strings.TrimPrefix(strings.ToUpper(cp), "CAP_")))
		}
		for _, cp := range s.CapDrop {
			sc.Capabilities.Drop = append(sc.Capabilities.Drop, corev1.Capability(strings.TrimPrefix(strings.ToUpper(cp), "CAP_")))
		}
	}
	for _, o := range s.SecurityOpt {
		switch o {
		case "no-new-privileges", "no-new-privileges:true", "no-new-privileges=true":
			sc.AllowPrivilegeEscalation = ptr(false)
		default:
			c.refuse(s.Name, "security_opt", "%s has no securityContext form", o)
		}
	}
	if s.Privileged {
		c.refuse(s.Name, "privileged", "privileged containers are refused; with --allow-lossy the container runs unprivileged")
	}
	if *sc == (corev1.SecurityContext{}) {
		return nil
	}
	return sc
}

func (c *converter) lifecycle(s types.ServiceConfig) *corev1.Lifecycle {
	hook := func(key string, hs []types.ServiceHook) *corev1.LifecycleHandler {
		if len(hs) == 0 {
			return nil
		}
		if len(hs) > 1 {
			c.refuse(s.Name, key, "only one hook per event")
		}
		h := hs[0]
		if h.User != "" || h.Privileged || len(h.Environment) > 0 || h.WorkingDir != "" {
			c.refuse(s.Name, key, "user, privileged, environment and working_dir of hooks have no form")
		}
		return &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: h.Command}}
	}
	l := &corev1.Lifecycle{PostStart: hook("post_start", s.PostStart), PreStop: hook("pre_stop", s.PreStop)}
	if l.PostStart == nil && l.PreStop == nil {
		return nil
	}
	return l
}

func (c *converter) hostAliases(s types.ServiceConfig) []corev1.HostAlias {
	byIP := map[string][]string{}
	for _, host := range slices.Sorted(maps.Keys(s.ExtraHosts)) {
		for _, ip := range s.ExtraHosts[host] {
			if ip == "host-gateway" {
				c.refuse(s.Name, "extra_hosts", "%s=host-gateway: pods have no Docker host gateway", host)
				continue
			}
			byIP[ip] = append(byIP[ip], host)
		}
	}
	var out []corev1.HostAlias
	for _, ip := range slices.Sorted(maps.Keys(byIP)) {
		out = append(out, corev1.HostAlias{IP: ip, Hostnames: byIP[ip]})
	}
	return out
}

// waits are init containers that hold the pod until each dependency's
// headless Service resolves, which it does only for ready pods.
func (c *converter) waits(s types.ServiceConfig) []corev1.Container {
	var out []corev1.Container
	for _, dep := range slices.Sorted(maps.Keys(s.DependsOn)) {
		d := s.DependsOn[dep]
		switch d.Condition {
		case "", types.ServiceConditionStarted, types.ServiceConditionHealthy:
		default:
			c.refuse(s.Name, "depends_on", "%s condition %s: a pod cannot wait for another to complete", dep, d.Condition)
			continue
		}
		host := dnsLabel(dep)
		script := fmt.Sprintf(`until nslookup "%s.$NAMESPACE.svc.cluster.local" >/dev/null 2>&1; do echo "waiting for %s"; sleep 2; done`, host, host)
		out = append(out, c.toolContainer("wait-for-"+host, []string{"sh", "-c", script}))
	}
	for _, l := range s.Links {
		svc, alias, ok := strings.Cut(l, ":")
		if ok && alias != svc {
			c.refuse(s.Name, "links", "link alias %s for %s: use the service name", alias, svc)
		}
	}
	return out
}

// toolContainer runs the tool image unprivileged with the namespace in
// NAMESPACE.
func (c *converter) toolContainer(name string, cmd []string) corev1.Container {
	return corev1.Container{
		Name:    name,
		Image:   c.o.ToolImage,
		Command: cmd,
		Env: []corev1.EnvVar{{Name: "NAMESPACE", ValueFrom: &corev1.EnvVarSource{
			FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}}}},
		SecurityContext: &corev1.SecurityContext{
			RunAsUser:                ptr(int64(65534)),
			RunAsNonRoot:             ptr(true),
			ReadOnlyRootFilesystem:   ptr(true),
			AllowPrivilegeEscalation: ptr(false),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		},
	}
}

// mounts adds the volumes, secrets, configs and tmpfs of a service.
func (c *converter) mounts(s types.ServiceConfig, ctr *corev1.Container, parts *podParts) {
	vols := &parts.spec.Volumes
	files := map[string]string{} // key -> content of bind-mounted files
	for i, v := range s.Volumes {
		m := corev1.VolumeMount{MountPath: v.Target, ReadOnly: v.ReadOnly}
		if v.Volume != nil && v.Volume.Subpath != "" {
			m.SubPath = v.Volume.Subpath
		}
		switch v.Type {
		case types.VolumeTypeVolume:
			if v.Source == "" {
				m.Name = fmt.Sprintf("anon-%d", i)
				*vols = append(*vols, corev1.Volume{Name: m.Name, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
				c.refuse(s.Name, "volumes", "anonymous volume at %s: its data would be lost with the pod; name the volume", v.Target)
				break
			}
			m.Name = "vol-" + dnsLabel(v.Source)
			pl := c.plan(v.Source)
			switch pl.kind {
			case volEmptyDir:
				*vols = append(*vols, corev1.Volume{Name: m.Name, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
			case volTemplate:
				m.Name = pl.claim
				parts.templates = append(parts.templates, corev1.PersistentVolumeClaim{
					ObjectMeta: metav1.ObjectMeta{Name: pl.claim, Labels: c.volumeLabels(v.Source)},
					Spec:       c.claimSpec(),
				})
			default:
				parts.rwo = true
				*vols = append(*vols, corev1.Volume{Name: m.Name, VolumeSource: corev1.VolumeSource{
					PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: pl.claim}}})
			}
		case types.VolumeTypeTmpfs:
			m.Name = fmt.Sprintf("tmpfs-%d", i)
			ed := &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}
			if v.Tmpfs != nil && v.Tmpfs.Size > 0 {
				ed.SizeLimit = resource.NewQuantity(int64(v.Tmpfs.Size), resource.BinarySI)
			}
			*vols = append(*vols, corev1.Volume{Name: m.Name, VolumeSource: corev1.VolumeSource{EmptyDir: ed}})
		case types.VolumeTypeBind:
			if strings.HasSuffix(v.Source, "docker.sock") {
				c.refuse(s.Name, "volumes", "%s: there is no Docker engine in a pod", v.Source)
				continue
			}
			data, err := c.o.ReadFile(v.Source)
			if err != nil {
				c.refuse(s.Name, "volumes", "bind mount %s:%s: only single files become ConfigMaps; put directories in a named volume", v.Source, v.Target)
				continue
			}
			if len(data) > 900*1024 {
				c.refuse(s.Name, "volumes", "bind-mounted file %s is larger than a ConfigMap may be", v.Source)
				continue
			}
			key := configKey(path.Base(v.Source))
			if _, dup := files[key]; dup {
				key = fmt.Sprintf("%d-%s", i, key)
			}
			files[key] = string(data)
			m.Name = "files"
			m.SubPath = key
			m.ReadOnly = true
		default:
			c.refuse(s.Name, "volumes", "volume type %s at %s has no Kubernetes form", v.Type, v.Target)
			continue
		}
		ctr.VolumeMounts = append(ctr.VolumeMounts, m)
	}
	if len(files) > 0 {
		name := c.objName(s.Name, "files")
		cm := &corev1.ConfigMap{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
			ObjectMeta: c.meta(name, c.serviceLabels(s.Name)),
			Data:       files,
		}
		c.add(20, s.Name, cm, "configmap", name)
		*vols = append(*vols, corev1.Volume{Name: "files", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: name}}}})
	}
	for _, t := range s.Tmpfs {
		target, _, _ := strings.Cut(t, ":")
		name := fmt.Sprintf("tmpfs-%s", dnsLabel(strings.ReplaceAll(strings.Trim(target, "/"), "/", "-")))
		*vols = append(*vols, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}})
		ctr.VolumeMounts = append(ctr.VolumeMounts, corev1.VolumeMount{Name: name, MountPath: target})
	}
	if s.ShmSize > 0 {
		*vols = append(*vols, corev1.Volume{Name: "shm", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{
			Medium: corev1.StorageMediumMemory, SizeLimit: resource.NewQuantity(int64(s.ShmSize), resource.BinarySI)}}})
		ctr.VolumeMounts = append(ctr.VolumeMounts, corev1.VolumeMount{Name: "shm", MountPath: "/dev/shm"})
	}
	for _, sec := range s.Secrets {
		target := sec.Target
		if target == "" {
			target = "/run/secrets/" + sec.Source
		} else if !path.IsAbs(target) {
			target = "/run/secrets/" + target
		}
		if sec.UID != "" || sec.GID != "" {
			c.refuse(s.Name, "secrets", "uid/gid of secret %s: use fsGroup", sec.Source)
		}
		vname := "secret-" + dnsLabel(sec.Source)
		src := &corev1.SecretVolumeSource{SecretName: c.secretName(sec.Source), DefaultMode: ptr(int32(0o444))}
		if sec.Mode != nil {
			src.DefaultMode = ptr(int32(*sec.Mode))
		}
		addVolume(vols, corev1.Volume{Name: vname, VolumeSource: corev1.VolumeSource{Secret: src}})
		ctr.VolumeMounts = append(ctr.VolumeMounts, corev1.VolumeMount{Name: vname, MountPath: target, SubPath: secretKey(sec.Source), ReadOnly: true})
	}
	for _, cf := range s.Configs {
		target := cf.Target
		if target == "" {
			target = "/" + cf.Source
		}
		if cf.UID != "" || cf.GID != "" {
			c.refuse(s.Name, "configs", "uid/gid of config %s: use fsGroup", cf.Source)
		}
		vname := "config-" + dnsLabel(cf.Source)
		src := &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: c.configName(cf.Source)}}
		if cf.Mode != nil {
			src.DefaultMode = ptr(int32(*cf.Mode))
		}
		addVolume(vols, corev1.Volume{Name: vname, VolumeSource: corev1.VolumeSource{ConfigMap: src}})
		ctr.VolumeMounts = append(ctr.VolumeMounts, corev1.VolumeMount{Name: vname, MountPath: target, SubPath: configKey(cf.Source), ReadOnly: true})
	}
}

func addVolume(vols *[]corev1.Volume, v corev1.Volume) {
	for _, x := range *vols {
		if x.Name == v.Name {
			return
		}
	}
	*vols = append(*vols, v)
}

var keyChars = regexp.MustCompile(`[^-._a-zA-Z0-9]`)

func configKey(s string) string { return keyChars.ReplaceAllString(s, "_") }

func secretKey(s string) string { return configKey(s) }
