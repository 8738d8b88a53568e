package deploy

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"sort"
	"strings"

	"github.com/dockerbank/dockerbank/internal/bank"
	"github.com/dockerbank/dockerbank/internal/instance/label"
	"github.com/dockerbank/dockerbank/internal/site"
)

// ErrNameTaken means an instance of that name exists already.
var ErrNameTaken = errors.New("instance name taken")

// DeployOptions says what to deploy.
type DeployOptions struct {
	Entry   string
	Name    string // default: the entry id
	Version string // default: the entry's default version
	Variant string
	Set     map[string]string
	// EphemeralPorts publishes the instance's ports on host ports the
	// engine picks (see site.Instance.EphemeralPorts).
	EphemeralPorts bool
	// Scale runs replicas of scaled services from the start (restore --as
	// of a scaled instance); see Scale.
	Scale map[string]int
	// Uses maps services of the entry to infrastructure instances that
	// serve them instead (--use db=pg1): see PlanUses.
	Uses map[string]string
}

// Deploy renders an entry into a new instance and brings it up, healthy.
// Deploying the name of an instance that is down, with the same entry,
// brings it up again with its recorded version, parameters and secrets.
func (m *Manager) Deploy(ctx context.Context, o DeployOptions) (*site.Instance, error) {
	if o.Name == "" {
		o.Name = o.Entry
	}
	if err := site.ValidName(o.Name); err != nil {
		return nil, err
	}
	var in *site.Instance
	err := m.locked(ctx, func() error {
		var err error
		in, err = m.deploy(ctx, o)
		return err
	})
	return in, err
}

func (m *Manager) deploy(ctx context.Context, o DeployOptions) (*site.Instance, error) {
	e, err := m.Bank.Get(o.Entry)
	if err != nil {
		return nil, err
	}
	in, err := m.Site.Instance(o.Name)
	var plan *site.StorageConfig
	switch {
	case err == nil:
		if in.Entry != o.Entry || in.State == site.StateUp || o.Version != "" && o.Version != in.Version || len(o.Set) > 0 || len(o.Uses) > 0 && !maps.Equal(o.Uses, in.Uses) {
			return nil, fmt.Errorf("%w: %s is already an instance of %s %s (%s); choose another --name, or use `dockerbank upgrade`/`start` on it",
				ErrNameTaken, o.Name, in.Entry, in.Version, in.State)
		}
		m.step("instance %s exists and is down: bringing it up again with version %s", in.Name, in.Version)
	case errors.Is(err, site.ErrNoInstance):
		r, err := e.Resolve(o.Version, o.Variant, o.Set)
		if err != nil {
			return nil, err
		}
		if err := m.checkLeftovers(ctx, o.Name); err != nil {
			return nil, err
		}
		ver := r.Version
		if err := m.checkBuilt(ctx, e, ver); err != nil {
			return nil, err
		}
		if e.IsInfrastructure() && len(o.Uses) > 0 {
			return nil, fmt.Errorf("%w: %s is infrastructure itself and uses no other instance", ErrBadUse, e.ID)
		}
		if _, err := m.planUses(e, o.Name, o.Uses); err != nil {
			return nil, err
		}
		cfg, err := m.Site.Config()
		if err != nil {
			return nil, err
		}
		plan = &cfg.Storage
		now := m.now()
		in = &site.Instance{Name: o.Name, Entry: e.ID, Version: ver.Version, Variant: o.Variant,
			Params: o.Set, State: site.StateUp, Created: now, Changed: now,
			EphemeralPorts: o.EphemeralPorts || m.EphemeralPorts, Scale: o.Scale, Uses: o.Uses}
	default:
		return nil, err
	}
	if err := m.journal(in.Name, "started", fmt.Sprintf("deploy %s %s", in.Entry, in.Version)); err != nil {
		return nil, err
	}
	err = m.bringUp(ctx, in, e, plan)
	return in, m.finish(in.Name, err, fmt.Sprintf("%s %s healthy", in.Entry, in.Version))
}

