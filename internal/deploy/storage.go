package deploy

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/dockerbank/dockerbank/internal/engine"
	"github.com/dockerbank/dockerbank/internal/instance/label"
	"github.com/dockerbank/dockerbank/internal/site"
)

// ErrStorage means a volume's storage mapping (site.yaml storage) cannot be
// used on the engine: a host directory or share that is missing or cannot
// be mounted.
var ErrStorage = errors.New("volume storage not usable")

// HelperImage is the image of the storage probes: a shell and mkdir.
const HelperImage = "dockerbank/busybox:1.36"

// PlanStorage says where each volume of a new instance lives, from the
// site's storage section and the volumes' classes (by the volume's name in
// the entry); volumes it leaves out use the engine's default.
func PlanStorage(c site.StorageConfig, instance string, classes map[string]string) map[string]site.VolumeStorage {
	out := map[string]site.VolumeStorage{}
	for _, vol := range slices.Sorted(maps.Keys(classes)) {
		if vs, ok := c.Resolve(instance, vol, classes[vol]); ok {
			out[vol] = vs
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// storageCheck is the probe of one base directory or one share.
type storageCheck struct {
	probe engine.ProbeOptions
	vols  []string // the volumes it serves, by their name in the entry
}

// storageChecks plans the probes that prove an instance's storage before
// anything of it is created: one per host base directory (which must
// exist; the volumes' own empty directories are made under it, so the
// engine copies the image's files and owner into them at the first
// mount), and one per share or driver volume, mounted once.
func storageChecks(instance string, storage map[string]site.VolumeStorage, readFile func(string) ([]byte, error)) ([]storageCheck, error) {
	labels := map[string]string{label.Helper: instance}
	bases := map[string][]string{}
	var out []storageCheck
	for _, vol := range slices.Sorted(maps.Keys(storage)) {
		vs := storage[vol]
		if vs.Dir != "" {
			bases[vs.Base] = append(bases[vs.Base], vol)
			continue
		}
		driver, opts, err := vs.DriverOptions(readFile)
		if err != nil {
			return nil, err
		}
		out = append(out, storageCheck{vols: []string{vol}, probe: engine.ProbeOptions{Image: HelperImage, Driver: driver, DriverOpts: opts, Labels: labels}})
	}
	for _, base := range slices.Sorted(maps.Keys(bases)) {
		var script strings.Builder
		script.WriteString("set -e\n")
		for _, vol := range bases[base] {
			rel, err := filepath.Rel(base, storage[vol].Dir)
			if err != nil || strings.HasPrefix(rel, "..") {
				return nil, fmt.Errorf("volume %s: directory %s is not under %s", vol, storage[vol].Dir, base)
			}
			// Exit 3 names a directory that holds files already.
			fmt.Fprintf(&script, "d='/probe/%s'; mkdir -p \"$d\"; if [ -n \"$(ls -A \"$d\")\" ]; then echo '%s'; exit 3; fi\n", rel, vol)
		}
		out = append(out, storageCheck{vols: bases[base], probe: engine.ProbeOptions{Image: HelperImage, Driver: "local",
			DriverOpts: map[string]string{"type": "none", "o": "bind", "device": base}, Labels: labels, Script: script.String()}})
	}
	return out, nil
}

// prepareStorage runs the probes of a new instance's storage; its error
// names the volume, the directory or share and the site.yaml key.
func (m *Manager) prepareStorage(ctx context.Context, in *site.Instance, readFile func(string) ([]byte, error)) error {
	checks, err := storageChecks(in.Name, in.Storage, readFile)
	if err != nil {
		return err
	}
	for _, c := range checks {
		vs := in.Storage[c.vols[0]]
		if vs.Dir != "" {
			m.step("check host directory %s and create %s under it", vs.Base, strings.Join(c.vols, ", "))
		} else {
			m.step("check that the engine mounts volume %s (%s)", c.vols[0], vs.Where())
		}
		err := m.Engine.ProbeVolume(ctx, c.probe)
		var pe *engine.ProbeError
		switch {
		case err == nil:
			continue
		case errors.As(err, &pe) && vs.Dir != "" && pe.Mount:
			var dirs []string
			for _, v := range c.vols {
				dirs = append(dirs, v+" in "+in.Storage[v].Dir)
			}
			return fmt.Errorf("%w: volumes %s of %s are to live in host directories (%s), but their base directory %s (site.yaml %s.hostPath) does not exist on the engine's host or cannot be mounted (%s); create it there (mkdir -p %s) or change %s in site.yaml; no container or volume of %s was created",
				ErrStorage, strings.Join(c.vols, ", "), in.Name, strings.Join(dirs, ", "), vs.Base, vs.Key, pe.Output, vs.Base, vs.Key, in.Name)
		case errors.As(err, &pe) && vs.Dir != "" && pe.ExitCode == 3:
			vol := strings.TrimSpace(pe.Output)
			return fmt.Errorf("%w: the directory %s for volume %s of %s (site.yaml %s) holds files already, perhaps of an earlier instance named %s; move them away, restore that instance with `dockerbank restore %s --as NAME`, or choose another --name; nothing was created",
				ErrNameTaken, in.Storage[vol].Dir, vol, in.Name, in.Storage[vol].Key, in.Name, in.Name)
		case errors.As(err, &pe) && vs.Dir != "":
			return fmt.Errorf("%w: cannot create the directories of %s under %s (site.yaml %s.hostPath): %s; check that the engine may write there; no container or volume of %s was created",
				ErrStorage, strings.Join(c.vols, ", "), vs.Base, vs.Key, pe.Output, in.Name)
		case errors.As(err, &pe):
			// The engine's message repeats the mount options, password too.
			pe.Output = hidePasswords(pe.Output, c.probe.DriverOpts["o"])
			return fmt.Errorf("%w: volume %s of %s is to live on %s (site.yaml %s), but %s; check that the share is exported to the engine's host and its options (docs/storage.md), or change %s; no container or volume of %s was created",
				ErrStorage, c.vols[0], in.Name, vs.Where(), vs.Key, pe.Error(), vs.Key, in.Name)
		default:
			return fmt.Errorf("check storage of volume %s of %s (site.yaml %s): %w", strings.Join(c.vols, ", "), in.Name, vs.Key, err)
		}
	}
	return nil
}

// applyStorage sets the driver and options of the project's mapped volumes.
func applyStorage(p *types.Project, in *site.Instance, readFile func(string) ([]byte, error)) error {
	for name, vs := range in.Storage {
		v, ok := p.Volumes[name]
		if !ok || bool(v.External) {
			continue // a version without that volume
		}
		driver, opts, err := vs.DriverOptions(readFile)
		if err != nil {
			return err
		}
		v.Driver, v.DriverOpts = driver, opts
		p.Volumes[name] = v
	}
	return nil
}

// hostDirOf is the host directory the record maps a volume to, or "".
func hostDirOf(in *site.Instance, vol string) string {
	return in.Storage[vol].Dir
}

// deleteHostDirs deletes the host directories of a throwaway instance's
// mapped volumes, through the engine (they are on its host).
func (m *Manager) deleteHostDirs(ctx context.Context, in *site.Instance) error {
	bases := map[string][]string{}
	for _, vol := range slices.Sorted(maps.Keys(in.Storage)) {
		if vs := in.Storage[vol]; vs.Dir != "" {
			bases[vs.Base] = append(bases[vs.Base], vs.Dir)
		}
	}
	for _, base := range slices.Sorted(maps.Keys(bases)) {
		var script strings.Builder
		for _, dir := range bases[base] {
			rel, err := filepath.Rel(base, dir)
			if err != nil || strings.HasPrefix(rel, "..") || rel == "." {
				return fmt.Errorf("delete %s: not under %s", dir, base)
			}
			fmt.Fprintf(&script, "rm -rf '/probe/%s' || exit 1\n", rel)
		}
		fmt.Fprintf(&script, "rmdir '/probe/%s' 2>/dev/null; exit 0\n", in.Name)
		m.step("delete the files of throwaway instance %s in %s", in.Name, strings.Join(bases[base], ", "))
		err := m.Engine.ProbeVolume(ctx, engine.ProbeOptions{Image: HelperImage, Driver: "local",
			DriverOpts: map[string]string{"type": "none", "o": "bind", "device": base},
			Labels:     map[string]string{label.Helper: in.Name}, Script: script.String()})
		if err != nil {
			return fmt.Errorf("delete the files of throwaway instance %s in %s: %w", in.Name, base, err)
		}
	}
	return nil
}

// hidePasswords replaces the values of password= in the mount options o
// wherever they occur in msg.
func hidePasswords(msg, o string) string {
	for _, p := range strings.Split(o, ",") {
		if k, v, ok := strings.Cut(p, "="); ok && (k == "password" || k == "pass") && v != "" {
			msg = strings.ReplaceAll(msg, v, "***")
		}
	}
	return msg
}
