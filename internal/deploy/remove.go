package deploy

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/dockerbank/dockerbank/internal/engine"
	"github.com/dockerbank/dockerbank/internal/instance/label"
)

// ErrNotConfirmed means the user did not confirm a destructive operation.
var ErrNotConfirmed = errors.New("not confirmed")

// RemoveOptions controls Remove.
type RemoveOptions struct {
	// PurgeData also removes the instance's volumes, userdata included.
	PurgeData bool
	// Confirm is what the user typed when asked for the instance name;
	// PurgeData needs it to equal the name.
	Confirm string
	// Force purges data without a fresh backup.
	Force bool
}

// RemoveResult says what Remove did.
type RemoveResult struct {
	KeptVolumes    []string `json:"keptVolumes"`
	RemovedVolumes []string `json:"removedVolumes"`
	RecordMovedTo  string   `json:"recordMovedTo"`
}

// Remove takes an instance off the engine and out of the site. Its volumes
// stay (see Volumes with orphaned) unless PurgeData is confirmed; its record
// and secrets move to the site's removed/ directory.
func (m *Manager) Remove(ctx context.Context, name string, o RemoveOptions) (*RemoveResult, error) {
	res := &RemoveResult{}
	err := m.locked(ctx, func() error {
		in, err := m.Site.Instance(name)
		if err != nil {
			return err
		}
		if o.PurgeData {
			if o.Confirm != name {
				return fmt.Errorf("%w: purging the data of %s needs its name typed exactly; nothing was removed", ErrNotConfirmed, name)
			}
			if !o.Force && !fresh(in) {
				return fmt.Errorf("%w of %s since its last change: run `dockerbank backup %s` first, or pass --force to delete its data without one; nothing was removed",
					ErrNoFreshBackup, name, name)
			}
		}
		if err := m.journal(name, "started", fmt.Sprintf("rm (purge data: %v)", o.PurgeData)); err != nil {
			return err
		}
		m.step("remove containers and networks of %s", name)
		if m.IsSwarm(name) {
			if err := m.Engine.StackRemove(ctx, name); err != nil {
				return m.finish(name, err, "")
			}
		}
		if err := m.Engine.Down(ctx, name, m.stopTimeout()); err != nil {
			return m.finish(name, err, "")
		}
		vols, err := m.Engine.Volumes(ctx, false)
		if err != nil {
			return m.finish(name, err, "")
		}
		var errs []error
		for _, v := range vols {
			if v.Labels[label.Instance] != name || v.Labels[engine.LabelProject] != name {
				continue
			}
			if !o.PurgeData {
				res.KeptVolumes = append(res.KeptVolumes, v.Name)
				continue
			}
			m.step("remove volume %s (%s)", v.Name, v.Labels[label.Class])
			if err := m.Engine.RemoveVolume(ctx, v.Name); err != nil {
				errs = append(errs, err)
				continue
			}
			res.RemovedVolumes = append(res.RemovedVolumes, v.Name)
		}
		if err := errors.Join(errs...); err != nil {
			return m.finish(name, err, "")
		}
		res.RecordMovedTo, err = m.Site.Remove(name, m.now())
		detail := "removed; kept volumes: " + strings.Join(res.KeptVolumes, ", ")
		if o.PurgeData {
			detail = "removed with data; removed volumes: " + strings.Join(res.RemovedVolumes, ", ")
		}
		return m.finish(name, err, detail)
	})
	return res, err
}
