package engine

import (
	"context"
	"fmt"
)

// Image is what the jobs need to know of one local image.
type Image struct {
	ID          string            `json:"id"`
	RepoTags    []string          `json:"repoTags,omitempty"`
	RepoDigests []string          `json:"repoDigests,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
}

// ImageInfo returns the ID, tags and registry digests of a local image
// (given by reference or ID). An image that was built locally has no
// RepoDigests. The error for a missing image wraps ErrNotFound.
func (e *Engine) ImageInfo(ctx context.Context, ref string) (Image, error) {
	res, err := e.api.ImageInspect(ctx, ref)
	if err != nil {
		return Image{}, fmt.Errorf("inspect image %s: %w", ref, mapErr(err))
	}
	img := Image{ID: res.ID, RepoTags: res.RepoTags, RepoDigests: res.RepoDigests}
	if res.Config != nil {
		img.Labels = res.Config.Labels
	}
	return img, nil
}
