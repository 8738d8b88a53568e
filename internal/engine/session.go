package engine

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"
)

// SessionOptions controls an interactive exec or attach.
type SessionOptions struct {
	TTY    bool // allocate (exec) or expect (attach) a terminal; output is then one stream
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Width and Height are the initial terminal size (TTY only).
	Width, Height uint
	// Resize delivers later terminal sizes as [width, height] (TTY only).
	Resize <-chan [2]uint
}

// ExecSession runs cmd in a running container with the caller's streams,
// optionally on a terminal, and returns the command's exit code.
func (e *Engine) ExecSession(ctx context.Context, id string, cmd []string, o SessionOptions) (int, error) {
	created, err := e.api.ExecCreate(ctx, id, client.ExecCreateOptions{
		Cmd: cmd, TTY: o.TTY, AttachStdin: o.Stdin != nil, AttachStdout: true, AttachStderr: true,
	})
	if err != nil {
		return -1, fmt.Errorf("exec %q in %s: %w", strings.Join(cmd, " "), id, mapErr(err))
	}
	att, err := e.api.ExecAttach(ctx, created.ID, client.ExecAttachOptions{TTY: o.TTY})
	if err != nil {
		return -1, fmt.Errorf("attach exec in %s: %w", id, err)
	}
	defer att.Close()
	if o.TTY {
		resize := func(w, h uint) {
			if w > 0 && h > 0 {
				e.api.ExecResize(ctx, created.ID, client.ExecResizeOptions{Width: w, Height: h})
			}
		}
		resize(o.Width, o.Height)
		go forwardResize(ctx, o.Resize, resize)
	}
	if err := pump(ctx, att.HijackedResponse, o); err != nil {
		return -1, fmt.Errorf("exec in %s: %w", id, err)
	}
	insp, err := e.api.ExecInspect(ctx, created.ID, client.ExecInspectOptions{})
	if err != nil {
		return -1, fmt.Errorf("inspect exec in %s: %w", id, err)
	}
	return insp.ExitCode, nil
}

// AttachSession connects the caller's streams to a running container's main
// process, until it exits or ctx ends (detach).
func (e *Engine) AttachSession(ctx context.Context, id string, o SessionOptions) error {
	insp, err := e.api.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return fmt.Errorf("attach to %s: %w", id, mapErr(err))
	}
	c := insp.Container
	o.TTY = c.Config != nil && c.Config.Tty
	if c.Config == nil || !c.Config.OpenStdin {
		o.Stdin = nil
	}
	att, err := e.api.ContainerAttach(ctx, id, client.ContainerAttachOptions{
		Stream: true, Stdin: o.Stdin != nil, Stdout: true, Stderr: true,
	})
	if err != nil {
		return fmt.Errorf("attach to %s: %w", id, mapErr(err))
	}
	defer att.Close()
	if o.TTY {
		resize := func(w, h uint) {
			if w > 0 && h > 0 {
				e.api.ContainerResize(ctx, id, client.ContainerResizeOptions{Width: w, Height: h})
			}
		}
		resize(o.Width, o.Height)
		go forwardResize(ctx, o.Resize, resize)
	}
	if err := pump(ctx, att.HijackedResponse, o); err != nil {
		return fmt.Errorf("attach to %s: %w", id, err)
	}
	return nil
}

func forwardResize(ctx context.Context, ch <-chan [2]uint, resize func(w, h uint)) {
	if ch == nil {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case sz, ok := <-ch:
			if !ok {
				return
			}
			resize(sz[0], sz[1])
		}
	}
}

// pump copies stdin to the connection and the connection to stdout/stderr
// until the output ends or ctx is done.
func pump(ctx context.Context, h client.HijackedResponse, o SessionOptions) error {
	stdout, stderr := o.Stdout, o.Stderr
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = stdout
	}
	if o.Stdin != nil {
		go func() {
			io.Copy(h.Conn, o.Stdin)
			h.CloseWrite()
		}()
	}
	done := make(chan error, 1)
	go func() {
		var err error
		if o.TTY {
			_, err = io.Copy(stdout, h.Reader)
		} else {
			_, err = stdcopy.StdCopy(stdout, stderr, h.Reader)
		}
		done <- err
	}()
	select {
	case <-ctx.Done():
		return nil
	case err := <-done:
		return err
	}
}
