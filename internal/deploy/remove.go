package deploy

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/dockerbank/dockerbank/internal/engine"
	"github.com/dockerbank/dockerbank/internal/instance/label"
	"github.com/dockerbank/dockerbank/internal/site"
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
	// KeptDatabases and DroppedDatabases are the instance's databases in
	// shared servers (server/database).
	KeptDatabases    []string `json:"keptDatabases,omitempty"`
	DroppedDatabases []string `json:"droppedDatabases,omitempty"`
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
		all, err := m.Site.Instances()
		if err != nil {
			return err
		}
		if users := site.UsersOf(all, name); len(users) > 0 {
			return fmt.Errorf("%w: %s is used by %s; remove those first (`dockerbank rm %s`); nothing was removed",
				ErrInUse, name, strings.Join(users, ", "), strings.Join(users, "`, `dockerbank rm "))
		}
		tenants, err := m.tenants(in)
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
			if err := m.stackRemove(ctx, name); err != nil {
				return m.finish(name, err, "")
			}
		}
		if err := m.Engine.Down(ctx, name, m.stopTimeout()); err != nil {
			return m.finish(name, err, "")
		}
		if len(tenants) > 0 {
			if n, err := m.networks(); err == nil {
				if err := n.RemoveNetwork(ctx, LinkNetwork(name)); err != nil {
					return m.finish(name, err, "")
				}
			}
		}
		for _, t := range tenants {
			if !o.PurgeData {
				res.KeptDatabases = append(res.KeptDatabases, t.Server+"/"+t.Database)
				continue
			}
			if err := m.dropTenant(ctx, t); err != nil {
				return m.finish(name, err, "")
			}
			res.DroppedDatabases = append(res.DroppedDatabases, t.Server+"/"+t.Database)
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
