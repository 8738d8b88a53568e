package deploy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/dockerbank/dockerbank/internal/bank"
	"github.com/dockerbank/dockerbank/internal/fingerprint"
)

// FingerprintSpecs returns the fingerprint declarations of an instance's
// entry (none when the entry declares none or is not in the bank).
func (m *Manager) FingerprintSpecs(entry string) []bank.FingerprintSpec {
	if m.Bank == nil {
		return nil
	}
	e, err := m.Bank.Get(entry)
	if err != nil {
		return nil
	}
	return e.Fingerprint
}

// FingerprintTarget describes an instance for fingerprint.Compute: its
// volumes' engine names and its secrets.
func (m *Manager) FingerprintTarget(ctx context.Context, name string) (fingerprint.Target, error) {
	p, err := m.Project(ctx, name)
	if err != nil {
		return fingerprint.Target{}, err
	}
	shared := map[string]fingerprint.Shared{}
	if in, err := m.Site.Instance(name); err == nil {
		ts, err := m.tenants(in)
		if err != nil {
			return fingerprint.Target{}, err
		}
		for _, t := range ts {
			c, err := m.ServerContainer(ctx, t.Server)
			if err != nil {
				return fingerprint.Target{}, err
			}
			shared[t.Service] = fingerprint.Shared{Container: c.ID, Database: t.Database}
		}
	}
	return fingerprint.Target{
		Instance: name,
		Shared:   shared,
		Volume: func(v string) string {
			if pv, ok := p.Volumes[v]; ok && pv.Name != "" {
				return pv.Name
			}
			return name + "_" + v
		},
		Secret: func(s string) ([]byte, error) {
			data, err := os.ReadFile(filepath.Join(m.Site.InstanceDir(name), "secrets", s))
			if errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("instance %s has no secret %s", name, s)
			}
			return data, err
		},
	}, nil
}

// Fingerprint computes an instance's fingerprint by the given
// declarations, guided by ref (see fingerprint.Options).
func (m *Manager) Fingerprint(ctx context.Context, name string, specs []bank.FingerprintSpec, ref *fingerprint.Fingerprint) (*fingerprint.Fingerprint, error) {
	t, err := m.FingerprintTarget(ctx, name)
	if err != nil {
		return nil, err
	}
	return fingerprint.Compute(ctx, m.Engine, t, specs, fingerprint.Options{Ref: ref, Now: m.Now})
}
