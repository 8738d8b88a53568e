package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// CommitOptions controls CommitContainer.
type CommitOptions struct {
	// Ref tags the new image (repository:tag); empty leaves it untagged.
	Ref string
	// Labels are set on the new image. The engine copies every label of
	// the container into the image and cannot drop one: a label can only
	// be overridden (an empty value is the closest to dropping it).
	Labels  map[string]string
	Comment string
}

// CommitContainer makes an image of a container's file system and
// configuration, with its writable layer as the new top layer, and returns
// the image ID. A running container is paused for the commit only; the
// engine unpauses it itself, also when the commit fails.
func (e *Engine) CommitContainer(ctx context.Context, id string, o CommitOptions) (string, error) {
	// Only the labels are given: the engine fills every field left empty
	// from the container's configuration (command, environment, user, ...).
	res, err := e.api.ContainerCommit(ctx, id, client.ContainerCommitOptions{
		Reference: o.Ref, Comment: o.Comment, Config: &container.Config{Labels: o.Labels},
	})
	if err != nil {
		return "", fmt.Errorf("commit container %s: %w", id, mapErr(err))
	}
	return res.ID, nil
}

// PathExists reports whether a path exists in a container's file system
// (a dangling symlink counts), without running anything in it.
func (e *Engine) PathExists(ctx context.Context, id, path string) (bool, error) {
	_, err := e.api.ContainerStatPath(ctx, id, client.ContainerStatPathOptions{Path: path})
	if err == nil {
		return true, nil
	}
	if err = mapErr(err); errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return false, fmt.Errorf("stat %s in %s: %w", path, id, err)
}
