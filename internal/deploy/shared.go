package deploy

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/dockerbank/dockerbank/internal/bank"
	"github.com/dockerbank/dockerbank/internal/engine"
	"github.com/dockerbank/dockerbank/internal/instance/label"
	"github.com/dockerbank/dockerbank/internal/site"
)

// ErrBadUse means a `deploy --use SERVICE=INSTANCE` cannot be honoured:
// the entry has no such shareable service, the instance is no
// infrastructure, or its server runs another engine.
var ErrBadUse = errors.New("cannot use that instance")

// ErrInUse means an infrastructure instance still serves other instances.
var ErrInUse = errors.New("instance in use")

// Networks creates the link networks between a tenant and its shared
// server.
type Networks interface {
	// EnsureNetwork creates an internal network unless it exists.
	EnsureNetwork(ctx context.Context, name string, labels map[string]string) error
	// ConnectNetwork connects a container under aliases (no-op when
	// connected already).
	ConnectNetwork(ctx context.Context, name, containerID string, aliases []string) error
	// RemoveNetwork disconnects everything from a network and removes it.
	RemoveNetwork(ctx context.Context, name string) error
}

// Tenant is one instance's use of a shared server: which service of its
// entry the server replaces, and the database and role it has there.
type Tenant struct {
	Instance string `json:"instance"`
	Service  string `json:"service"`
	Server   string `json:"server"`
	Engine   string `json:"engine"`
	Database string `json:"database"`
	Role     string `json:"role"`
	// Secret is the tenant's generated secret holding the role's password.
	Secret string `json:"secret"`
}

// LinkNetwork is the name of the network on which an instance reaches its
// shared servers (the server's container joins it with the service's name
// as alias): one per tenant, so tenants never reach each other.
func LinkNetwork(instance string) string { return instance + "_dockerbank-link" }

// LinkNetworkKey is the compose name of the link network in the tenant's
// rendered project.
const LinkNetworkKey = "dockerbank-link"

// reservedIdents are database and role names a tenant may not take.
var reservedIdents = []string{"postgres", "template0", "template1", "root", "mysql", "sys",
	"information_schema", "performance_schema", "public"}

// TenantIdent derives the database and role name of an instance in a shared
// server: the instance name itself (at most 63 characters of
// [a-z0-9_-], always quoted), refused when it is a name the server
// reserves.
func TenantIdent(instance string) (string, error) {
	if err := site.ValidName(instance); err != nil {
		return "", err
	}
	if slices.Contains(reservedIdents, instance) || strings.HasPrefix(instance, "pg_") {
		return "", fmt.Errorf("%w: %s is a reserved database or role name of the server; deploy under another --name", ErrBadUse, instance)
	}
	return instance, nil
}

// ServerFacts is what PlanUses knows of a --use target.
type ServerFacts struct {
	Record *site.Instance // nil: no such instance
	Entry  *bank.Entry    // its entry (nil when the record is nil)
}

// ServerService returns the database service of an infrastructure entry
// and its engine.
func ServerService(e *bank.Entry) (service, eng string, ok bool) {
	if e == nil || e.Model == nil || !e.IsInfrastructure() {
		return "", "", false
	}
	for _, name := range slices.Sorted(maps.Keys(e.Model.Services)) {
		s := e.Model.Services[name]
		if s.Role == bank.RoleDatabase && (s.Engine == bank.EnginePostgres || s.Engine == bank.EngineMariaDB) {
			return name, s.Engine, true
		}
	}
	return "", "", false
}

