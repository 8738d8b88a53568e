package deploy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/dockerbank/dockerbank/internal/bank"
	"github.com/dockerbank/dockerbank/internal/fingerprint"
	"github.com/dockerbank/dockerbank/internal/instance"
	"github.com/dockerbank/dockerbank/internal/site"
)

// ErrNoFreshBackup means an operation that can lose data found no backup
// newer than the instance's last change.
var ErrNoFreshBackup = errors.New("no fresh backup")

// ErrRolledBack means an upgrade failed and the previous version runs again.
var ErrRolledBack = errors.New("upgrade failed and was rolled back")

// UpgradeOptions controls Upgrade.
type UpgradeOptions struct {
	To       string
	NoBackup bool // upgrade without a backup newer than the last change
}

// Upgrade moves an instance to another version of its entry, keeping its
// volumes. It refuses without a fresh backup unless NoBackup is set. When
// the new version does not become healthy within the health timeout, it
// goes back to the previous version by itself and returns ErrRolledBack.
func (m *Manager) Upgrade(ctx context.Context, name string, o UpgradeOptions) error {
	return m.locked(ctx, func() error {
		in, err := m.Site.Instance(name)
		if err != nil {
			return err
		}
		e, err := m.Bank.Get(in.Entry)
		if err != nil {
			return err
		}
		if o.To == "" {
			return &bank.ResolveError{Entry: e.ID, Kind: bank.ErrNoVersion, Names: []string{o.To}, Known: e.VersionNames()}
		}
		if _, err := e.Resolve(o.To, in.Variant, in.Params); err != nil {
			return err
		}
		if o.To == in.Version {
			return fmt.Errorf("instance %s runs version %s already", name, o.To)
		}
		if !o.NoBackup && !fresh(in) {
			return fmt.Errorf("%w of %s since its last change at %s: run `dockerbank backup %s` first, or pass --no-backup to upgrade without one",
				ErrNoFreshBackup, name, in.Changed.Format("2006-01-02 15:04:05Z"), name)
		}
		tenants, err := m.TenantsOf(name)
		if err != nil {
			return err
		}
		if !o.NoBackup {
			if stale := m.staleTenants(tenants); len(stale) > 0 {
				return fmt.Errorf("%w of %s, which use %s, since their last change: run `dockerbank backup %s` first (`dockerbank upgrade` does it for you), or pass --no-backup",
					ErrNoFreshBackup, strings.Join(stale, ", "), name, strings.Join(stale, " "))
			}
		}
		tenantsBefore, err := m.tenantFingerprints(ctx, tenants)
		if err != nil {
			return fmt.Errorf("%w; nothing was changed", err)
		}
		// The data as the application sees it, before: the new version
		// must keep all of it (what the running application adds later is
		// no difference; see fingerprint.Compare).
		var specs []bank.FingerprintSpec
		for _, s := range m.FingerprintSpecs(in.Entry) {
			if !s.RestoreOnly {
				specs = append(specs, s)
			}
		}
		var before *fingerprint.Fingerprint
		if len(specs) > 0 {
			m.step("fingerprint %s before the upgrade", name)
			var err error
			if before, err = m.Fingerprint(ctx, name, specs, nil); err != nil {
				return fmt.Errorf("%w; nothing was changed", err)
			}
			m.step("  %s", before.Summary())
		}
		if err := m.journal(name, "started", fmt.Sprintf("upgrade %s -> %s", in.Version, o.To)); err != nil {
			return err
		}
		var verify func() error
		okDetail := fmt.Sprintf("upgraded to %s", o.To)
		if before != nil {
			verify = func() error {
				m.step("fingerprint %s after the upgrade and compare", name)
				after, err := m.Fingerprint(ctx, name, before.Specs, before)
				if err != nil {
					return err
				}
				r, err := fingerprint.Check(name, "its fingerprint before the upgrade", before, after)
				if err != nil {
					return fmt.Errorf("%w; the new version may have changed them: restore the backup taken before the upgrade to undo that", err)
				}
				okDetail += fmt.Sprintf("; fingerprint kept (%d items compared, %d added since)", r.Items, r.Added)
				m.step("  fingerprint kept: %d items as before (%s), %d added since", r.Items, before.Summary(), r.Added)
				return nil
			}
		}
		if len(tenants) > 0 {
			own := verify
			verify = func() error {
				if own != nil {
					if err := own(); err != nil {
						return err
					}
				}
				n, err := m.verifyTenants(ctx, tenants, tenantsBefore)
				if err != nil {
					return err
				}
				okDetail += fmt.Sprintf("; %d tenant(s) healthy, checks passed, fingerprints kept (%d items)", len(tenants), n)
				return nil
			}
		}
		err = m.switchVersion(ctx, in, o.To, verify)
		return m.finish(name, err, okDetail)
	})
}

// Rollback returns an instance to the version it ran before its last
// upgrade. Data written by the newer version stays; restore a backup to
// undo it too.
func (m *Manager) Rollback(ctx context.Context, name string) error {
	return m.locked(ctx, func() error {
		in, err := m.Site.Instance(name)
		if err != nil {
			return err
		}
		if in.PreviousVersion == "" {
			return fmt.Errorf("instance %s has no previous version to roll back to", name)
		}
		if err := m.journal(name, "started", fmt.Sprintf("rollback %s -> %s", in.Version, in.PreviousVersion)); err != nil {
			return err
		}
		to := in.PreviousVersion
		return m.finish(name, m.switchVersion(ctx, in, to, nil), fmt.Sprintf("rolled back to %s", to))
	})
}

