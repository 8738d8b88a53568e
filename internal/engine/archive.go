package engine

import (
	"context"
	"fmt"
	"io"

	"github.com/moby/moby/client"
)

// CopyFrom streams a tar archive of path inside a container (running or
// only created) through the engine's archive API: no process runs in the
// container and nothing passes through its log driver. The caller closes
// the stream. A path ending in "/." gives the directory's contents as
// "./" and "./name" members.
//
// On Podman, whose archive API gives every member the owner of the
// container's user instead of its own, it runs tar in the container
// instead (see copyFromPodman).
func (e *Engine) CopyFrom(ctx context.Context, id, path string) (io.ReadCloser, error) {
	if e.podman != nil {
		return e.copyFromPodman(ctx, id, path)
	}
	res, err := e.api.CopyFromContainer(ctx, id, client.CopyFromContainerOptions{SourcePath: path})
	if err != nil {
		return nil, fmt.Errorf("read archive of %s in %s: %w", path, id, mapErr(err))
	}
	return res.Content, nil
}

// CopyTo extracts a tar stream into dir inside a container. Owners in the
// archive are kept (the engine does not remap them to the container user).
func (e *Engine) CopyTo(ctx context.Context, id, dir string, tarStream io.Reader) error {
	_, err := e.api.CopyToContainer(ctx, id, client.CopyToContainerOptions{DestinationPath: dir, Content: tarStream})
	if err != nil {
		return fmt.Errorf("write archive into %s in %s: %w", dir, id, mapErr(err))
	}
	return nil
}
