package engine

import (
	"context"
	"fmt"
	"io"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"
)

// LogsOptions selects the log lines of one container.
type LogsOptions struct {
	Follow     bool
	Since      string // RFC 3339 time, Unix timestamp or Go duration ("10m")
	Tail       string // number of lines from the end, or "all"
	Timestamps bool
}

// Logs streams a container's log (standard output and error separately)
// until the log ends, or, with Follow, until ctx is done or the container
// stops. Containers with a TTY have one stream: it goes to stdout.
func (e *Engine) Logs(ctx context.Context, id string, o LogsOptions, stdout, stderr io.Writer) error {
	insp, err := e.api.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return fmt.Errorf("read logs of %s: %w", id, mapErr(err))
	}
	tty := insp.Container.Config != nil && insp.Container.Config.Tty
	rc, err := e.api.ContainerLogs(ctx, id, client.ContainerLogsOptions{
		ShowStdout: true, ShowStderr: true, Follow: o.Follow, Since: o.Since,
		Tail: o.Tail, Timestamps: o.Timestamps,
	})
	if err != nil {
		return fmt.Errorf("read logs of %s: %w", id, mapErr(err))
	}
	defer rc.Close()
	go func() {
		// The SDK does not close a following stream when ctx ends.
		<-ctx.Done()
		rc.Close()
	}()
	if tty {
		_, err = io.Copy(stdout, rc)
	} else {
		_, err = stdcopy.StdCopy(stdout, stderr, rc)
	}
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("read logs of %s: %w", id, err)
	}
	return nil
}
