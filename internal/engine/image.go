package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/dockerbank/dockerbank/internal/progress"
	"github.com/moby/moby/client"
)

// ImageExists reports whether the engine has an image of that reference.
func (e *Engine) ImageExists(ctx context.Context, ref string) (bool, error) {
	_, err := e.api.ImageInspect(ctx, ref)
	if errdefs.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("inspect image %s: %w", ref, err)
	}
	return true, nil
}

// BuildOptions controls BuildImage.
type BuildOptions struct {
	Tag        string
	Dockerfile string // relative to the context; default Dockerfile
	Args       map[string]string
	Labels     map[string]string
	// Report receives one progress.Build event per build step ("Step
	// 2/5 : RUN ..." in Message); may be nil.
	Report progress.Reporter
}

// BuildImage builds an image from a tar stream of the build context with
// the engine's builder.
func (e *Engine) BuildImage(ctx context.Context, buildContext io.Reader, o BuildOptions) error {
	args := map[string]*string{}
	for k, v := range o.Args {
		args[k] = &v
	}
	res, err := e.api.ImageBuild(ctx, buildContext, client.ImageBuildOptions{
		Tags: []string{o.Tag}, Dockerfile: o.Dockerfile, BuildArgs: args, Labels: o.Labels,
		Remove: true, ForceRemove: true,
	})
	if err != nil {
		return fmt.Errorf("build image %s: %w", o.Tag, err)
	}
	defer res.Body.Close()
	dec := json.NewDecoder(res.Body)
	for {
		var msg struct {
			Stream string `json:"stream"`
			Error  string `json:"error"`
		}
		if err := dec.Decode(&msg); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("build image %s: read progress: %w", o.Tag, err)
		}
		if msg.Error != "" {
			return fmt.Errorf("build image %s: %s", o.Tag, msg.Error)
		}
		if line := strings.TrimSpace(msg.Stream); line != "" && strings.HasPrefix(line, "Step ") {
			progress.Send(o.Report, progress.Event{Phase: progress.Build, Target: o.Tag, Message: line})
		}
	}
}

// RemoveImage removes an image (not forced: an image in use stays).
func (e *Engine) RemoveImage(ctx context.Context, ref string) error {
	if _, err := e.api.ImageRemove(ctx, ref, client.ImageRemoveOptions{PruneChildren: true}); err != nil {
		return fmt.Errorf("remove image %s: %w", ref, mapErr(err))
	}
	return nil
}

// SaveImages streams several images as one `docker save` tarball, each
// layer once however many of the images share it.
func (e *Engine) SaveImages(ctx context.Context, refs []string) (io.ReadCloser, error) {
	res, err := e.api.ImageSave(ctx, refs)
	if err != nil {
		return nil, fmt.Errorf("save images %s: %w", strings.Join(refs, ", "), mapErr(err))
	}
	return res, nil
}

// SaveImage streams an image as a `docker save` tarball.
func (e *Engine) SaveImage(ctx context.Context, ref string) (io.ReadCloser, error) {
	res, err := e.api.ImageSave(ctx, []string{ref})
	if err != nil {
		return nil, fmt.Errorf("save image %s: %w", ref, mapErr(err))
	}
	return res, nil
}
