package engine

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"
)

// ProbeOptions describes a throwaway volume, mounted at /probe in a
// throwaway container, that proves a volume driver and its options work on
// the engine before a project relies on them.
type ProbeOptions struct {
	Image      string // a local image with sh, e.g. dockerbank/busybox:1.36
	Driver     string
	DriverOpts map[string]string
	Labels     map[string]string
	// Script runs with sh -c once the volume is mounted; empty only mounts.
	Script string
}

// ProbeError says that a probe volume could not be mounted, or that its
// script failed; Output is what the engine or the script said.
type ProbeError struct {
	Mount    bool // the engine could not mount the volume
	ExitCode int
	Output   string
}

func (e *ProbeError) Error() string {
	if e.Mount {
		return "the engine cannot mount it: " + e.Output
	}
	return fmt.Sprintf("the probe exited %d: %s", e.ExitCode, e.Output)
}

// ProbeVolume creates a volume with the driver and options, mounts it in a
// container that runs the script, and removes both again, whatever
// happened. The check runs on the engine's host, so it holds for remote
// engines too.
func (e *Engine) ProbeVolume(ctx context.Context, o ProbeOptions) (err error) {
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "dockerbank-probe-" + hex.EncodeToString(b[:])
	cleanup := context.WithoutCancel(ctx)
	if _, err := e.api.VolumeCreate(ctx, client.VolumeCreateOptions{Name: name, Driver: o.Driver, DriverOpts: o.DriverOpts, Labels: o.Labels}); err != nil {
		return &ProbeError{Mount: true, Output: mapErr(err).Error()}
	}
	defer func() {
		if _, rerr := e.api.VolumeRemove(cleanup, name, client.VolumeRemoveOptions{Force: true}); rerr != nil && !errors.Is(mapErr(rerr), ErrNotFound) {
			err = errors.Join(err, fmt.Errorf("remove probe volume %s: %w", name, mapErr(rerr)))
		}
	}()
	script := o.Script
	if script == "" {
		script = "true"
	}
	res, err := e.api.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name: name,
		Config: &container.Config{
			Image: o.Image, Entrypoint: []string{"sh", "-c", script}, Labels: o.Labels,
			NetworkDisabled: true,
		},
		HostConfig: &container.HostConfig{
			Mounts: []mount.Mount{{Type: mount.TypeVolume, Source: name, Target: "/probe"}},
		},
	})
	if err != nil {
		return fmt.Errorf("create probe container from %s: %w", o.Image, mapErr(err))
	}
	defer func() {
		if _, rerr := e.api.ContainerRemove(cleanup, res.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); rerr != nil && !errors.Is(mapErr(rerr), ErrNotFound) {
			err = errors.Join(err, fmt.Errorf("remove probe container %s: %w", name, mapErr(rerr)))
		}
	}()
	wait := e.api.ContainerWait(ctx, res.ID, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	if _, err := e.api.ContainerStart(ctx, res.ID, client.ContainerStartOptions{}); err != nil {
		// The engine mounts the volume when the container starts.
		return &ProbeError{Mount: true, Output: mapErr(err).Error()}
	}
	var code int64
	select {
	case r := <-wait.Result:
		code = r.StatusCode
	case err := <-wait.Error:
		return fmt.Errorf("wait for probe container %s: %w", name, mapErr(err))
	}
	if code == 0 {
		return nil
	}
	var out bytes.Buffer
	_ = e.Logs(ctx, res.ID, LogsOptions{}, &out, &out)
	return &ProbeError{ExitCode: int(code), Output: strings.TrimSpace(out.String())}
}

// HostDir is the directory of this machine that holds the volume's files
// whether or not a container mounts it: the mountpoint of a plain local
// volume, the device of a local bind when the engine runs here; empty for
// shares and other drivers, whose files are reached only through a container mounting the
// volume (the mountpoint of an unmounted share is an empty directory).
func (v Volume) HostDir() string {
	if v.Driver != "" && v.Driver != "local" {
		return ""
	}
	if len(v.Options) == 0 {
		return v.Mountpoint
	}
	if v.Options["type"] == "none" && isBind(v.Options["o"]) && v.Mountpoint != "" {
		// The engine keeps the (unmounted) mountpoint of every local
		// volume under its data root: seen here, the engine runs on
		// this machine and the device is its host's directory.
		if st, err := os.Stat(filepath.Dir(v.Mountpoint)); err == nil && st.IsDir() {
			return v.Options["device"]
		}
	}
	return ""
}

func isBind(o string) bool {
	for _, p := range strings.Split(o, ",") {
		if p == "bind" || p == "rbind" {
			return true
		}
	}
	return false
}
