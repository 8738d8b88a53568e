package bank

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// Extension is the name of dockerbank's compose extension.
const Extension = "x-dockerbank"

// Service roles.
const (
	RoleApp      = "app"
	RoleDatabase = "database"
	RoleProxy    = "proxy"
	RoleJob      = "job"
)

// Volume classes.
const (
	ClassUserdata = "userdata"
	ClassConfig   = "config"
	ClassCache    = "cache"
	ClassTemp     = "temp"
)

// Backup methods.
const (
	BackupPostgresDump = "postgres-dump"
	BackupMySQLDump    = "mysql-dump"
	BackupMongoDump    = "mongo-dump"
	BackupFiles        = "files"
	BackupNone         = "none"
)

// Quiesce modes.
const (
	QuiesceNone     = "none"
	QuiesceReadonly = "readonly"
	QuiescePause    = "pause"
	QuiesceStop     = "stop"
)

var (
	roles    = []string{RoleApp, RoleDatabase, RoleProxy, RoleJob}
	classes  = []string{ClassUserdata, ClassConfig, ClassCache, ClassTemp}
	backups  = []string{BackupPostgresDump, BackupMySQLDump, BackupMongoDump, BackupFiles, BackupNone}
	quiesces = []string{QuiesceNone, QuiesceReadonly, QuiescePause, QuiesceStop}
	engines  = []string{EnginePostgres, EngineMariaDB, "mysql", "mongo"}
)

// Database engines a shared server can run (Shareable.Engine).
const (
	EnginePostgres = "postgres"
	EngineMariaDB  = "mariadb"
)

// ServiceExt is x-dockerbank on a service.
type ServiceExt struct {
	Role   string `mapstructure:"role" yaml:"role" json:"role"`
	Engine string `mapstructure:"engine" yaml:"engine,omitempty" json:"engine,omitempty"`
	// Scale marks an app service that may run as several replicas on the
	// same volumes and database (`dockerbank scale`); nil: exactly one.
	Scale *ScaleExt `mapstructure:"scale" yaml:"scale,omitempty" json:"scale,omitempty"`
}

// ScaleExt is x-dockerbank.scale on a service: how many replicas the
// application supports on shared data, and which of its container ports
// speak HTTP (the proxy balances those per request, every other port per
// TCP connection).
type ScaleExt struct {
	Max  int      `mapstructure:"max" yaml:"max" json:"max"`
	HTTP []uint32 `mapstructure:"http" yaml:"http,omitempty" json:"http,omitempty"`
}

// MaxScale bounds scale.max: the proxy renders one server slot per
// possible replica.
const MaxScale = 16

// VolumeExt is x-dockerbank on a top-level volume.
type VolumeExt struct {
	Class   string `mapstructure:"class" yaml:"class" json:"class"`
	Backup  string `mapstructure:"backup" yaml:"backup,omitempty" json:"backup,omitempty"`
	Quiesce string `mapstructure:"quiesce" yaml:"quiesce,omitempty" json:"quiesce,omitempty"`
	// SingleWriter says why only one container may write the volume at a
	// time (an SQLite database, a file lock): no service mounting it may
	// be scaled. See SingleWriterReason for volumes whose backup implies it.
	SingleWriter string `mapstructure:"singleWriter" yaml:"singleWriter,omitempty" json:"singleWriter,omitempty"`
}

// SingleWriterReason says why a volume admits one writer only, or "" when
// several containers may share it: what the entry says (singleWriter), else
// what its backup method implies: a volume backed up by a database dump is
// a database server's data directory, which one server process owns.
func (v VolumeExt) SingleWriterReason() string {
	if v.SingleWriter != "" {
		return v.SingleWriter
	}
	if strings.HasSuffix(v.Backup, "-dump") {
		return "data directory of a database server (backup " + v.Backup + ")"
	}
	return ""
}

// SecretExt is x-dockerbank on a top-level secret.
type SecretExt struct {
	Generate struct {
		Length int `mapstructure:"length" yaml:"length" json:"length"`
	} `mapstructure:"generate" yaml:"generate" json:"generate"`
}

// ComposeModel is what dockerbank needs to know of an entry's compose
// project: the role of each service, the class and backup method of each
// volume, and the secrets to generate.
type ComposeModel struct {
	Services map[string]ServiceMeta `json:"services"`
	Volumes  map[string]VolumeMeta  `json:"volumes"`
	Secrets  map[string]SecretMeta  `json:"secrets,omitempty"`
}