// PlanUses checks every --use of a new instance of e and returns the
// tenancies, sorted by service; it reports every refusal at once.
func PlanUses(e *bank.Entry, instance string, uses map[string]string, servers map[string]ServerFacts) ([]Tenant, error) {
	var out []Tenant
	var errs []error
	for _, svc := range slices.Sorted(maps.Keys(uses)) {
		srv := uses[svc]
		sh, ok := e.ShareableService(svc)
		if !ok {
			var names []string
			for _, s := range e.Shareable {
				names = append(names, s.Service)
			}
			hint := "entry " + e.ID + " has no shareable service"
			if len(names) > 0 {
				hint = "entry " + e.ID + " can share " + strings.Join(names, ", ")
			}
			errs = append(errs, fmt.Errorf("%w: --use %s=%s: %s", ErrBadUse, svc, srv, hint))
			continue
		}
		f := servers[srv]
		if f.Record == nil {
			errs = append(errs, fmt.Errorf("--use %s=%s: %w %s; deploy it first, e.g. `dockerbank deploy %s --name %s`", svc, srv, site.ErrNoInstance, srv, sh.Engine, srv))
			continue
		}
		ssvc, eng, ok := ServerService(f.Entry)
		if !ok {
			errs = append(errs, fmt.Errorf("%w: --use %s=%s: %s is an instance of %s, not of an infrastructure entry such as postgres or mariadb", ErrBadUse, svc, srv, srv, f.Record.Entry))
			continue
		}
		if eng != sh.Engine {
			errs = append(errs, fmt.Errorf("%w: --use %s=%s: service %s needs a %s server, %s runs %s", ErrBadUse, svc, srv, svc, sh.Engine, srv, eng))
			continue
		}
		if len(f.Record.Uses) > 0 {
			errs = append(errs, fmt.Errorf("%w: --use %s=%s: %s itself uses another instance", ErrBadUse, svc, srv, srv))
			continue
		}
		_ = ssvc
		id, err := TenantIdent(instance)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if eng != bank.EnginePostgres {
			errs = append(errs, fmt.Errorf("%w: --use %s=%s: tenants of a shared %s server are not provisioned yet (only postgres); deploy without --use", ErrBadUse, svc, srv, eng))
			continue
		}
		out = append(out, Tenant{Instance: instance, Service: svc, Server: srv, Engine: eng, Database: id, Role: id, Secret: sh.PasswordSecret})
	}
	return out, errors.Join(errs...)
}

// DetachShared rewrites a tenant's project for its shared servers: the
// replaced service and the volumes only it mounted go, nothing depends on
// it any more, the services that used it are told the tenant's database
// and user and join the link network, on which the server answers under
// the service's name.
func DetachShared(p *types.Project, e *bank.Entry, tenants []Tenant) error {
	for _, t := range tenants {
		sh, ok := e.ShareableService(t.Service)
		if !ok {
			return fmt.Errorf("%w: entry %s has no shareable service %s", ErrBadUse, e.ID, t.Service)
		}
		if _, ok := p.Services[t.Service]; !ok {
			return fmt.Errorf("%w: this version of %s has no service %s", ErrBadUse, e.ID, t.Service)
		}
		delete(p.Services, t.Service)
		mounted := map[string]bool{}
		linked := 0
		for name, s := range p.Services {
			for _, v := range s.Volumes {
				if v.Type == types.VolumeTypeVolume {
					mounted[v.Source] = true
				}
			}
			_, dep := s.DependsOn[t.Service]
			_, hasDB := s.Environment[sh.DatabaseEnv]
			if !dep && !hasDB {
				continue
			}
			delete(s.DependsOn, t.Service)
			if hasDB {
				s.Environment[sh.DatabaseEnv] = &t.Database
				s.Environment[sh.UserEnv] = &t.Role
				linked++
			}
			if len(s.Networks) == 0 {
				s.Networks = map[string]*types.ServiceNetworkConfig{"default": nil}
			}
			s.Networks[LinkNetworkKey] = nil
			p.Services[name] = s
		}
		if linked == 0 {
			return fmt.Errorf("%w: no service of this version of %s reads its database name from %s; it cannot use a shared server", ErrBadUse, e.ID, sh.DatabaseEnv)
		}
		for v := range p.Volumes {
			if !mounted[v] {
				delete(p.Volumes, v)
			}
		}
	}
	if p.Networks == nil {
		p.Networks = types.Networks{}
	}
	if _, ok := p.Networks["default"]; !ok {
		p.Networks["default"] = types.NetworkConfig{Name: p.Name + "_default"}
	}
	p.Networks[LinkNetworkKey] = types.NetworkConfig{Name: LinkNetwork(p.Name), External: true}
	return nil
}

