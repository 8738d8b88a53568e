package fingerprint

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/dockerbank/dockerbank/internal/bank"
	"github.com/dockerbank/dockerbank/internal/engine"
)

// Engine is what Compute needs of the container engine.
type Engine interface {
	Containers(ctx context.Context, labels map[string]string) ([]engine.Container, error)
	Exec(ctx context.Context, id string, cmd []string, o engine.ExecOptions) error
	Describe(ctx context.Context, id string) (engine.Description, error)
	InspectVolume(ctx context.Context, name string) (engine.Volume, error)
	CreateHelper(ctx context.Context, o engine.HelperOptions) (string, error)
	CopyFrom(ctx context.Context, id, path string) (io.ReadCloser, error)
	RemoveContainer(ctx context.Context, id string) error
	ContainerAddress(ctx context.Context, id string, port int) (string, error)
}

// Target is the instance a fingerprint is computed of.
type Target struct {
	Instance string
	// Volume maps a volume of the entry to its engine name (default
	// <instance>_<volume>).
	Volume func(string) string
	// Secret reads one of the instance's generated secrets.
	Secret func(string) ([]byte, error)
	// HelperImage reads volumes the host cannot (remote engines).
	HelperImage string
	// Shared maps services the instance takes from a shared server to
	// the server's container and the instance's database there: the
	// declarations naming such a service read that container and that
	// database.
	Shared map[string]Shared
}

// Shared is a service served by a shared server's container.
type Shared struct {
	Container string
	Database  string
}

// onShared returns the declaration as it applies to a tenant of a shared
// server: its database is the tenant's.
func (t Target) onShared(s bank.FingerprintSpec) bank.FingerprintSpec {
	for _, svc := range []string{s.Service, s.Index} {
		if sh, ok := t.Shared[svc]; ok && svc != "" && s.Database != "" {
			s.Database = sh.Database
		}
	}
	return s
}

func (t Target) volume(v string) string {
	if t.Volume != nil {
		return t.Volume(v)
	}
	return t.Instance + "_" + v
}

// Options controls Compute.
type Options struct {
	// Ref guides the computation: keyed tables are read up to the key
	// recorded in it, append-only files over the length recorded in it.
	Ref *Fingerprint
	// Skip leaves out declarations (the backup computes database parts at
	// its dump's snapshot instead).
	Skip func(bank.FingerprintSpec) bool
	// Now is the time recorded; default time.Now.
	Now func() time.Time
	// HashCacheDir, if set, keeps a hash cache (hashcache.go) per
	// declaration there: a backup's next fingerprint rehashes only stored
	// files whose size, mtime, ctime or inode changed. Restores and drills
	// leave it unset and hash everything.
	HashCacheDir string
}

// Compute fingerprints an instance's data by the declarations.
func Compute(ctx context.Context, e Engine, t Target, specs []bank.FingerprintSpec, o Options) (*Fingerprint, error) {
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	fp := &Fingerprint{Format: Format, Taken: now().UTC(), Specs: specs}
	ctrs, err := e.Containers(ctx, map[string]string{engine.LabelProject: t.Instance})
	if err != nil {
		return nil, err
	}
	for svc, sh := range t.Shared {
		ctrs = append(ctrs, engine.Container{ID: sh.Container, Service: svc, State: "running"})
	}
	for _, s := range specs {
		if o.Skip != nil && o.Skip(s) {
			continue
		}
		var ref *Part
		if o.Ref != nil {
			ref, _ = o.Ref.Part(s.Name())
		}
		cache := ""
		if o.HashCacheDir != "" {
			cache = filepath.Join(o.HashCacheDir, "fingerprint-"+cacheName.Replace(s.Name())+".md5.jsonl")
		}
		p, err := computePart(ctx, e, t, ctrs, s, ref, cache)
		if err != nil {
			return nil, fmt.Errorf("fingerprint %s of %s: %w", s.Name(), t.Instance, err)
		}
		fp.Parts = append(fp.Parts, *p)
	}
	return fp, nil
}

// cacheName makes a declaration's name a file name.
var cacheName = strings.NewReplacer("/", "_", " ", "_", string(filepath.Separator), "_")

func computePart(ctx context.Context, e Engine, t Target, ctrs []engine.Container, s bank.FingerprintSpec, ref *Part, cache string) (*Part, error) {
	p := &Part{Name: s.Name(), Kind: s.Kind}
	s = t.onShared(s)
	var err error
	switch s.Kind {
	case bank.FingerprintFiles:
		p.Items, err = fileItems(ctx, e, t, s, ref)
	default:
		id, ok := running(ctrs, s.Service)
		if !ok {
			return nil, fmt.Errorf("service %s of %s is not running; start it with `dockerbank start %s`", s.Service, t.Instance, t.Instance)
		}
		switch s.Kind {
		case bank.FingerprintPostgres:
			p.Items, err = postgresIn(ctx, e, id, s, ref)
		case bank.FingerprintMariaDB:
			p.Items, err = mariadbIn(ctx, e, id, s, ref)
		case bank.FingerprintOrthanc:
			var index string
			if s.Index != "" {
				if index, ok = running(ctrs, s.Index); !ok {
					return nil, fmt.Errorf("service %s of %s is not running; start it with `dockerbank start %s`", s.Index, t.Instance, t.Instance)
				}
			}
			err = orthancIn(ctx, e, t, id, index, s, p, cache)
		default:
			err = fmt.Errorf("unknown fingerprint kind %q", s.Kind)
		}
	}
	if err != nil {
		return nil, err
	}
	SortItems(p.Items)
	return p, nil
}

func running(ctrs []engine.Container, service string) (string, bool) {
	for _, c := range ctrs {
		if c.Service == service && c.State == "running" {
			return c.ID, true
		}
	}
	return "", false
}

// envOf reads a setting from a container's environment, or from the file
// its NAME_FILE variable names, as the official database images do.
func envOf(ctx context.Context, e Engine, id, name, def string) (string, error) {
	d, err := e.Describe(ctx, id)
	if err != nil {
		return "", err
	}
	env := map[string]string{}
	for _, kv := range d.Env {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	if v := env[name]; v != "" {
		return v, nil
	}
	if f := env[name+"_FILE"]; f != "" {
		var out strings.Builder
		if err := e.Exec(ctx, id, []string{"cat", f}, engine.ExecOptions{Stdout: &out}); err != nil {
			return "", fmt.Errorf("read %s_FILE: %w", name, err)
		}
		return strings.TrimRight(out.String(), "\r\n"), nil
	}
	return def, nil
}