// ServiceMeta describes one service.
type ServiceMeta struct {
	ServiceExt `yaml:",inline"`
	Image      string   `json:"image"`
	DependsOn  []string `json:"dependsOn,omitempty"`
	Healthy    bool     `json:"healthcheck"`
}

// VolumeMeta describes one named volume and the services mounting it.
type VolumeMeta struct {
	VolumeExt `yaml:",inline"`
	// Mounts maps the services that mount the volume to the path inside.
	Mounts map[string]string `json:"mounts"`
}

// SecretMeta describes one generated secret.
type SecretMeta struct {
	Length      int    `json:"length"`
	Environment string `json:"environment"`
}

// LoadOptions says how to load the compose files of an entry.
type LoadOptions struct {
	Dir      string   // directory holding the compose files
	Files    []string // compose files, relative to Dir
	Name     string   // project name
	Env      []string // KEY=VALUE interpolation variables
	Profiles []string
}

// LoadProject loads compose files with compose-go: interpolation, .env,
// profiles and extends, as compose itself does.
func LoadProject(ctx context.Context, o LoadOptions) (*types.Project, error) {
	files := make([]string, len(o.Files))
	for i, f := range o.Files {
		if !filepath.IsAbs(f) {
			f = filepath.Join(o.Dir, f)
		}
		files[i] = f
	}
	opts, err := cli.NewProjectOptions(files,
		cli.WithWorkingDirectory(o.Dir),
		cli.WithName(o.Name),
		cli.WithEnv(o.Env),
		cli.WithDotEnv,
		cli.WithProfiles(o.Profiles),
		cli.WithResolvedPaths(true),
	)
	if err != nil {
		return nil, fmt.Errorf("prepare compose project: %w", err)
	}
	p, err := opts.LoadProject(ctx)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Model extracts dockerbank's view of a loaded project. It does not
// validate; see Validate.
func Model(p *types.Project) (*ComposeModel, error) {
	m := &ComposeModel{
		Services: map[string]ServiceMeta{},
		Volumes:  map[string]VolumeMeta{},
		Secrets:  map[string]SecretMeta{},
	}
	for name, s := range p.Services {
		var ext ServiceExt
		if _, err := s.Extensions.Get(Extension, &ext); err != nil {
			return nil, fmt.Errorf("service %s: read %s: %w", name, Extension, err)
		}
		meta := ServiceMeta{ServiceExt: ext, Image: s.Image, Healthy: s.HealthCheck != nil && !s.HealthCheck.Disable}
		for dep := range s.DependsOn {
			meta.DependsOn = append(meta.DependsOn, dep)
		}
		sort.Strings(meta.DependsOn)
		m.Services[name] = meta
	}
	for name, v := range p.Volumes {
		var ext VolumeExt
		if _, err := v.Extensions.Get(Extension, &ext); err != nil {
			return nil, fmt.Errorf("volume %s: read %s: %w", name, Extension, err)
		}
		m.Volumes[name] = VolumeMeta{VolumeExt: ext, Mounts: map[string]string{}}
	}
	for sname, s := range p.Services {
		for _, mnt := range s.Volumes {
			if mnt.Type != types.VolumeTypeVolume || mnt.Source == "" {
				continue
			}
			if v, ok := m.Volumes[mnt.Source]; ok {
				v.Mounts[sname] = mnt.Target
			}
		}
	}
	for name, s := range p.Secrets {
		var ext SecretExt
		if _, err := s.Extensions.Get(Extension, &ext); err != nil {
			return nil, fmt.Errorf("secret %s: read %s: %w", name, Extension, err)
		}
		if ext.Generate.Length > 0 {
			m.Secrets[name] = SecretMeta{Length: ext.Generate.Length, Environment: s.Environment}
		}
	}
	return m, nil
}

// SecretEnv is the environment variable that carries a generated secret to
// compose, which copies it into /run/secrets/NAME of the containers using it.
func SecretEnv(name string) string {
	return "DOCKERBANK_SECRET_" + strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(name))
}

// DatabaseFor returns the service that mounts a dump-backed volume.
func (m *ComposeModel) DatabaseFor(volume string) (string, bool) {
	v, ok := m.Volumes[volume]
	if !ok {
		return "", false
	}
	for svc := range v.Mounts {
		if m.Services[svc].Role == RoleDatabase {
			return svc, true
		}
	}
	return "", false
}

func oneOf(v string, allowed []string) bool {
	for _, a := range allowed {
		if v == a {
			return true
		}
	}
	return false
}