// tenants returns the tenancies recorded for an instance.
func (m *Manager) tenants(in *site.Instance) ([]Tenant, error) {
	if len(in.Uses) == 0 {
		return nil, nil
	}
	var e *bank.Entry
	if m.Bank != nil { // a drill's teardown removes without a bank
		var err error
		if e, err = m.Bank.Get(in.Entry); err != nil {
			return nil, err
		}
	}
	var out []Tenant
	for _, svc := range slices.Sorted(maps.Keys(in.Uses)) {
		srv := in.Uses[svc]
		sh := bank.Shareable{Service: svc, Engine: bank.EnginePostgres}
		if e != nil {
			var ok bool
			if sh, ok = e.ShareableService(svc); !ok {
				return nil, fmt.Errorf("%w: instance %s uses %s for service %s, which entry %s no longer declares shareable", ErrBadUse, in.Name, srv, svc, e.ID)
			}
		}
		id, err := TenantIdent(in.Name)
		if err != nil {
			return nil, err
		}
		out = append(out, Tenant{Instance: in.Name, Service: svc, Server: srv, Engine: sh.Engine, Database: id, Role: id, Secret: sh.PasswordSecret})
	}
	return out, nil
}

// Tenants returns the tenancies of an instance (none when it runs all its
// services itself).
func (m *Manager) Tenants(name string) ([]Tenant, error) {
	in, err := m.Site.Instance(name)
	if err != nil {
		return nil, err
	}
	return m.tenants(in)
}

