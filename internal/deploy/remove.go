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
	// Throwaway says the instance is a copy dockerbank made (restore
	// staging, drill, a restore that failed): with PurgeData the files of
	// its volumes in host directories (site.yaml storage) are deleted too.
	// Otherwise such files stay, and Remove says where (KeptData).
	Throwaway bool
}

// RemoveResult says what Remove did.
type RemoveResult struct {
	KeptVolumes    []string `json:"keptVolumes"`
	RemovedVolumes []string `json:"removedVolumes"`
	RecordMovedTo  string   `json:"recordMovedTo"`
	// KeptData lists, for volumes removed by PurgeData that lived in a
	// host directory or on a share, where their files stay: removing such
	// a volume never deletes the files (docs/storage.md).
	KeptData []KeptData `json:"keptData,omitempty"`
	// KeptDatabases and DroppedDatabases are the instance's databases in
	// shared servers (server/database).
	KeptDatabases    []string `json:"keptDatabases,omitempty"`
	DroppedDatabases []string `json:"droppedDatabases,omitempty"`
}

// KeptData is where the files of a removed, mapped volume stay.
type KeptData struct {
	Volume string `json:"volume"`
	Where  string `json:"where"`
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
			if o.Throwaway && hostDirOf(in, v.Labels[label.Volume]) != "" {
				continue // deleted below
			}
			if len(v.Options) > 0 || (v.Driver != "" && v.Driver != "local") {
				res.KeptData = append(res.KeptData, KeptData{Volume: v.Name, Where: site.DescribeDriver(v.Driver, v.Options)})
			}
		}
		if err := errors.Join(errs...); err != nil {
			return m.finish(name, err, "")
		}
		if o.PurgeData && o.Throwaway {
			if err := m.deleteHostDirs(ctx, in); err != nil {
				return m.finish(name, err, "")
			}
		}
		res.RecordMovedTo, err = m.Site.Remove(name, m.now())
		detail := "removed; kept volumes: " + strings.Join(res.KeptVolumes, ", ")
		if o.PurgeData {
			detail = "removed with data; removed volumes: " + strings.Join(res.RemovedVolumes, ", ")
			for _, k := range res.KeptData {
				detail += fmt.Sprintf("; files of %s stay in %s", k.Volume, k.Where)
			}
		}
		return m.finish(name, err, detail)
	})
	return res, err
}
