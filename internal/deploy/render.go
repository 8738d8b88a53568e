package deploy

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/dockerbank/dockerbank/internal/bank"
	"github.com/dockerbank/dockerbank/internal/engine"
	"github.com/dockerbank/dockerbank/internal/instance"
	"github.com/dockerbank/dockerbank/internal/instance/label"
	"github.com/dockerbank/dockerbank/internal/site"
)

// previousFile keeps the rendered file of the version before an upgrade.
const previousFile = "compose.previous.yaml"

// render writes the instance's project for the given record: a copy of the
// entry's files under entry/, generated secrets (0600) under secrets/, and
// the rendered compose file with versions pinned, labels set and volumes
// created where the record's storage says. With plan (a new instance),
// the record's storage is first planned from the site's storage section.
func (m *Manager) render(ctx context.Context, in *site.Instance, e *bank.Entry, plan *site.StorageConfig) (*types.Project, error) {
	dir := m.Site.InstanceDir(in.Name)
	r, err := e.Resolve(in.Version, in.Variant, in.Params)
	if err != nil {
		return nil, err
	}
	ver := r.Version
	fsys, edir, err := m.Bank.Files(e.ID)
	if err != nil {
		return nil, err
	}
	sub, err := fs.Sub(fsys, edir)
	if err != nil {
		return nil, fmt.Errorf("render %s: %w", in.Name, err)
	}
	entryDir := filepath.Join(dir, "entry")
	if err := os.RemoveAll(entryDir); err != nil {
		return nil, fmt.Errorf("render %s: %w", in.Name, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("render %s: %w", in.Name, err)
	}
	if err := os.CopyFS(entryDir, sub); err != nil {
		return nil, fmt.Errorf("copy entry %s into %s: %w", e.ID, entryDir, err)
	}
	p, err := bank.LoadProject(ctx, bank.LoadOptions{
		Dir: entryDir, Files: r.ComposeFiles(), Name: in.Name,
		Env: r.Env(), Profiles: r.Variant.Profiles,
	})
	if err != nil {
		return nil, fmt.Errorf("render %s: %w", in.Name, err)
	}
	tenants, err := m.tenants(in)
	if err != nil {
		return nil, err
	}
	if len(tenants) > 0 {
		if err := DetachShared(p, e, tenants); err != nil {
			return nil, fmt.Errorf("render %s: %w", in.Name, err)
		}
	}
	model, err := bank.Model(p)
	if err != nil {
		return nil, fmt.Errorf("render %s: %w", in.Name, err)
	}
	siteID, err := m.Site.ID()
	if err != nil {
		return nil, err
	}
	for name, meta := range model.Secrets {
		if _, err := m.Site.Secret(in.Name, name, meta.Length); err != nil {
			return nil, err
		}
	}
	// The same rendering `bank lint` checks: secrets, images, pull policy.
	bank.Render(p, ver, model)
	for name, s := range p.Services {
		if in.EphemeralPorts {
			for i := range s.Ports {
				s.Ports[i].Published = "" // the engine picks a free host port
			}
		}
		s.Labels = s.Labels.Add(label.Site, siteID).
			Add(label.Instance, in.Name).
			Add(label.Entry, e.ID).
			Add(label.Version, ver.Version).
			Add(label.Role, model.Services[name].Role)
		p.Services[name] = s
	}
	if len(in.Scale) > 0 {
		if err := CheckScale(e.ID, model, in.Scale); err != nil {
			return nil, fmt.Errorf("render %s with its replicas (%s): %w; `dockerbank scale %s SERVICE=1` runs one again", in.Name, scaleText(in.Scale), err, in.Name)
		}
		if err := applyScale(p, model, in.Scale); err != nil {
			return nil, err
		}
	}
	for name, v := range p.Volumes {
		meta := model.Volumes[name]
		if v.External {
			continue
		}
		v.Labels = v.Labels.Add(label.Site, siteID).
			Add(label.Instance, in.Name).
			Add(label.Entry, e.ID).
			Add(label.Volume, name).
			Add(label.Class, meta.Class)
		if meta.Backup != "" {
			v.Labels = v.Labels.Add(label.Backup, meta.Backup)
		}
		p.Volumes[name] = v
	}
	if plan != nil {
		classes := map[string]string{}
		for name, v := range p.Volumes {
			if !v.External {
				classes[name] = model.Volumes[name].Class
			}
		}
		in.Storage = PlanStorage(*plan, in.Name, classes)
	}
	if err := applyStorage(p, in, os.ReadFile); err != nil {
		return nil, fmt.Errorf("render %s: %w", in.Name, err)
	}
	data, err := p.MarshalYAML()
	if err != nil {
		return nil, fmt.Errorf("render %s: %w", in.Name, err)
	}
	// The project is interpolated already: every "$" left in it is literal
	// (an entry's "$$" for a shell), so escape it again, or loading the
	// rendered file (here or with docker compose) would interpolate it twice.
	data = bytes.ReplaceAll(data, []byte("$"), []byte("$$"))
	header := fmt.Sprintf("# Rendered by dockerbank for instance %s: entry %s version %s.\n# Edit the entry or use `dockerbank upgrade`; changes here are overwritten.\n", in.Name, e.ID, ver.Version)
	if err := site.WriteFileAtomic(filepath.Join(dir, instance.RenderedFile), append([]byte(header), data...), 0o600); err != nil {
		return nil, err
	}
	return p, nil
}

// Project loads the rendered project of an instance with its secrets.
func (m *Manager) Project(ctx context.Context, name string) (*types.Project, error) {
	r, err := instance.Rendered(m.Site, name)
	if err != nil {
		return nil, err
	}
	return m.Engine.LoadProject(ctx, engine.LoadOptions{Dir: r.Dir, Files: []string{r.File}, Name: r.Name, Env: r.EnvList()})
}
