package deploy

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/dockerbank/dockerbank/internal/bank"
	"github.com/dockerbank/dockerbank/internal/engine"
	"github.com/dockerbank/dockerbank/internal/site"
)

// RenderedFile is the compose file of an instance, written by render and
// read by every later operation. It holds no secret values.
const RenderedFile = "compose.yaml"

// previousFile keeps the rendered file of the version before an upgrade.
const previousFile = "compose.previous.yaml"

// render writes the instance's project for the given record: a copy of the
// entry's files under entry/, generated secrets (0600) under secrets/, and
// the rendered compose file with versions pinned and labels set.
func (m *Manager) render(ctx context.Context, in *site.Instance, e *bank.Entry) (*types.Project, error) {
	dir := m.Site.InstanceDir(in.Name)
	ver, ok := e.Version(in.Version)
	if !ok {
		return nil, fmt.Errorf("%w: entry %s has no version %q; versions: %s", ErrNoVersion, e.ID, in.Version, strings.Join(e.VersionNames(), ", "))
	}
	variant, ok := e.Variant(in.Variant)
	if !ok {
		return nil, fmt.Errorf("entry %s has no variant %q", e.ID, in.Variant)
	}
	if err := checkParams(e, in.Params); err != nil {
		return nil, err
	}
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
		Dir: entryDir, Files: e.ComposeFilesOf(ver, variant), Name: in.Name,
		Env: e.ParamEnv(in.Params), Profiles: variant.Profiles,
	})
	if err != nil {
		return nil, fmt.Errorf("render %s: %w", in.Name, err)
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
		s.Labels = s.Labels.Add(LabelSite, siteID).
			Add(LabelInstance, in.Name).
			Add(LabelEntry, e.ID).
			Add(LabelVersion, ver.Version).
			Add(LabelRole, model.Services[name].Role)
		p.Services[name] = s
	}
	for name, v := range p.Volumes {
		meta := model.Volumes[name]
		if v.External {
			continue
		}
		v.Labels = v.Labels.Add(LabelSite, siteID).
			Add(LabelInstance, in.Name).
			Add(LabelEntry, e.ID).
			Add(LabelVolume, name).
			Add(LabelClass, meta.Class)
		if meta.Backup != "" {
			v.Labels = v.Labels.Add(LabelBackup, meta.Backup)
		}
		p.Volumes[name] = v
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
	if err := site.WriteFileAtomic(filepath.Join(dir, RenderedFile), append([]byte(header), data...), 0o600); err != nil {
		return nil, err
	}
	return p, nil
}

func checkParams(e *bank.Entry, set map[string]string) error {
	known := map[string]bool{}
	var names []string
	for _, p := range e.Parameters {
		known[p.Name] = true
		names = append(names, p.Name)
	}
	var unknown []string
	for k := range set {
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return fmt.Errorf("entry %s has no parameter %s; its parameters are: %s", e.ID, strings.Join(unknown, ", "), strings.Join(names, ", "))
	}
	return nil
}

// Project loads the rendered project of an instance with its secrets.
func (m *Manager) Project(ctx context.Context, name string) (*types.Project, error) {
	secrets, err := m.Site.Secrets(name)
	if err != nil {
		return nil, err
	}
	env := make([]string, 0, len(secrets))
	for k, v := range secrets {
		env = append(env, bank.SecretEnv(k)+"="+v)
	}
	return m.Engine.LoadProject(ctx, engine.LoadOptions{
		Dir: m.Site.InstanceDir(name), Files: []string{RenderedFile}, Name: name, Env: env,
	})
}
