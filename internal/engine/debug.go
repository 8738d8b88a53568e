package engine

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// DebugOptions describes a throwaway debug container that joins another
// container's namespaces, like `kubectl debug`.
type DebugOptions struct {
	Image  string   // a local image with a shell and tools, e.g. dockerbank/busybox:1.36
	Cmd    []string // the command; the image's default (a shell) when empty
	Target string   // ID of the running container whose PID, network and IPC namespaces it joins
	// IPC joins the target's IPC namespace too; the engine allows that only
	// when the target's IPC mode is shareable (Docker 20.10 makes them
	// private by default).
	IPC     bool
	Labels  map[string]string
	CapAdd  []string
	CapDrop []string
}

// DebugSession creates the debug container, attaches the caller's streams,
// starts it and waits for it to exit, returning its exit code. The container
// is removed before DebugSession returns, whatever happened, also when ctx
// is cancelled (the removal uses a fresh context).
func (e *Engine) DebugSession(ctx context.Context, o DebugOptions, s SessionOptions) (code int, err error) {
	target := "container:" + o.Target
	hc := &container.HostConfig{
		PidMode:     container.PidMode(target),
		NetworkMode: container.NetworkMode(target),
		CapAdd:      o.CapAdd,
		CapDrop:     o.CapDrop,
		LogConfig:   container.LogConfig{Type: "none"},
	}
	if o.IPC {
		hc.IpcMode = container.IpcMode(target)
	}
	cfg := &container.Config{
		Image: o.Image, Cmd: o.Cmd, Labels: o.Labels, Tty: s.TTY,
		AttachStdin: s.Stdin != nil, OpenStdin: s.Stdin != nil, StdinOnce: s.Stdin != nil,
		AttachStdout: true, AttachStderr: true,
	}
	res, err := e.api.ContainerCreate(ctx, client.ContainerCreateOptions{Config: cfg, HostConfig: hc})
	if err != nil {
		return -1, fmt.Errorf("create debug container from %s for %s: %w", o.Image, o.Target, mapErr(err))
	}
	id := res.ID
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if rerr := e.RemoveContainer(rctx, id); rerr != nil && err == nil {
			err = fmt.Errorf("remove debug container: %w", rerr)
		}
	}()
	att, err := e.api.ContainerAttach(ctx, id, client.ContainerAttachOptions{
		Stream: true, Stdin: s.Stdin != nil, Stdout: true, Stderr: true,
	})
	if err != nil {
		return -1, fmt.Errorf("attach to debug container %s: %w", id, mapErr(err))
	}
	defer att.Close()
	// Wait for the next exit before starting, so a short command's exit
	// is not missed.
	wait := e.api.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	if _, err := e.api.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		return -1, fmt.Errorf("start debug container for %s (%s): %w", o.Target, strings.Join(o.Cmd, " "), mapErr(err))
	}
	if s.TTY {
		resize := func(w, h uint) {
			if w > 0 && h > 0 {
				e.api.ContainerResize(ctx, id, client.ContainerResizeOptions{Width: w, Height: h})
			}
		}
		resize(s.Width, s.Height)
		go forwardResize(ctx, s.Resize, resize)
	}
	if err := pump(ctx, att.HijackedResponse, s); err != nil {
		return -1, fmt.Errorf("debug session in %s: %w", id, err)
	}
	select {
	case <-ctx.Done():
		return -1, ctx.Err()
	case err := <-wait.Error:
		return -1, fmt.Errorf("wait for debug container %s: %w", id, err)
	case r := <-wait.Result:
		if r.Error != nil && r.Error.Message != "" {
			return -1, fmt.Errorf("debug container %s: %s", id, r.Error.Message)
		}
		return int(r.StatusCode), nil
	}
}
