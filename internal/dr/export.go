package dr

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"time"

	"github.com/dockerbank/dockerbank/internal/bank"
	"github.com/dockerbank/dockerbank/internal/engine"
	"github.com/dockerbank/dockerbank/internal/instance"
	"github.com/dockerbank/dockerbank/internal/site"
)

// ExportOptions controls Export.
type ExportOptions struct {
	Key Key
	// Compression is zstd (default) or gzip.
	Compression string
	// Repository is the backup repository location to record; the
	// caller reads it from the site's configuration.
	Repository string
	// Copies are the off-site copies to record.
	Copies []Copy
	// Dockerbank is the version of the running dockerbank.
	Dockerbank string
	// Host is the host name for the runbook; default os.Hostname.
	Host string
	Now  time.Time
}

// ExportResult says what Export wrote.
type ExportResult struct {
	Manifest Manifest `json:"manifest"`
	Bytes    int      `json:"bytes"`
}

// Export writes a bundle of the site: every instance's record, rendered
// compose file and entry copy, image references with digests from the
// engine, the backup repository location, a runbook, and the secrets
// encrypted to the key. It changes nothing.
func Export(ctx context.Context, s *site.Site, e *engine.Engine, o ExportOptions) ([]byte, *Manifest, error) {
	if o.Key.Recipient == "" && o.Key.Passphrase == "" {
		return nil, nil, fmt.Errorf("%w: pass --recipient AGE_PUBKEY or --passphrase-file FILE", ErrNoKey)
	}
	if o.Host == "" {
		o.Host, _ = os.Hostname()
	}
	if o.Now.IsZero() {
		o.Now = time.Now().UTC()
	}
	// The lock keeps a concurrent deploy or upgrade from being exported
	// half done.
	l, err := s.Lock(ctx, 2*time.Minute)
	if err != nil {
		return nil, nil, err
	}
	defer l.Unlock()
	siteID, err := s.ID()
	if err != nil {
		return nil, nil, err
	}
	ins, err := s.Instances()
	if err != nil {
		return nil, nil, err
	}
	m := Manifest{Format: FormatVersion, Created: o.Now.UTC().Truncate(time.Second), Dockerbank: o.Dockerbank, Host: o.Host,
		SiteDir: s.Dir, SiteID: siteID, Repository: o.Repository, Copies: o.Copies}
	files := map[string][]byte{}
	secrets := secretSet{Instances: map[string]map[string]string{}}
	for _, in := range ins {
		bi, err := exportInstance(ctx, s, e, in, files)
		if err != nil {
			return nil, nil, fmt.Errorf("export instance %s: %w", in.Name, err)
		}
		sec, err := s.Secrets(in.Name)
		if err != nil {
			return nil, nil, err
		}
		secrets.Instances[in.Name] = sec
		for k := range sec {
			bi.Secrets = append(bi.Secrets, k)
		}
		sort.Strings(bi.Secrets)
		m.Instances = append(m.Instances, *bi)
	}
	sealed, enc, err := sealSecrets(o.Key, secrets)
	if err != nil {
		return nil, nil, err
	}
	m.Encryption = enc
	if enc == "x25519" {
		m.Recipient = o.Key.Recipient
	}
	files[SecretsFile] = sealed
	files[RunbookFile] = []byte(Runbook(m))
	var buf bytes.Buffer
	if err := writeBundle(&buf, m, files, o.Compression); err != nil {
		return nil, nil, err
	}
	return buf.Bytes(), &m, nil
}

// Stale lists the instances of a bundle whose user data has no backup
// newer than their last change: a recovery would lose what changed since.
func Stale(m *Manifest) []string {
	var out []string
	for _, in := range m.Instances {
		r := in.Record
		if len(in.DataVolumes) == 0 {
			continue
		}
		switch {
		case r.LastBackup.IsZero():
			out = append(out, r.Name+" has never been backed up: `dockerbank backup "+r.Name+"`")
		case r.LastBackup.Before(r.Changed):
			out = append(out, r.Name+" changed since its last backup at "+r.LastBackup.UTC().Format("2006-01-02 15:04Z")+": `dockerbank backup "+r.Name+"`")
		}
	}
	return out
}

