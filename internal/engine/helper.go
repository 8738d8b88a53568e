package engine

import (
	"context"
	"fmt"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"
)

// VolumeMount attaches a named volume to a helper container.
type VolumeMount struct {
	Volume   string
	Target   string
	ReadOnly bool
}

// HelperOptions describes a helper container: created, never started, only
// used as an anchor for the archive API on its mounted volumes.
type HelperOptions struct {
	Image  string // a local image, e.g. dockerbank/busybox:1.36
	Name   string // optional container name
	Mounts []VolumeMount
	Labels map[string]string
}

// CreateHelper creates (does not start) a helper container with the
// volumes mounted and logging disabled, and returns its ID. Remove it with
// RemoveContainer.
func (e *Engine) CreateHelper(ctx context.Context, o HelperOptions) (string, error) {
	cmd := []string{"true"}
	if e.podman != nil {
		// CopyFrom runs tar in the helper on Podman (podman.go): it must
		// be able to run, until RemoveContainer.
		cmd = helperSleep
	}
	var mounts []mount.Mount
	for _, m := range o.Mounts {
		mounts = append(mounts, mount.Mount{Type: mount.TypeVolume, Source: m.Volume, Target: m.Target, ReadOnly: m.ReadOnly})
	}
	res, err := e.api.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name: o.Name,
		Config: &container.Config{
			Image: o.Image, Cmd: cmd, Labels: o.Labels,
			NetworkDisabled: true,
		},
		HostConfig: &container.HostConfig{
			Mounts:     mounts,
			LogConfig:  container.LogConfig{Type: "none"},
			AutoRemove: false,
		},
	})
	if err != nil {
		return "", fmt.Errorf("create helper container from %s: %w", o.Image, mapErr(err))
	}
	return res.ID, nil
}

// RemoveContainer removes a container, killing it if it runs, with its
// anonymous volumes (an image's VOLUME; named volumes stay), like
// `docker rm -fv`.
func (e *Engine) RemoveContainer(ctx context.Context, id string) error {
	if _, err := e.api.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
		return fmt.Errorf("remove container %s: %w", id, mapErr(err))
	}
	return nil
}

// PauseContainer freezes the processes of a running container.
func (e *Engine) PauseContainer(ctx context.Context, id string) error {
	if _, err := e.api.ContainerPause(ctx, id, client.ContainerPauseOptions{}); err != nil {
		return fmt.Errorf("pause container %s: %w", id, mapErr(err))
	}
	return nil
}

// UnpauseContainer thaws a paused container.
func (e *Engine) UnpauseContainer(ctx context.Context, id string) error {
	if _, err := e.api.ContainerUnpause(ctx, id, client.ContainerUnpauseOptions{}); err != nil {
		return fmt.Errorf("unpause container %s: %w", id, mapErr(err))
	}
	return nil
}

// InspectVolume returns one volume (Size and RefCount are -1).
func (e *Engine) InspectVolume(ctx context.Context, name string) (Volume, error) {
	res, err := e.api.VolumeInspect(ctx, name, client.VolumeInspectOptions{})
	if err != nil {
		return Volume{}, fmt.Errorf("inspect volume %s: %w", name, mapErr(err))
	}
	v := res.Volume
	return Volume{Name: v.Name, Labels: v.Labels, Mountpoint: v.Mountpoint, Driver: v.Driver, Options: v.Options, Size: -1, RefCount: -1}, nil
}

// CreateVolume creates a local volume with labels.
func (e *Engine) CreateVolume(ctx context.Context, name string, labels map[string]string) (Volume, error) {
	res, err := e.api.VolumeCreate(ctx, client.VolumeCreateOptions{Name: name, Labels: labels})
	if err != nil {
		return Volume{}, fmt.Errorf("create volume %s: %w", name, mapErr(err))
	}
	v := res.Volume
	return Volume{Name: v.Name, Labels: v.Labels, Mountpoint: v.Mountpoint, Size: -1, RefCount: -1}, nil
}
