package conformance

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/dockerbank/dockerbank/internal/backup"
	"github.com/dockerbank/dockerbank/internal/bank"
	"github.com/dockerbank/dockerbank/internal/deploy"
	"github.com/dockerbank/dockerbank/internal/engine"
	"github.com/dockerbank/dockerbank/internal/fingerprint"
	"github.com/dockerbank/dockerbank/internal/instance/label"
)

// upgrade deploys the version before the tested one, writes, backs up and
// upgrades it to the tested version, which compares the fingerprint.
func (r *run) upgrade(ctx context.Context, version string) error {
	prev := ""
	for i, v := range r.e.Versions {
		if v.Version == version && i > 0 {
			prev = r.e.Versions[i-1].Version
		}
	}
	if prev == "" {
		r.skip("upgrade", fmt.Sprintf("%s is the oldest version of %s: no upgrade to test", version, r.e.ID))
		return nil
	}
	if why := r.notRunnable(ctx, prev); why != "" {
		r.skip("upgrade", fmt.Sprintf("no upgrade from %s tested: %s", prev, why))
		return nil
	}
	c := r.name("c")
	if err := r.deployAndWrite(ctx, c, prev); err != nil {
		return err
	}
	var group *backup.Manifest
	if err := r.timed("backup "+prev, c, func() (string, error) {
		var err error
		if group, err = r.j.Backup(ctx, c, backup.BackupOptions{}); err != nil {
			return "", err
		}
		return fmt.Sprintf("group %s; fingerprint %s", group.Group, group.Fingerprint.Summary()), nil
	}); err != nil {
		return err
	}
	return r.timed("upgrade "+prev+" -> "+version, c, func() (string, error) {
		if err := r.m.Upgrade(ctx, c, deploy.UpgradeOptions{To: version}); err != nil {
			return "", err
		}
		// The upgrade compared its own before and after; the group taken
		// before it must hold too (without the parts an upgrade rewrites).
		want := &fingerprint.Fingerprint{Format: group.Fingerprint.Format, Specs: group.Fingerprint.Specs}
		var specs []bank.FingerprintSpec
		for _, s := range group.Fingerprint.Specs {
			if s.RestoreOnly {
				continue
			}
			specs = append(specs, s)
			if p, ok := group.Fingerprint.Part(s.Name()); ok {
				want.Parts = append(want.Parts, *p)
			}
		}
		got, err := r.m.Fingerprint(ctx, c, specs, group.Fingerprint)
		if err != nil {
			return "", err
		}
		res, err := fingerprint.Check(c, fmt.Sprintf("backup group %s taken before the upgrade", group.Group), want, got)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%s healthy; %d items as before the upgrade, %d added since", version, res.Items, res.Added), nil
	})
}

// notRunnable says why a version cannot run on this engine, or "".
func (r *run) notRunnable(ctx context.Context, version string) string {
	v, _ := r.e.Version(version)
	var missing []string
	for svc, img := range v.Images {
		if _, ok := v.Build[svc]; ok && r.e.Distribution.Mode != bank.BuildLocally {
			continue // deploy builds it from the entry
		}
		ok, err := r.o.Engine.ImageExists(ctx, img)
		if err != nil {
			return err.Error()
		}
		if !ok {
			missing = append(missing, img)
		}
	}
	if len(missing) == 0 {
		return ""
	}
	return fmt.Sprintf("its image(s) %s are not on this engine (bank test pulls nothing; load or build them first)", strings.Join(missing, ", "))
}

// cleanup removes every instance the run made with its volumes (named and
// anonymous), networks and site records, then the throwaway site with its
// backups, and checks that nothing is left on the engine.
func (r *run) cleanup(ctx context.Context, dir string) (string, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
	defer cancel()
	var errs []error
	var removed []string
	for i := len(r.made) - 1; i >= 0; i-- {
		name := r.made[i]
		anon := r.anonymousVolumes(ctx, name)
		if _, err := r.ts.Instance(name); err == nil {
			res, err := r.m.Remove(ctx, name, deploy.RemoveOptions{PurgeData: true, Confirm: name, Force: true, Throwaway: true})
			if err != nil {
				errs = append(errs, fmt.Errorf("remove %s: %w", name, err))
				continue
			}
			removed = append(removed, fmt.Sprintf("%s (%d volumes)", name, len(res.RemovedVolumes)))
		} else if err := r.o.Engine.Down(ctx, name, 30*time.Second); err != nil {
			errs = append(errs, err) // a deploy that failed before its record
		}
		for _, v := range anon {
			if err := r.o.Engine.RemoveVolume(ctx, v); err != nil && !errors.Is(err, engine.ErrNotFound) {
				errs = append(errs, err)
			}
		}
		if len(anon) > 0 {
			removed = append(removed, fmt.Sprintf("%d anonymous volume(s) of %s", len(anon), name))
		}
		errs = append(errs, r.leftovers(ctx, name))
	}
	if err := errors.Join(errs...); err != nil {
		return "", fmt.Errorf("%w; the throwaway site %s is kept for inspection", err, dir)
	}
	if err := os.RemoveAll(dir); err != nil {
		return "", fmt.Errorf("remove throwaway site %s: %w", dir, err)
	}
	return "removed " + strings.Join(removed, ", ") + " and the throwaway site with its backups", nil
}

// anonymousVolumes lists the volumes an instance's containers mount that
// no compose file names (declared by an image's VOLUME).
func (r *run) anonymousVolumes(ctx context.Context, name string) []string {
	ctrs, err := r.o.Engine.Containers(ctx, map[string]string{engine.LabelProject: name})
	if err != nil {
		return nil
	}
	var out []string
	for _, c := range ctrs {
		d, err := r.o.Engine.Describe(ctx, c.ID)
		if err != nil {
			continue
		}
		for _, m := range d.Mounts {
			if m.Type != "volume" || m.Name == "" {
				continue
			}
			v, err := r.o.Engine.InspectVolume(ctx, m.Name)
			if err == nil && v.Labels[engine.LabelVolume] == "" && v.Labels[label.Instance] == "" {
				out = append(out, m.Name)
			}
		}
	}
	return out
}

// leftovers fails when containers or volumes of an instance remain.
func (r *run) leftovers(ctx context.Context, name string) error {
	ctrs, err := r.o.Engine.Containers(ctx, map[string]string{engine.LabelProject: name})
	if err != nil {
		return err
	}
	vols, err := r.o.Engine.Volumes(ctx, false)
	if err != nil {
		return err
	}
	var left []string
	for _, c := range ctrs {
		left = append(left, "container "+c.Name)
	}
	for _, v := range vols {
		if v.Labels[engine.LabelProject] == name || v.Labels[label.Instance] == name {
			left = append(left, "volume "+v.Name)
		}
	}
	if len(left) > 0 {
		return fmt.Errorf("left on the engine after removing %s: %s", name, strings.Join(left, ", "))
	}
	return nil
}
