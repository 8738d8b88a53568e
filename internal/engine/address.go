package engine

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strconv"
)

// ContainerAddress returns host:port where a container's TCP port answers
// for a client on the engine's host: the container's address on one of its
// networks (the host routes to bridge networks), else a published port.
// Clients on other hosts than the engine's cannot use it.
func (e *Engine) ContainerAddress(ctx context.Context, id string, port int) (string, error) {
	c, err := e.Inspect(ctx, id)
	if err != nil {
		return "", err
	}
	ns := c.NetworkSettings
	if ns == nil {
		return "", fmt.Errorf("container %s has no network settings", id)
	}
	names := make([]string, 0, len(ns.Networks))
	for n := range ns.Networks {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if ep := ns.Networks[n]; ep != nil && ep.IPAddress.IsValid() && !ep.IPAddress.IsUnspecified() {
			return net.JoinHostPort(ep.IPAddress.String(), strconv.Itoa(port)), nil
		}
	}
	for p, binds := range ns.Ports {
		if p.Num() != uint16(port) || p.Proto() != "tcp" {
			continue
		}
		for _, b := range binds {
			host := "127.0.0.1"
			if b.HostIP.IsValid() && !b.HostIP.IsUnspecified() {
				host = b.HostIP.String()
			}
			return net.JoinHostPort(host, b.HostPort), nil
		}
	}
	return "", fmt.Errorf("container %s has no network address and does not publish port %d", id, port)
}
