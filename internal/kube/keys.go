package kube

import (
	"encoding/json"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// Mode says how a compose key is handled.
type Mode string

const (
	// Kept: the value is used unchanged.
	Kept Mode = "kept"
	// Translated: the key has a faithful Kubernetes form.
	Translated Mode = "translated"
	// Partly: some values are translated, the others refused (see Note).
	Partly Mode = "partly"
	// Platform: Kubernetes does it without a field (or the key only matters
	// to compose's own tooling); nothing is emitted and nothing is lost.
	Platform Mode = "platform"
	// Refused: no faithful form; an error, or a warning with --allow-lossy.
	Refused Mode = "refused"
)

// Key documents the handling of one compose key. The table drives both the
// check of every service (a key not in it, or Refused, is a Problem) and the
// table of docs/kube.md.
type Key struct {
	Key  string // dotted path below the section, e.g. "deploy.resources"
	Mode Mode
	K8s  string // what it becomes, or why not
}

// ServiceKeys is the handling of every key of a compose service.
var ServiceKeys = []Key{
	{"annotations", Translated, "pod template annotations"},
	{"attach", Platform, "only selects which logs `compose up` prints"},
	{"blkio_config", Refused, "no per-pod block I/O weights or throttles"},
	{"build", Partly, "the entry version's pinned image is used; an image built locally by dockerbank must be pushed to a registry the cluster pulls from (noted in README.md). A build without image is refused"},
	{"cap_add", Translated, "container securityContext.capabilities.add"},
	{"cap_drop", Translated, "container securityContext.capabilities.drop"},
	{"cgroup", Refused, "no cgroup namespace choice"},
	{"cgroup_parent", Refused, "the kubelet owns the cgroup tree"},
	{"command", Translated, "container args (compose command replaces the image CMD)"},
	{"configs", Translated, "ConfigMap mounted at the target path (subPath)"},
	{"container_name", Translated, "an extra headless Service of that name, so the DNS name keeps working; pod names stay generated"},
	{"cpu_count", Refused, "Windows only"},
	{"cpu_percent", Refused, "Windows only"},
	{"cpu_period", Refused, "CFS period is node-wide"},
	{"cpu_quota", Refused, "use deploy.resources.limits.cpus"},
	{"cpu_rt_period", Refused, "no real-time scheduling"},
	{"cpu_rt_runtime", Refused, "no real-time scheduling"},
	{"cpu_shares", Refused, "relative weights have no form; use deploy.resources.reservations.cpus"},
	{"cpus", Translated, "resources.limits.cpu"},
	{"cpuset", Refused, "CPU pinning is the kubelet's CPU manager policy"},
	{"credential_spec", Refused, "Windows only"},
	{"depends_on", Partly, "init container that waits until the dependency's headless Service resolves, which happens only once its pods are ready (service_started, service_healthy); service_completed_successfully is refused"},
	{"deploy.endpoint_mode", Refused, "Swarm only"},
	{"deploy.labels", Translated, "labels of the workload object"},
	{"deploy.mode", Partly, "replicated is a Deployment/StatefulSet; global is refused"},
	{"deploy.placement", Refused, "Swarm constraints have no node labels to match"},
	{"deploy.replicas", Translated, "spec.replicas (Helm value)"},
	{"deploy.resources", Partly, "limits/reservations cpus and memory become resources limits/requests (Helm value); pids, devices and generic_resources are refused"},
	{"deploy.restart_policy", Partly, "condition any is restartPolicy Always; other conditions are refused for long-running services"},
	{"deploy.rollback_config", Refused, "Swarm only; use `kubectl rollout undo`"},
	{"deploy.update_config", Refused, "Swarm only; Deployment strategy differs"},
	{"develop", Platform, "compose watch only"},
	{"device_cgroup_rules", Refused, "no device access in pods without a device plugin"},
	{"devices", Refused, "needs a device plugin"},
	{"dns", Refused, "would replace cluster DNS and break service names"},
	{"dns_opt", Translated, "dnsConfig.options"},
	{"dns_search", Translated, "dnsConfig.searches"},
	{"dockerfile", Refused, "legacy build key"},
	{"domainname", Refused, "pod subdomain is tied to a headless Service"},
	{"entrypoint", Translated, "container command"},
	{"env_file", Translated, "read by the compose loader into environment (then as environment)"},
	{"environment", Partly, "container env; variables named like secrets (PASSWORD, SECRET, TOKEN, KEY) go to a Secret and secretKeyRef; a variable without value (taken from the shell) is refused"},
	{"expose", Translated, "containerPort and a port of the headless Service"},
	{"extends", Platform, "resolved by the compose loader"},
	{"external_links", Refused, "containers outside the project"},
	{"extra_hosts", Partly, "hostAliases for IP addresses; host-gateway is refused"},
	{"gpus", Refused, "needs a device plugin"},
	{"group_add", Partly, "securityContext.supplementalGroups for numeric groups; names are refused"},
	{"healthcheck", Translated, "startupProbe (start_period) and readinessProbe: CMD/CMD-SHELL become exec, interval/timeout/retries become periodSeconds/timeoutSeconds/failureThreshold. No livenessProbe: compose does not restart unhealthy containers either"},
	{"hostname", Translated, "pod hostname"},
	{"image", Kept, "container image (Helm value)"},
	{"init", Refused, "no init process injection; use an image with tini"},
	{"ipc", Refused, "host or shared IPC namespaces"},
	{"isolation", Refused, "Windows only"},
	{"label_file", Translated, "read by the compose loader into labels"},
	{"labels", Translated, "labels of the workload and pods when valid Kubernetes labels, otherwise annotations; com.docker.compose.* are dropped"},
	{"links", Partly, "service names resolve through headless Services; link aliases are refused"},
	{"log_driver", Partly, "json-file/local: the kubelet rotates container logs; other drivers are refused"},
	{"log_opt", Platform, "rotation is the kubelet's containerLogMaxSize/MaxFiles"},
	{"logging", Partly, "json-file/local: the kubelet rotates container logs; other drivers (gelf, syslog, fluentd...) are refused"},
	{"mac_address", Refused, "pod networking assigns addresses"},
	{"mem_limit", Translated, "resources.limits.memory"},
	{"mem_reservation", Translated, "resources.requests.memory"},
	{"mem_swappiness", Refused, "swap is node-wide"},
	{"memswap_limit", Refused, "swap is node-wide"},
	{"models", Refused, "compose AI models"},
	{"net", Refused, "legacy network_mode"},
	{"network_mode", Refused, "host, none and container: namespaces have no safe form"},
	{"networks", Partly, "each network becomes a NetworkPolicy among the pods on it; aliases become headless Services; fixed addresses and driver options are refused"},
	{"oom_kill_disable", Refused, "the kubelet handles OOM"},
	{"oom_score_adj", Refused, "derived from the QoS class"},
	{"pid", Refused, "host or shared PID namespaces"},
	{"pids_limit", Refused, "pod PID limits are node-wide"},
	{"platform", Translated, "nodeSelector kubernetes.io/os and kubernetes.io/arch"},
	{"ports", Partly, "containerPort and a ClusterIP Service INSTANCE-SERVICE-published (port = published, targetPort = target) with a NetworkPolicy open to it; host_ip 127.0.0.1 (for a proxy on the host) stays ClusterIP, reachable in the cluster only, to put an Ingress in front; other host_ip addresses and published ranges are refused"},
	{"post_start", Partly, "lifecycle.postStart exec (command only)"},
	{"pre_start", Refused, "no hook before start; use an init container"},
	{"pre_stop", Partly, "lifecycle.preStop exec (command only)"},
	{"privileged", Refused, "refused; with --allow-lossy the container runs unprivileged"},
	{"profiles", Platform, "applied by the compose loader"},
	{"provider", Refused, "compose provider services"},
	{"pull_policy", Translated, "imagePullPolicy (always, never, missing/if_not_present; build is IfNotPresent)"},
	{"pull_refresh_after", Refused, "no periodic re-pull"},
	{"read_only", Translated, "securityContext.readOnlyRootFilesystem"},
	{"restart", Partly, "always/unless-stopped: restartPolicy Always; no/on-failure are refused for long-running services"},
	{"runtime", Refused, "use a RuntimeClass"},
	{"scale", Translated, "spec.replicas"},
	{"secrets", Partly, "Secret volume with the key mounted at the target; uid/gid are refused"},
	{"security_opt", Partly, "no-new-privileges becomes allowPrivilegeEscalation false; seccomp/apparmor/label options are refused"},
	{"shm_size", Translated, "memory emptyDir at /dev/shm with that sizeLimit"},
	{"stdin_open", Translated, "container stdin"},
	{"stop_grace_period", Translated, "terminationGracePeriodSeconds"},
	{"stop_signal", Refused, "lifecycle.stopSignal is alpha (ContainerStopSignals)"},
	{"storage_opt", Refused, "no per-container storage driver options"},
	{"sysctls", Translated, "pod securityContext.sysctls (unsafe ones need the kubelet's allowlist)"},
	{"tmpfs", Translated, "memory emptyDir"},
	{"tty", Translated, "container tty"},
	{"ulimits", Refused, "limits are the node's"},
	{"umask", Refused, "no umask field"},
	{"use_api_socket", Refused, "no Docker engine in the cluster"},
	{"user", Partly, "runAsUser/runAsGroup when numeric; names are refused (Kubernetes needs numbers)"},
	{"userns_mode", Refused, "hostUsers is a different model"},
	{"uts", Refused, "host UTS namespace"},
	{"volume_driver", Refused, "use a StorageClass"},
	{"volumes", Partly, "named volumes: PersistentVolumeClaims (volumeClaimTemplates for a database's own volumes), emptyDir for class temp/cache; bind-mounted files: ConfigMap; bind-mounted directories and the Docker socket are refused"},
	{"volumes_from", Refused, "share a volume by name instead"},
	{"working_dir", Translated, "container workingDir"},
}

// TopKeys is the handling of the other sections' keys, prefixed with the
// section: "volumes.driver", "networks.ipam", ...
var TopKeys = []Key{
	{"name", Translated, "app.kubernetes.io/instance and the namespace default"},
	{"include", Platform, "resolved by the compose loader"},
	{"version", Platform, "obsolete; ignored by compose too"},
	{"models", Refused, "compose AI models"},
	{"configs.content", Translated, "ConfigMap data"},
	{"configs.environment", Translated, "ConfigMap data"},
	{"configs.external", Translated, "reference to an existing ConfigMap of that name"},
	{"configs.file", Translated, "ConfigMap data"},
	{"configs.name", Translated, "ConfigMap name"},
	{"configs.labels", Translated, "ConfigMap labels"},
	{"configs.driver", Refused, "config drivers are Swarm plugins"},
	{"configs.template_driver", Refused, "no templated configs"},
	{"networks.attachable", Platform, "every pod can reach the Service"},
	{"networks.driver", Partly, "bridge/overlay: NetworkPolicy; others refused"},
	{"networks.driver_opts", Refused, "CNI decides"},
	{"networks.enable_ipv4", Platform, "IPv4 is the cluster's default family"},
	{"networks.enable_ipv6", Refused, "the cluster's IP families decide"},
	{"networks.external", Refused, "networks outside the project"},
	{"networks.internal", Translated, "NetworkPolicy egress limited to the network's pods and DNS"},
	{"networks.ipam", Refused, "pod networking assigns addresses"},
	{"networks.labels", Platform, "kept on nothing: NetworkPolicy labels are the instance's"},
	{"networks.name", Platform, "the NetworkPolicy is named after the instance and network"},
	{"secrets.environment", Translated, "Secret data (value of an instance with --include-secrets)"},
	{"secrets.external", Translated, "reference to an existing Secret of that name"},
	{"secrets.file", Translated, "Secret data (value of an instance with --include-secrets)"},
	{"secrets.labels", Translated, "Secret labels"},
	{"secrets.driver", Refused, "secret drivers are Swarm plugins"},
	{"secrets.template_driver", Refused, "no templated secrets"},
	{"secrets.name", Platform, "the Secret is named after the instance and secret"},
	{"volumes.driver", Partly, "local: PersistentVolumeClaim of the default StorageClass; others refused"},
	{"volumes.driver_opts", Refused, "bind-style local volumes and NFS options need a PersistentVolume or StorageClass"},
	{"volumes.external", Translated, "reference to an existing PersistentVolumeClaim of that name"},
	{"volumes.labels", Translated, "PersistentVolumeClaim labels"},
	{"volumes.name", Platform, "the claim is named after the instance and volume"},
}

var serviceKeyIndex = func() map[string]Key {
	m := map[string]Key{}
	for _, k := range ServiceKeys {
		m[k.Key] = k
	}
	return m
}()

var topKeyIndex = func() map[string]Key {
	m := map[string]Key{}
	for _, k := range TopKeys {
		m[k.Key] = k
	}
	return m
}()

// LookupKey returns the handling of a compose key path as written in a
// compose file: "services.*.cap_add", "volumes.*.driver", "name".
func LookupKey(path string) (Key, bool) {
	parts := strings.Split(path, ".")
	if strings.HasPrefix(parts[len(parts)-1], "x-") || strings.HasPrefix(parts[0], "x-") {
		return Key{Key: path, Mode: Platform, K8s: "extension; x-dockerbank gives roles, classes, backup methods and generated secrets"}, true
	}
	if parts[0] == "services" && len(parts) >= 3 {
		rest := parts[2:]
		for n := len(rest); n > 0; n-- {
			if k, ok := serviceKeyIndex[strings.Join(rest[:n], ".")]; ok {
				return k, true
			}
		}
		return Key{}, false
	}
	if len(parts) >= 3 {
		if k, ok := topKeyIndex[parts[0]+"."+parts[2]]; ok {
			return k, true
		}
		return Key{}, false
	}
	k, ok := topKeyIndex[parts[0]]
	return k, ok
}

// setKeys returns the keys of v (marshalled as JSON) whose values are set.
func setKeys(v any) map[string]any {
	data, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil
	}
	for k, x := range m {
		if empty(x) {
			delete(m, k)
		}
	}
	return m
}