// bringUp renders the instance, records it, builds missing local images,
// starts it and waits for health, then runs the entry's checks. A new
// instance (plan set) gets its storage planned from site.yaml and proven
// on the engine first; when that fails nothing of it is left, not even
// its directory in the site.
func (m *Manager) bringUp(ctx context.Context, in *site.Instance, e *bank.Entry, plan *site.StorageConfig) error {
	m.step("render %s %s as instance %s", e.ID, in.Version, in.Name)
	_, err := m.render(ctx, in, e, plan)
	if err == nil && plan != nil && len(in.Storage) > 0 {
		err = m.prepareStorage(ctx, in, os.ReadFile)
	}
	if err != nil {
		if plan != nil {
			// A new instance: its rendered files are no record; the
			// secrets a restore seeded came from its backup.
			_ = os.RemoveAll(m.Site.InstanceDir(in.Name))
		}
		return err
	}
	in.State = site.StateUp
	// The record is saved before anything runs, so that an interrupted
	// deploy leaves an instance that `rm` or `deploy` can take over.
	if err := m.Site.Save(in); err != nil {
		return err
	}
	ver, _ := e.Version(in.Version)
	if err := m.ensureImages(ctx, in.Name, e, ver); err != nil {
		return err
	}
	if err := m.prepareTenancies(ctx, in); err != nil {
		return err
	}
	return m.upAndCheck(ctx, in, e)
}

func (m *Manager) upAndCheck(ctx context.Context, in *site.Instance, e *bank.Entry) error {
	if m.IsSwarm(in.Name) {
		return m.swarmUpAndCheck(ctx, in.Name, e)
	}
	p, err := m.Project(ctx, in.Name)
	if err != nil {
		return err
	}
	if err := m.linkTenants(ctx, in); err != nil {
		return err
	}
	if err := m.roll(ctx, in, p); err != nil {
		return fmt.Errorf("%w; see `dockerbank ps %s` and `dockerbank logs %s`%s", err, in.Name, in.Name, m.diagnose(ctx, in.Name))
	}
	timeout := m.healthTimeoutFor(e, in.Version)
	m.step("start %s and wait for health (timeout %s)", in.Name, timeout)
	if err := m.Engine.Up(ctx, p, engineUp(timeout)); err != nil {
		return fmt.Errorf("%w; see `dockerbank ps %s` and `dockerbank logs %s`%s", err, in.Name, in.Name, m.diagnose(ctx, in.Name))
	}
	if e.IsInfrastructure() {
		// A recreated server container has lost its tenants' networks.
		if err := m.relinkTenants(ctx, in.Name); err != nil {
			return err
		}
	}
	return m.runChecks(ctx, in.Name, e)
}

// checkLeftovers refuses a new instance whose volumes already exist: they
// belong to a removed instance and hold its data.
func (m *Manager) checkLeftovers(ctx context.Context, name string) error {
	vols, err := m.Engine.Volumes(ctx, false)
	if err != nil {
		return err
	}
	var left []string
	for _, v := range vols {
		if v.Labels[label.Instance] == name || v.Labels["com.docker.compose.project"] == name {
			left = append(left, v.Name)
		}
	}
	if len(left) == 0 {
		return nil
	}
	sort.Strings(left)
	return fmt.Errorf("%w: volumes of an earlier instance named %s still exist (%s) and hold its data; choose another --name, or restore that instance from its backup",
		ErrNameTaken, name, strings.Join(left, ", "))
}

// planUses observes the instances a new instance would use and checks
// them (PlanUses).
func (m *Manager) planUses(e *bank.Entry, name string, uses map[string]string) ([]Tenant, error) {
	if len(uses) == 0 {
		return nil, nil
	}
	facts := map[string]ServerFacts{}
	for _, srv := range uses {
		in, err := m.Site.Instance(srv)
		if errors.Is(err, site.ErrNoInstance) {
			continue
		}
		if err != nil {
			return nil, err
		}
		se, err := m.Bank.Get(in.Entry)
		if err != nil {
			return nil, err
		}
		facts[srv] = ServerFacts{Record: in, Entry: se}
	}
	return PlanUses(e, name, uses, facts)
}

// prepareTenancies creates the instance's databases and roles in its
// shared servers and links it to them, before its services start.
func (m *Manager) prepareTenancies(ctx context.Context, in *site.Instance) error {
	ts, err := m.tenants(in)
	if err != nil {
		return err
	}
	for _, t := range ts {
		if err := m.provisionTenant(ctx, t); err != nil {
			return err
		}
		if err := m.linkTenant(ctx, t); err != nil {
			return err
		}
	}
	return nil
}

// linkTenants links an instance to its shared servers (again: a server
// recreated since has lost the link).
func (m *Manager) linkTenants(ctx context.Context, in *site.Instance) error {
	ts, err := m.tenants(in)
	if err != nil {
		return err
	}
	for _, t := range ts {
		if err := m.linkTenant(ctx, t); err != nil {
			return err
		}
	}
	return nil
}