func exportInstance(ctx context.Context, s *site.Site, e *engine.Engine, in *site.Instance, files map[string][]byte) (*Instance, error) {
	dir := s.InstanceDir(in.Name)
	base := path.Join("instances", in.Name)
	bi := &Instance{Record: *in, Compose: path.Join(base, instance.RenderedFile), EntryDir: path.Join(base, "entry")}
	compose, err := os.ReadFile(filepath.Join(dir, instance.RenderedFile))
	if err != nil {
		return nil, fmt.Errorf("read rendered compose file: %w", err)
	}
	files[bi.Compose] = compose
	entryFS := os.DirFS(filepath.Join(dir, "entry"))
	err = fs.WalkDir(entryFS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		data, err := fs.ReadFile(entryFS, p)
		if err != nil {
			return err
		}
		files[path.Join(bi.EntryDir, p)] = data
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("copy entry of %s: %w", in.Name, err)
	}
	ent, err := bank.Load(ctx, os.DirFS(dir), "entry", dir+"/entry")
	if err != nil {
		return nil, fmt.Errorf("read the entry copy of %s: %w", in.Name, err)
	}
	bi.Title, bi.Domain, bi.Requires = ent.Title, ent.Domain, ent.Requires
	bi.Distribution, bi.SupplySource = ent.Distribution.Mode, ent.Distribution.Source
	for _, c := range ent.Checks.PostDeploy {
		bi.Checks = append(bi.Checks, c.Name)
	}
	p, err := bank.LoadProject(ctx, bank.LoadOptions{Dir: dir, Files: []string{instance.RenderedFile}, Name: in.Name, Env: secretEnvNames(ctx, s, in.Name)})
	if err != nil {
		return nil, err
	}
	model, err := bank.Model(p)
	if err != nil {
		return nil, err
	}
	for v, meta := range model.Volumes {
		if meta.Class == bank.ClassUserdata && meta.Backup != "" && meta.Backup != bank.BackupNone {
			bi.DataVolumes = append(bi.DataVolumes, v)
		}
	}
	sort.Strings(bi.DataVolumes)
	ver, _ := ent.Version(in.Version)
	ctrs, err := e.Containers(ctx, map[string]string{engine.LabelProject: in.Name})
	if err != nil {
		return nil, err
	}
	services := make([]string, 0, len(p.Services))
	for name := range p.Services {
		services = append(services, name)
	}
	sort.Strings(services)
	for _, svc := range services {
		img := Image{Service: svc, Ref: p.Services[svc].Image}
		if b, ok := ver.Build[svc]; ok {
			img.Build = &Build{Context: b.Context, Dockerfile: b.Dockerfile, Args: b.Args}
		}
		id := ""
		for _, c := range ctrs {
			if c.Service == svc {
				insp, err := e.Inspect(ctx, c.ID)
				if err != nil {
					return nil, err
				}
				id = insp.Image
				break
			}
		}
		if id == "" {
			img.Missing = true
			id = img.Ref
		}
		if info, err := e.ImageInfo(ctx, id); err == nil {
			img.ID, img.RepoDigests = info.ID, info.RepoDigests
		}
		bi.Images = append(bi.Images, img)
	}
	return bi, nil
}

// secretEnvNames gives the secrets' variables so the rendered file loads;
// the values are the real ones because compose-go resolves them at load,
// but they never leave this process.
func secretEnvNames(_ context.Context, s *site.Site, name string) []string {
	sec, _ := s.Secrets(name)
	env := make([]string, 0, len(sec))
	for k, v := range sec {
		env = append(env, bank.SecretEnv(k)+"="+v)
	}
	return env
}