func empty(x any) bool {
	switch v := x.(type) {
	case nil:
		return true
	case string:
		return v == ""
	case bool:
		return !v
	case float64:
		return v == 0
	case []any:
		return len(v) == 0
	case map[string]any:
		for _, y := range v {
			if !empty(y) {
				return false
			}
		}
		return true
	}
	return false
}

// checkServiceKeys refuses every set key of a service that is Refused or
// unknown. Partly handled keys are checked where they are converted.
func (c *converter) checkServiceKeys(s types.ServiceConfig) {
	keys := setKeys(s)
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if k == "deploy" {
			dep, _ := keys[k].(map[string]any)
			for _, sub := range slices.Sorted(maps.Keys(dep)) {
				if empty(dep[sub]) {
					continue
				}
				c.checkKey(s.Name, "deploy."+sub)
			}
			continue
		}
		c.checkKey(s.Name, k)
	}
}

func (c *converter) checkKey(service, key string) {
	k, ok := serviceKeyIndex[key]
	switch {
	case !ok:
		c.refuse(service, key, "no Kubernetes form known to dockerbank")
	case k.Mode == Refused:
		c.refuse(service, key, "%s", k.K8s)
		c.fromTable[len(c.fromTable)-1] = true
	}
}

// checkTopLevel refuses keys of volumes, networks, secrets and configs.
func (c *converter) checkTopLevel() {
	check := func(section, name string, v any) {
		for _, k := range slices.Sorted(maps.Keys(setKeys(v))) {
			key, ok := topKeyIndex[section+"."+k]
			switch {
			case !ok:
				c.refuse(section+" "+name, k, "no Kubernetes form known to dockerbank")
			case key.Mode == Refused:
				c.refuse(section+" "+name, k, "%s", key.K8s)
			}
		}
	}
	for _, n := range slices.Sorted(maps.Keys(c.p.Volumes)) {
		v := c.p.Volumes[n]
		if v.Driver != "" && v.Driver != "local" {
			c.refuse("volumes "+n, "driver", "driver %s: only local volumes become claims of the default StorageClass", v.Driver)
		}
		v.Driver = ""
		check("volumes", n, v)
	}
	for _, n := range slices.Sorted(maps.Keys(c.p.Networks)) {
		nw := c.p.Networks[n]
		if nw.Driver != "" && nw.Driver != "bridge" && nw.Driver != "overlay" {
			c.refuse("networks "+n, "driver", "driver %s has no NetworkPolicy form", nw.Driver)
		}
		nw.Driver = ""
		nw.Ipam = types.IPAMConfig{}
		if len(c.p.Networks[n].Ipam.Config) > 0 || c.p.Networks[n].Ipam.Driver != "" {
			c.refuse("networks "+n, "ipam", "pod networking assigns addresses")
		}
		check("networks", n, nw)
	}
	for _, n := range slices.Sorted(maps.Keys(c.p.Secrets)) {
		check("secrets", n, c.p.Secrets[n])
	}
	for _, n := range slices.Sorted(maps.Keys(c.p.Configs)) {
		check("configs", n, c.p.Configs[n])
	}
	if len(c.p.Models) > 0 {
		c.refuse("project", "models", "compose AI models")
	}
}
