package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/dockerbank/dockerbank/internal/instance/label"
)

// Container is what the jobs need to know of one container.
type Container struct {
	ID      string            `json:"id"`
	Name    string            `json:"name"`
	Service string            `json:"service"`
	Project string            `json:"project"`
	Image   string            `json:"image"`
	State   string            `json:"state"`  // created, running, paused, exited, ...
	Health  string            `json:"health"` // healthy, unhealthy, starting, or "" without a health check
	Status  string            `json:"status"`
	Labels  map[string]string `json:"labels"`
	Created time.Time         `json:"created"`
	// Replica is the replica number of a container of a service scaled by
	// `dockerbank scale` (compose's container number), 0 otherwise.
	Replica int `json:"replica,omitempty"`
}

// Compose labels read back from containers and volumes.
const (
	LabelProject = "com.docker.compose.project"
	LabelService = "com.docker.compose.service"
	LabelVolume  = "com.docker.compose.volume"
	// LabelNumber is the replica number compose gives each container of a
	// service (1, 2, ...).
	LabelNumber = "com.docker.compose.container-number"
)

// Containers lists the containers (running or not) whose labels match all
// of the given key=value pairs.
func (e *Engine) Containers(ctx context.Context, labels map[string]string) ([]Container, error) {
	f := client.Filters{}
	for k, v := range labels {
		f.Add("label", k+"="+v)
	}
	res, err := e.api.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	out := make([]Container, 0, len(res.Items))
	for _, c := range res.Items {
		name := ""
		if len(c.Names) > 0 {
			name = strings.TrimPrefix(c.Names[0], "/")
		}
		ct := Container{
			ID: c.ID, Name: name, Image: c.Image, State: string(c.State), Status: c.Status,
			Labels: c.Labels, Service: c.Labels[LabelService], Project: c.Labels[LabelProject],
			Created: time.Unix(c.Created, 0),
		}
		if _, scaled := c.Labels[label.Replicas]; scaled {
			ct.Replica, _ = strconv.Atoi(c.Labels[LabelNumber])
		}
		switch {
		case c.Health != nil:
			ct.Health = string(c.Health.Status)
		case e.podman != nil:
			// Podman's list says nothing of health: ask the container.
			if h, err := e.health(ctx, c.ID); err == nil {
				ct.Health = h
			}
		default:
			ct.Health = healthFromStatus(c.Status)
		}
		out = append(out, ct)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// healthFromStatus reads health from the status text, which older engines
// (API 1.41) give instead of a health field: "Up 3 seconds (healthy)".
func healthFromStatus(status string) string {
	for _, h := range []string{"unhealthy", "healthy", "health: starting"} {
		if strings.Contains(status, "("+h+")") {
			return strings.TrimPrefix(h, "health: ")
		}
	}
	return ""
}

// ExecError is a command that ran in a container and exited non-zero.
type ExecError struct {
	Container string
	Cmd       []string
	ExitCode  int
	Stderr    string
}

func (e *ExecError) Error() string {
	msg := strings.TrimSpace(e.Stderr)
	if len(msg) > 500 {
		msg = msg[len(msg)-500:]
	}
	return fmt.Sprintf("exec %q in %s: exit status %d: %s", strings.Join(e.Cmd, " "), e.Container, e.ExitCode, msg)
}

// ExecOptions controls Exec.
type ExecOptions struct {
	User   string
	Env    []string
	Stdin  io.Reader
	Stdout io.Writer
	// Stderr receives the command's standard error; it is also kept (the last
	// 64 KiB) for the ExecError of a failing command.
	Stderr io.Writer
}

// Exec runs cmd in a running container, streaming its output, and returns an
// *ExecError when it exits non-zero.
func (e *Engine) Exec(ctx context.Context, containerID string, cmd []string, o ExecOptions) error {
	created, err := e.api.ExecCreate(ctx, containerID, client.ExecCreateOptions{
		User: o.User, Env: o.Env, Cmd: cmd,
		AttachStdin: o.Stdin != nil, AttachStdout: true, AttachStderr: true,
	})
	if err != nil {
		return fmt.Errorf("exec %q in %s: %w", strings.Join(cmd, " "), containerID, mapErr(err))
	}
	att, err := e.api.ExecAttach(ctx, created.ID, client.ExecAttachOptions{})
	if err != nil {
		return fmt.Errorf("attach exec in %s: %w", containerID, err)
	}
	defer att.Close()
	stdout := o.Stdout
	if stdout == nil {
		stdout = io.Discard
	}
	tail := &tailBuffer{max: 64 << 10}
	var stderr io.Writer = tail
	if o.Stderr != nil {
		stderr = io.MultiWriter(o.Stderr, tail)
	}
	inErr := make(chan error, 1)
	if o.Stdin != nil {
		go func() {
			_, err := io.Copy(att.Conn, o.Stdin)
			if cerr := att.CloseWrite(); err == nil {
				err = cerr
			}
			inErr <- err
		}()
	} else {
		inErr <- nil
	}
	done := make(chan error, 1)
	go func() {
		_, err := stdcopy.StdCopy(stdout, stderr, att.Reader)
		done <- err
	}()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case err = <-done:
	}
	if err != nil {
		return fmt.Errorf("read exec output in %s: %w", containerID, err)
	}
	insp, err := e.api.ExecInspect(ctx, created.ID, client.ExecInspectOptions{})
	// The output can end a moment before the engine records the exit.
	for deadline := time.Now().Add(5 * time.Second); err == nil && insp.Running && time.Now().Before(deadline); {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		insp, err = e.api.ExecInspect(ctx, created.ID, client.ExecInspectOptions{})
	}
	if err != nil {
		return fmt.Errorf("inspect exec in %s: %w", containerID, err)
	}
	if insp.ExitCode != 0 {
		// A command that failed may have stopped reading its input while
		// the caller's reader still blocks (an interactive psql session
		// that exits on an error): its exit is the error, and the input
		// copy ends when the caller closes its reader or att is closed.
		return &ExecError{Container: containerID, Cmd: cmd, ExitCode: insp.ExitCode, Stderr: tail.String()}
	}
	if err := <-inErr; err != nil {
		return fmt.Errorf("write exec input in %s: %w", containerID, err)
	}
	return nil
}

// ExecOutput runs cmd and returns its standard output.
func (e *Engine) ExecOutput(ctx context.Context, containerID string, cmd ...string) (string, error) {
	var out bytes.Buffer
	err := e.Exec(ctx, containerID, cmd, ExecOptions{Stdout: &out})
	return out.String(), err
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	buf []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = t.buf[len(t.buf)-t.max:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.buf) }

// StopContainer stops one container. A swarm task's container is stopped
// by scaling its service to 0, since swarm would replace a stopped task;
// the wait until no task of it runs lasts as long as ctx allows.
func (e *Engine) StopContainer(ctx context.Context, id string, timeout time.Duration) error {
	if svc := e.taskService(ctx, id); svc != "" {
		return e.stopService(ctx, svc)
	}
	secs := int(timeout.Seconds())
	if _, err := e.api.ContainerStop(ctx, id, client.ContainerStopOptions{Timeout: &secs}); err != nil {
		return fmt.Errorf("stop container %s: %w", id, mapErr(err))
	}
	return nil
}

// StartContainer starts one container; for a swarm task's container it
// scales the service back to its replicas before StopContainer and waits,
// as long as ctx allows, until a task of it runs.
func (e *Engine) StartContainer(ctx context.Context, id string) error {
	if svc := e.taskService(ctx, id); svc != "" {
		return e.startService(ctx, svc)
	}
	if _, err := e.api.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		return fmt.Errorf("start container %s: %w", id, mapErr(err))
	}
	return nil
}

// Inspect returns the engine's full description of a container.
func (e *Engine) Inspect(ctx context.Context, id string) (container.InspectResponse, error) {
	res, err := e.api.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return container.InspectResponse{}, fmt.Errorf("inspect container %s: %w", id, mapErr(err))
	}
	return res.Container, nil
}

func mapErr(err error) error {
	if errdefs.IsNotFound(err) {
		return errors.Join(ErrNotFound, err)
	}
	return err
}