// TenantsOf returns the tenancies of every instance that uses server.
func (m *Manager) TenantsOf(server string) ([]Tenant, error) {
	all, err := m.Site.Instances()
	if err != nil {
		return nil, err
	}
	var out []Tenant
	for _, in := range all {
		ts, err := m.tenants(in)
		if err != nil {
			return nil, err
		}
		for _, t := range ts {
			if t.Server == server {
				out = append(out, t)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Instance < out[j].Instance })
	return out, nil
}

// ServerContainer returns the running database container of a shared
// server instance (by its role label: no bank needed, so that a drill's
// teardown finds it too).
func (m *Manager) ServerContainer(ctx context.Context, server string) (engine.Container, error) {
	ctrs, err := m.Engine.Containers(ctx, map[string]string{engine.LabelProject: server})
	if err != nil {
		return engine.Container{}, err
	}
	for _, c := range ctrs {
		if c.Labels[label.Role] == bank.RoleDatabase && c.State == "running" {
			return c, nil
		}
	}
	return engine.Container{}, fmt.Errorf("the database server of %s is not running; start it with `dockerbank start %s`", server, server)
}

func (m *Manager) networks() (Networks, error) {
	n, ok := m.Engine.(Networks)
	if !ok {
		return nil, errors.New("this engine cannot create the networks shared servers need")
	}
	return n, nil
}

// linkTenant makes sure the tenant's link network exists and the server's
// container is on it under the replaced service's name.
func (m *Manager) linkTenant(ctx context.Context, t Tenant) error {
	n, err := m.networks()
	if err != nil {
		return err
	}
	c, err := m.ServerContainer(ctx, t.Server)
	if err != nil {
		return err
	}
	net := LinkNetwork(t.Instance)
	if err := n.EnsureNetwork(ctx, net, map[string]string{label.Instance: t.Instance}); err != nil {
		return err
	}
	return n.ConnectNetwork(ctx, net, c.ID, []string{t.Service})
}

// provisionTenant creates (or updates) the tenant's role with the
// password of its secret and its database, owned by the role, that no
// other role may connect to. The password leaves the site only as a
// SCRAM verifier.
func (m *Manager) provisionTenant(ctx context.Context, t Tenant) error {
	pw, err := m.Site.Secret(t.Instance, t.Secret, 32)
	if err != nil {
		return err
	}
	c, err := m.ServerContainer(ctx, t.Server)
	if err != nil {
		return err
	}
	verifier, err := scramVerifier(pw)
	if err != nil {
		return err
	}
	m.step("create database %s and role %s in %s", t.Database, t.Role, t.Server)
	role := quoteIdent(t.Role)
	stmts := fmt.Sprintf(`DO $do$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = %s) THEN CREATE ROLE %s; END IF; END$do$;
ALTER ROLE %s LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD %s;`, quoteLiteral(t.Role), role, role, quoteLiteral(verifier))
	if _, err := m.Engine.ExecOutput(ctx, c.ID, superPSQL("postgres", stmts)...); err != nil {
		return fmt.Errorf("create role %s in %s: %w", t.Role, t.Server, err)
	}
	out, err := m.Engine.ExecOutput(ctx, c.ID, superPSQL("postgres", "SELECT count(*) FROM pg_database WHERE datname = "+quoteLiteral(t.Database))...)
	if err != nil {
		return fmt.Errorf("look for database %s in %s: %w", t.Database, t.Server, err)
	}
	if strings.TrimSpace(out) == "0" {
		if _, err := m.Engine.ExecOutput(ctx, c.ID, superPSQL("postgres", "CREATE DATABASE "+quoteIdent(t.Database)+" OWNER "+role)...); err != nil {
			return fmt.Errorf("create database %s in %s: %w", t.Database, t.Server, err)
		}
	}
	if _, err := m.Engine.ExecOutput(ctx, c.ID, superPSQL("postgres", "REVOKE CONNECT, TEMPORARY ON DATABASE "+quoteIdent(t.Database)+" FROM PUBLIC")...); err != nil {
		return fmt.Errorf("restrict database %s in %s: %w", t.Database, t.Server, err)
	}
	return nil
}

// dropTenant drops the tenant's database and role (purge).
func (m *Manager) dropTenant(ctx context.Context, t Tenant) error {
	c, err := m.ServerContainer(ctx, t.Server)
	if err != nil {
		return err
	}
	m.step("drop database %s and role %s in %s", t.Database, t.Role, t.Server)
	for _, st := range []string{
		"DROP DATABASE IF EXISTS " + quoteIdent(t.Database) + " WITH (FORCE)",
		"DROP ROLE IF EXISTS " + quoteIdent(t.Role),
	} {
		if _, err := m.Engine.ExecOutput(ctx, c.ID, superPSQL("postgres", st)...); err != nil {
			return fmt.Errorf("purge %s in %s: %w", t.Database, t.Server, err)
		}
	}
	return nil
}

// tenantCheck proves the tenant's role reaches its database in the server.
func (m *Manager) tenantCheck(ctx context.Context, t Tenant) error {
	c, err := m.ServerContainer(ctx, t.Server)
	if err != nil {
		return err
	}
	cmd := []string{"psql", "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-U", t.Role, "-d", t.Database, "-c", "select 1"}
	if _, err := m.Engine.ExecOutput(ctx, c.ID, cmd...); err != nil {
		return fmt.Errorf("database %s of %s in %s: %w", t.Database, t.Instance, t.Server, err)
	}
	return nil
}

// relinkTenants connects a shared server's (possibly recreated) container
// to the link network of every tenant again.
func (m *Manager) relinkTenants(ctx context.Context, server string) error {
	ts, err := m.TenantsOf(server)
	if err != nil {
		return err
	}
	for _, t := range ts {
		if err := m.linkTenant(ctx, t); err != nil {
			return fmt.Errorf("link tenant %s to %s: %w", t.Instance, server, err)
		}
	}
	return nil
}

func superPSQL(db, sql string) []string {
	return []string{"psql", "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-U", "postgres", "-d", db, "-c", sql}
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func quoteLiteral(s string) string { return `'` + strings.ReplaceAll(s, `'`, `''`) + `'` }
