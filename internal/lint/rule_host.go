package lint

import (
	"fmt"
	"path"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v4"
)

func checkPrivileged(p *project) []Finding {
	var out []Finding
	for _, s := range p.services() {
		if s.Privileged {
			out = append(out, Finding{Service: s.Name, Position: p.locate(s.Name, "privileged"),
				Message: "privileged: true gives the container every capability and every host device: a compromise of this service is a compromise of the host"})
		}
		if s.Build != nil && s.Build.Privileged {
			out = append(out, Finding{Service: s.Name, Severity: SeverityMedium, Position: p.locate(s.Name, "build", "privileged"),
				Message: "the build runs privileged"})
		}
	}
	return out
}

var dockerSockets = []string{"/var/run/docker.sock", "/run/docker.sock", "/var/run/containerd/containerd.sock", "/run/containerd/containerd.sock", "/run/podman/podman.sock", "/var/run/podman/podman.sock"}

var sensitiveDirs = []string{"/etc", "/proc", "/sys", "/root", "/boot", "/dev", "/var/run", "/run", "/var/lib/docker", "/home", "/usr", "/bin", "/sbin", "/lib", "/var/log"}

func checkHostMounts(p *project) []Finding {
	var out []Finding
	for _, s := range p.services() {
		for _, v := range s.Volumes {
			if v.Type != types.VolumeTypeBind {
				continue
			}
			src := path.Clean(v.Source)
			pos := p.locateItem(s.Name, "volumes", p.volumeMatch(v.Target))
			sock := false
			for _, d := range dockerSockets {
				if src == d {
					sock = true
				}
			}
			switch {
			case sock:
				ro := ""
				if v.ReadOnly {
					ro = " (read-only does not help: the API behind the socket still accepts every call)"
				}
				out = append(out, Finding{Service: s.Name, Severity: SeverityHigh, Position: pos,
					Message: fmt.Sprintf("mounts the container engine socket %s: whoever controls this service controls every container and is root on the host%s", src, ro)})
			case src == "/":
				out = append(out, Finding{Service: s.Name, Severity: SeverityHigh, Position: pos,
					Message: "mounts the host's root filesystem /"})
			default:
				for _, d := range sensitiveDirs {
					if src == d || strings.HasPrefix(src, d+"/") {
						sev, mode := SeverityHigh, "read-write"
						if v.ReadOnly {
							sev, mode = SeverityMedium, "read-only"
						}
						out = append(out, Finding{Service: s.Name, Severity: sev, Position: pos,
							Message: fmt.Sprintf("mounts the sensitive host path %s %s", src, mode)})
						break
					}
				}
			}
		}
	}
	return out
}

func checkHostNamespaces(p *project) []Finding {
	var out []Finding
	for _, s := range p.services() {
		add := func(key, value string, sev Severity, why string) {
			if value == "host" {
				out = append(out, Finding{Service: s.Name, Severity: sev, Position: p.locate(s.Name, key),
					Message: fmt.Sprintf("%s: host %s", key, why)})
			}
		}
		add("network_mode", s.NetworkMode, SeverityHigh, "puts the service on the host network: every port it opens is exposed, and it reaches host-local services")
		add("pid", s.Pid, SeverityHigh, "lets the service see and signal every process on the host")
		add("ipc", s.Ipc, SeverityMedium, "shares the host's IPC namespace (shared memory of host processes)")
		add("uts", s.Uts, SeverityMedium, "shares the host's hostname namespace")
		add("userns_mode", s.UserNSMode, SeverityMedium, "switches off user namespace remapping for this service")
		add("cgroup", s.Cgroup, SeverityMedium, "shares the host's cgroup namespace")
	}
	return out
}

var capSeverity = map[string]Severity{
	"ALL": SeverityHigh, "SYS_ADMIN": SeverityHigh, "SYS_MODULE": SeverityHigh, "SYS_RAWIO": SeverityHigh,
	"SYS_PTRACE": SeverityHigh, "DAC_READ_SEARCH": SeverityHigh, "BPF": SeverityHigh,
	"NET_ADMIN": SeverityMedium, "SYS_BOOT": SeverityMedium, "SYS_TIME": SeverityMedium, "PERFMON": SeverityMedium,
	"LINUX_IMMUTABLE": SeverityMedium, "MAC_ADMIN": SeverityMedium, "MAC_OVERRIDE": SeverityMedium,
	"SYSLOG": SeverityMedium, "SYS_NICE": SeverityLow, "IPC_LOCK": SeverityLow, "LEASE": SeverityLow,
	"WAKE_ALARM": SeverityLow, "BLOCK_SUSPEND": SeverityLow,
}

func checkCapabilities(p *project) []Finding {
	var out []Finding
	for _, s := range p.services() {
		for _, c := range s.CapAdd {
			name := strings.TrimPrefix(upper(c), "CAP_")
			sev, ok := capSeverity[name]
			if !ok {
				continue
			}
			pos := p.locateItem(s.Name, "cap_add", func(n *yaml.Node) bool { return strings.TrimPrefix(upper(n.Value), "CAP_") == name })
			out = append(out, Finding{Service: s.Name, Severity: sev, Position: pos,
				Message: fmt.Sprintf("cap_add %s weakens the container's isolation from the host", name)})
		}
	}
	return out
}

func checkSecurityOpt(p *project) []Finding {
	var out []Finding
	for _, s := range p.services() {
		for _, o := range s.SecurityOpt {
			norm := strings.ReplaceAll(strings.ToLower(o), "=", ":")
			switch norm {
			case "seccomp:unconfined", "apparmor:unconfined", "label:disable", "systempaths:unconfined":
				out = append(out, Finding{Service: s.Name, Position: p.locateItem(s.Name, "security_opt", func(n *yaml.Node) bool { return n.Value == o }),
					Message: fmt.Sprintf("security_opt %s switches off a kernel confinement layer", o)})
			}
		}
	}
	return out
}

func checkDevices(p *project) []Finding {
	var out []Finding
	for _, s := range p.services() {
		for _, d := range s.Devices {
			out = append(out, Finding{Service: s.Name, Position: p.locate(s.Name, "devices"),
				Message: fmt.Sprintf("passes host device %s into the container", d.Source)})
		}
	}
	return out
}

func checkRootUser(p *project) []Finding {
	var out []Finding
	for _, s := range p.services() {
		switch strings.TrimSpace(s.User) {
		case "root", "0", "0:0", "root:root", "0:root", "root:0":
			out = append(out, Finding{Service: s.Name, Position: p.locate(s.Name, "user"),
				Message: fmt.Sprintf("user %q runs the service as root", s.User)})
		}
	}
	return out
}
