package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/docker/cli/cli/command"
	"github.com/dockerbank/dockerbank/internal/progress"
	"github.com/moby/moby/client"
)

// PushImage pushes an image to its registry with the credentials of the
// docker CLI configuration, and reports the registry's progress as
// progress.Push events (r may be nil).
func (e *Engine) PushImage(ctx context.Context, ref string, r progress.Reporter) error {
	auth, err := command.RetrieveAuthTokenFromImage(e.cli.ConfigFile(), ref)
	if err != nil {
		return fmt.Errorf("push image %s: read registry credentials: %w", ref, err)
	}
	res, err := e.api.ImagePush(ctx, ref, client.ImagePushOptions{RegistryAuth: auth})
	if err != nil {
		return fmt.Errorf("push image %s: %w", ref, mapErr(err))
	}
	defer res.Close()
	dec := json.NewDecoder(res)
	for {
		var msg struct {
			Status string `json:"status"`
			ID     string `json:"id"`
			Error  string `json:"error"`
		}
		if err := dec.Decode(&msg); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("push image %s: read progress: %w", ref, err)
		}
		if msg.Error != "" {
			return fmt.Errorf("push image %s: %s", ref, msg.Error)
		}
		if msg.Status != "" {
			progress.Send(r, progress.Event{Phase: progress.Push, Target: msg.ID, State: msg.Status})
		}
	}
}
