package engine

import (
	"context"
	"fmt"

	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
)

// EnsureNetwork creates an internal bridge network with the labels unless
// one of that name exists.
func (e *Engine) EnsureNetwork(ctx context.Context, name string, labels map[string]string) error {
	res, err := e.api.NetworkList(ctx, client.NetworkListOptions{Filters: client.Filters{}.Add("name", name)})
	if err != nil {
		return fmt.Errorf("list networks: %w", err)
	}
	for _, n := range res.Items {
		if n.Name == name {
			return nil
		}
	}
	if _, err := e.api.NetworkCreate(ctx, name, client.NetworkCreateOptions{Driver: "bridge", Internal: true, Labels: labels}); err != nil {
		return fmt.Errorf("create network %s: %w", name, err)
	}
	return nil
}

// ConnectNetwork connects a container to a network under the aliases,
// unless it is connected already.
func (e *Engine) ConnectNetwork(ctx context.Context, name, containerID string, aliases []string) error {
	insp, err := e.api.NetworkInspect(ctx, name, client.NetworkInspectOptions{})
	if err != nil {
		return fmt.Errorf("inspect network %s: %w", name, mapErr(err))
	}
	if _, ok := insp.Network.Containers[containerID]; ok {
		return nil
	}
	_, err = e.api.NetworkConnect(ctx, name, client.NetworkConnectOptions{Container: containerID,
		EndpointConfig: &network.EndpointSettings{Aliases: aliases}})
	if err != nil {
		return fmt.Errorf("connect container %s to network %s: %w", shortID(containerID), name, mapErr(err))
	}
	return nil
}

// RemoveNetwork disconnects every container from a network and removes
// it; a network that does not exist is no error.
func (e *Engine) RemoveNetwork(ctx context.Context, name string) error {
	insp, err := e.api.NetworkInspect(ctx, name, client.NetworkInspectOptions{})
	if err != nil {
		if mapErr(err) != err {
			return nil
		}
		return fmt.Errorf("inspect network %s: %w", name, err)
	}
	for id := range insp.Network.Containers {
		if _, err := e.api.NetworkDisconnect(ctx, name, client.NetworkDisconnectOptions{Container: id, Force: true}); err != nil && mapErr(err) == err {
			return fmt.Errorf("disconnect container %s from network %s: %w", shortID(id), name, err)
		}
	}
	if _, err := e.api.NetworkRemove(ctx, name, client.NetworkRemoveOptions{}); err != nil && mapErr(err) == err {
		return fmt.Errorf("remove network %s: %w", name, err)
	}
	return nil
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
