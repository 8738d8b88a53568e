package kube

import (
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/dockerbank/dockerbank/internal/instance/label"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func (c *converter) namespace() {
	ns := &corev1.Namespace{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{Name: c.o.Namespace, Labels: c.instanceLabels()},
	}
	c.add(0, "", ns, "namespace", c.o.Namespace)
}

// serviceNetworks lists the compose networks of a service.
func (c *converter) serviceNetworks(s types.ServiceConfig) []string {
	if s.NetworkMode != "" {
		return nil
	}
	if len(s.Networks) == 0 {
		return []string{"default"}
	}
	return slices.Sorted(maps.Keys(s.Networks))
}

func (c *converter) networkLabels(s types.ServiceConfig) map[string]string {
	l := map[string]string{}
	for _, n := range c.serviceNetworks(s) {
		l[label.NetworkPrefix+dnsLabel(n)] = "true"
	}
	return l
}

// services emits the headless Service that keeps the compose service name
// resolvable (plus one per container_name and network alias), and a Service
// for the published ports.
func (c *converter) services(s types.ServiceConfig) {
	ports := containerPorts(s, c.m.Services[s.Name].Engine)
	var svcPorts []corev1.ServicePort
	for _, p := range ports {
		svcPorts = append(svcPorts, corev1.ServicePort{Name: p.Name, Port: p.ContainerPort, TargetPort: intstr.FromInt32(p.ContainerPort), Protocol: p.Protocol})
	}
	names := []string{s.Name}
	if s.ContainerName != "" && s.ContainerName != s.Name {
		names = append(names, s.ContainerName)
	}
	for _, n := range slices.Sorted(maps.Keys(s.Networks)) {
		nw := s.Networks[n]
		if nw == nil {
			continue
		}
		names = append(names, nw.Aliases...)
		if nw.Ipv4Address != "" || nw.Ipv6Address != "" || len(nw.LinkLocalIPs) > 0 || nw.MacAddress != "" {
			c.refuse(s.Name, "networks", "fixed addresses on network %s: pod networking assigns addresses", n)
		}
		if len(nw.DriverOpts) > 0 || nw.InterfaceName != "" {
			c.refuse(s.Name, "networks", "driver options of network %s: the CNI decides", n)
		}
	}
	if s.NetworkMode != "" {
		c.refuse(s.Name, "network_mode", "network_mode %s: host, none and container namespaces have no safe form", s.NetworkMode)
	}
	seen := map[string]bool{}
	for _, n := range names {
		dn := dnsLabel(n)
		if seen[dn] {
			continue
		}
		seen[dn] = true
		if dn != n {
			c.refuse(s.Name, "networks", "name %q is not a DNS label; other services would have to use %q", n, dn)
		}
		svc := &corev1.Service{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
			ObjectMeta: c.meta(dn, c.serviceLabels(s.Name)),
			Spec: corev1.ServiceSpec{
				ClusterIP: corev1.ClusterIPNone,
				Selector:  c.selector(s.Name),
				Ports:     svcPorts,
			},
		}
		c.add(40, s.Name, svc, "service", dn)
	}
	var published []corev1.ServicePort
	loopback := false
	for _, p := range s.Ports {
		ip := net.ParseIP(p.HostIP)
		switch {
		case p.HostIP == "" || ip.IsUnspecified():
		case ip.IsLoopback():
			// Published for a proxy on the host only: a ClusterIP Service
			// is the same, reachable in the cluster only (an Ingress).
			loopback = true
		default:
			c.refuse(s.Name, "ports", "host_ip %s: a Service cannot bind to one host address", p.HostIP)
		}
		port := int32(p.Target)
		if p.Published != "" {
			n, err := strconv.Atoi(p.Published)
			if err != nil {
				c.refuse(s.Name, "ports", "published range %s: give single ports", p.Published)
				continue
			}
			port = int32(n)
		}
		proto := corev1.ProtocolTCP
		if p.Protocol == "udp" {
			proto = corev1.ProtocolUDP
		}
		published = append(published, corev1.ServicePort{Name: portName(port, proto), Port: port, TargetPort: intstr.FromInt32(int32(p.Target)), Protocol: proto})
	}
	if len(published) == 0 {
		return
	}
	name := c.objName(s.Name, "published")
	svc := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: c.meta(name, c.serviceLabels(s.Name)),
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Selector: c.selector(s.Name), Ports: published},
	}
	svc.Annotations = map[string]string{label.Note: "compose published these ports on the host; expose them with an Ingress, or set type LoadBalancer or NodePort"}
	if loopback {
		svc.Annotations[label.Note] = "compose published these ports on the host's loopback only, for a reverse proxy on the host: keep the Service ClusterIP and expose it through an Ingress"
	}
	c.add(40, s.Name, svc, "service", name)
}

