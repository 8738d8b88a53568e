package engine

import (
	"context"
	"fmt"
	"sort"
)

// ImageLabels returns the labels of an image (its config's Labels).
func (e *Engine) ImageLabels(ctx context.Context, ref string) (map[string]string, error) {
	res, err := e.api.ImageInspect(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("inspect image %s: %w", ref, mapErr(err))
	}
	labels := map[string]string{}
	if res.Config != nil {
		for k, v := range res.Config.Labels {
			labels[k] = v
		}
	}
	return labels, nil
}

// ImageVolumes returns the paths an image declares as VOLUME.
func (e *Engine) ImageVolumes(ctx context.Context, ref string) ([]string, error) {
	res, err := e.api.ImageInspect(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("inspect image %s: %w", ref, mapErr(err))
	}
	var out []string
	if res.Config != nil {
		for p := range res.Config.Volumes {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out, nil
}