// switchVersion renders and starts version to, then runs verify (if any)
// on the healthy new version; when either fails it renders and starts the
// version the instance had.
func (m *Manager) switchVersion(ctx context.Context, in *site.Instance, to string, verify func() error) error {
	e, err := m.Bank.Get(in.Entry)
	if err != nil {
		return err
	}
	dir := m.Site.InstanceDir(in.Name)
	cur := filepath.Join(dir, instance.RenderedFile)
	prev := filepath.Join(dir, previousFile)
	data, err := os.ReadFile(cur)
	if err != nil {
		return fmt.Errorf("keep rendered project of %s: %w", in.Name, err)
	}
	if err := site.WriteFileAtomic(prev, data, 0o600); err != nil {
		return err
	}
	from := in.Version
	next := *in
	next.Version = to
	next.PreviousVersion = from
	next.Changed = m.now()
	m.step("switch %s from %s to %s", in.Name, from, to)
	upErr := m.bringUp(ctx, &next, e, nil)
	if upErr == nil && verify != nil {
		upErr = verify()
	}
	if upErr == nil {
		*in = next
		return m.Site.Save(in)
	}
	m.step("version %s failed (%v); going back to %s", to, upErr, from)
	back := *in
	back.Changed = m.now()
	if err := m.bringUp(ctx, &back, e, nil); err != nil {
		return fmt.Errorf("upgrade %s to %s: %v; going back to %s failed too: %w; volumes are untouched, see `dockerbank ps %s`",
			in.Name, to, upErr, from, err, in.Name)
	}
	*in = back
	return fmt.Errorf("%w: %s runs %s again, volumes untouched; cause: %w", ErrRolledBack, in.Name, from, upErr)
}

// fresh reports whether the instance has a backup newer than its last change.
func fresh(in *site.Instance) bool {
	return !in.LastBackup.IsZero() && !in.LastBackup.Before(in.Changed)
}

// staleTenants returns the tenants without a backup since their last
// change.
func (m *Manager) staleTenants(ts []Tenant) []string {
	var stale []string
	for _, t := range ts {
		in, err := m.Site.Instance(t.Instance)
		if err != nil || !fresh(in) {
			stale = append(stale, t.Instance)
		}
	}
	return stale
}

// tenantFingerprints fingerprints every tenant of a server before its
// upgrade (by instance; tenants whose entry declares none are left out).
func (m *Manager) tenantFingerprints(ctx context.Context, ts []Tenant) (map[string]*fingerprint.Fingerprint, error) {
	out := map[string]*fingerprint.Fingerprint{}
	for _, t := range ts {
		if _, ok := out[t.Instance]; ok {
			continue
		}
		in, err := m.Site.Instance(t.Instance)
		if err != nil {
			return nil, err
		}
		var specs []bank.FingerprintSpec
		for _, s := range m.FingerprintSpecs(in.Entry) {
			if !s.RestoreOnly {
				specs = append(specs, s)
			}
		}
		if len(specs) == 0 {
			continue
		}
		m.step("fingerprint tenant %s before the upgrade", t.Instance)
		fp, err := m.Fingerprint(ctx, t.Instance, specs, nil)
		if err != nil {
			return nil, fmt.Errorf("tenant %s: %w", t.Instance, err)
		}
		out[t.Instance] = fp
	}
	return out, nil
}

// verifyTenants waits until every tenant of an upgraded server is healthy
// again, runs its checks and compares its fingerprint with the one
// before; it returns the number of items compared. An error makes the
// upgrade roll back.
func (m *Manager) verifyTenants(ctx context.Context, ts []Tenant, before map[string]*fingerprint.Fingerprint) (int, error) {
	items := 0
	for _, t := range ts {
		in, err := m.Site.Instance(t.Instance)
		if err != nil {
			return 0, err
		}
		if in.State != site.StateUp {
			continue
		}
		e, err := m.Bank.Get(in.Entry)
		if err != nil {
			return 0, err
		}
		m.step("tenant %s: wait for health, run its checks", t.Instance)
		if err := m.upAndCheck(ctx, in, e); err != nil {
			return 0, fmt.Errorf("tenant %s after the upgrade: %w", t.Instance, err)
		}
		fp := before[t.Instance]
		if fp == nil {
			continue
		}
		after, err := m.Fingerprint(ctx, t.Instance, fp.Specs, fp)
		if err != nil {
			return 0, fmt.Errorf("tenant %s after the upgrade: %w", t.Instance, err)
		}
		r, err := fingerprint.Check(t.Instance, "its fingerprint before the upgrade of "+t.Server, fp, after)
		if err != nil {
			return 0, fmt.Errorf("tenant %s: %w", t.Instance, err)
		}
		items += r.Items
		m.step("  tenant %s: fingerprint kept (%d items)", t.Instance, r.Items)
	}
	return items, nil
}