// networkPolicies isolate the instance: no ingress but from pods on a
// shared compose network, and to published ports.
func (c *converter) networkPolicies() {
	inst := map[string]string{LabelInstance: c.o.Instance}
	deny := &networkingv1.NetworkPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: c.meta(c.objName("deny-ingress"), c.instanceLabels()),
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: inst},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
		},
	}
	c.add(5, "", deny, "networkpolicy", deny.Name)
	used := map[string]bool{}
	for _, s := range c.p.Services {
		for _, n := range c.serviceNetworks(s) {
			used[n] = true
		}
	}
	for _, n := range slices.Sorted(maps.Keys(used)) {
		sel := merge(inst, map[string]string{label.NetworkPrefix + dnsLabel(n): "true"})
		np := &networkingv1.NetworkPolicy{
			TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
			ObjectMeta: c.meta(c.objName("net", n), c.instanceLabels()),
			Spec: networkingv1.NetworkPolicySpec{
				PodSelector: metav1.LabelSelector{MatchLabels: sel},
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
				Ingress:     []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: sel}}}}},
			},
		}
		if nw, ok := c.p.Networks[n]; ok && nw.Internal {
			// internal: no traffic leaves the instance, but DNS.
			np.Spec.PolicyTypes = append(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress)
			dns := []networkingv1.NetworkPolicyPort{{Protocol: ptr(corev1.ProtocolUDP), Port: ptr(intstr.FromInt32(53))}, {Protocol: ptr(corev1.ProtocolTCP), Port: ptr(intstr.FromInt32(53))}}
			np.Spec.Egress = []networkingv1.NetworkPolicyEgressRule{
				{To: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: inst}}}},
				{Ports: dns},
			}
		}
		c.add(5, "", np, "networkpolicy", np.Name)
	}
	for _, name := range slices.Sorted(maps.Keys(c.p.Services)) {
		s := c.p.Services[name]
		var ports []networkingv1.NetworkPolicyPort
		for _, p := range s.Ports {
			proto := corev1.ProtocolTCP
			if p.Protocol == "udp" {
				proto = corev1.ProtocolUDP
			}
			ports = append(ports, networkingv1.NetworkPolicyPort{Protocol: ptr(proto), Port: ptr(intstr.FromInt32(int32(p.Target)))})
		}
		if len(ports) == 0 {
			continue
		}
		np := &networkingv1.NetworkPolicy{
			TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
			ObjectMeta: c.meta(c.objName(name, "published"), c.serviceLabels(name)),
			Spec: networkingv1.NetworkPolicySpec{
				PodSelector: metav1.LabelSelector{MatchLabels: c.selector(name)},
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
				Ingress:     []networkingv1.NetworkPolicyIngressRule{{Ports: ports}},
			},
		}
		c.add(5, name, np, "networkpolicy", np.Name)
	}
}

// sharedServices points the names of services a shared server provides at
// that server (a Service of type ExternalName): the application connects to
// the same name as on the Docker host. The server is exported on its own.
func (c *converter) sharedServices() {
	for _, sh := range c.o.Shared {
		name := dnsLabel(sh.Service)
		if sh.Host == "" {
			sh.Host = dnsLabel(sh.ServerService) + "." + dnsLabel(sh.Server) + ".svc.cluster.local"
		}
		svc := &corev1.Service{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
			ObjectMeta: c.meta(name, c.instanceLabels()),
			Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: sh.Host},
		}
		svc.Annotations = map[string]string{label.Note: fmt.Sprintf(
			"%s is the shared server %s (export it with `dockerbank export k8s %s`); the database and role %s must exist there before this instance starts: dockerbank created them on the Docker host only, and its backups of them stay there",
			sh.Service, sh.Server, sh.Server, sh.Database)}
		c.add(40, sh.Service, svc, "service", name)
		c.notes = append(c.notes, fmt.Sprintf("%s: an ExternalName Service for the shared server %s (%s); create database and role %s there", sh.Service, sh.Server, sh.Host, sh.Database))
	}
}
