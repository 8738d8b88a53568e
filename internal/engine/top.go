package engine

import (
	"context"
	"fmt"

	"github.com/moby/moby/client"
)

// Processes is the process table of one container, as ps prints it.
type Processes struct {
	Titles []string   `json:"titles"`
	Rows   [][]string `json:"processes"`
}

// Top lists the processes running in a container.
func (e *Engine) Top(ctx context.Context, id string) (Processes, error) {
	res, err := e.api.ContainerTop(ctx, id, client.ContainerTopOptions{})
	if err != nil {
		return Processes{}, fmt.Errorf("list processes of %s: %w", id, mapErr(err))
	}
	return Processes{Titles: res.Titles, Rows: res.Processes}, nil
}

// RestartContainer stops (with the grace period) and starts one container.
func (e *Engine) RestartContainer(ctx context.Context, id string, timeout int) error {
	if _, err := e.api.ContainerRestart(ctx, id, client.ContainerRestartOptions{Timeout: &timeout}); err != nil {
		return fmt.Errorf("restart container %s: %w", id, mapErr(err))
	}
	return nil
}
