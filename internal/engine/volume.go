package engine

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/moby/moby/client"
)

// Volume is what the jobs need to know of one volume.
type Volume struct {
	Name       string            `json:"name"`
	Labels     map[string]string `json:"labels"`
	Mountpoint string            `json:"mountpoint"`
	// Driver and Options are how the engine creates and mounts the
	// volume ("local" without options: under the engine's data root).
	Driver  string            `json:"driver"`
	Options map[string]string `json:"options,omitempty"`
	Created time.Time         `json:"created"`
	// Size in bytes, or -1 when the engine did not say.
	Size int64 `json:"size"`
	// RefCount is the number of containers using it, or -1 when unknown.
	RefCount int64 `json:"refCount"`
}

// Volumes lists volumes, with withSize their sizes and reference counts
// (from the engine's disk-usage report, which walks the volumes: call it
// sparingly). Volumes the report leaves out (Docker 20.10 omits local
// volumes with options, e.g. a bind of a host directory) are listed with
// Size and RefCount -1.
func (e *Engine) Volumes(ctx context.Context, withSize bool) ([]Volume, error) {
	usage := map[string]Volume{}
	if withSize {
		du, err := e.api.DiskUsage(ctx, client.DiskUsageOptions{Volumes: true, Verbose: true})
		if err != nil {
			return nil, fmt.Errorf("read volume disk usage: %w", err)
		}
		for _, v := range du.Volumes.Items {
			vol := Volume{Size: -1, RefCount: -1}
			if v.UsageData != nil {
				vol.Size, vol.RefCount = v.UsageData.Size, v.UsageData.RefCount
			}
			usage[v.Name] = vol
		}
	}
	res, err := e.api.VolumeList(ctx, client.VolumeListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list volumes: %w", err)
	}
	out := make([]Volume, 0, len(res.Items))
	for _, v := range res.Items {
		vol := Volume{Name: v.Name, Labels: v.Labels, Mountpoint: v.Mountpoint, Driver: v.Driver, Options: v.Options, Size: -1, RefCount: -1}
		vol.Created, _ = time.Parse(time.RFC3339, v.CreatedAt)
		if u, ok := usage[v.Name]; ok {
			vol.Size, vol.RefCount = u.Size, u.RefCount
		}
		out = append(out, vol)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// RemoveVolume removes a volume. Callers decide whether it may hold user
// data; the engine refuses to remove a volume in use.
func (e *Engine) RemoveVolume(ctx context.Context, name string) error {
	if _, err := e.api.VolumeRemove(ctx, name, client.VolumeRemoveOptions{}); err != nil {
		return fmt.Errorf("remove volume %s: %w", name, mapErr(err))
	}
	return nil
}
