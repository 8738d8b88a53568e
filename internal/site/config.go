package site

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/dockerbank/dockerbank/internal/schedule"
)

// ConfigFile is the site's settings file.
const ConfigFile = "site.yaml"

// Config is the versioned settings file of a site.
type Config struct {
	APIVersion string `yaml:"apiVersion"`
	// Banks are directories with extra entries, searched before the
	// embedded bank.
	Banks []string `yaml:"banks,omitempty"`
	// Backup holds the backup repository settings (see the backup job).
	Backup BackupConfig `yaml:"backup,omitempty"`
	// Protect overrides the entries' protect policies (schedules of
	// backups and restore drills, retention) for the whole site and per
	// instance.
	Protect ProtectConfig `yaml:"protect,omitempty"`
	// Heal overrides the entries' heal modes (what serve may do when an
	// instance's containers stay unhealthy) for the site and per instance.
	Heal HealConfig `yaml:"heal,omitempty"`
	// Storage maps volume classes and single volumes to host directories,
	// shares or volume drivers (docs/storage.md).
	Storage StorageConfig `yaml:"storage,omitempty"`
}

// HealConfig is the site's layer of heal modes: off, restart or recreate.
type HealConfig struct {
	Default   string            `yaml:"default,omitempty"`
	Instances map[string]string `yaml:"instances,omitempty"`
}

// ProtectConfig is the site's layer of protect policies.
type ProtectConfig struct {
	// Default applies to every instance, over its entry's policy.
	Default *schedule.Policy `yaml:"default,omitempty"`
	// Instances apply to one instance each, over Default.
	Instances map[string]*schedule.Policy `yaml:"instances,omitempty"`
}

// BackupConfig says where backups go.
type BackupConfig struct {
	// Repository is a restic repository: a path or an sftp:, s3:, rest: URL.
	// Default: <site>/backups.
	Repository string `yaml:"repository,omitempty"`
	// Compression is restic's compression of new data: auto (the
	// default), off (faster on a CPU-bound host, larger repository) or max.
	Compression string `yaml:"compression,omitempty"`
	// Access holds how the primary repository is reached when it is
	// remote (credentials, ssh, CA, limits).
	Access `yaml:",inline"`
	// Copies are off-site repositories every complete group is copied
	// to (3-2-1: three copies, two media, one off site).
	Copies []CopyConfig `yaml:"copies,omitempty"`
}

// Access says how a restic repository is reached. Secrets are only ever
// read from files (mode 0600), never from site.yaml itself.
type Access struct {
	// CredentialsFile holds KEY=VALUE lines: AWS_ACCESS_KEY_ID and
	// AWS_SECRET_ACCESS_KEY (s3:), REST_USERNAME and REST_PASSWORD (rest:).
	CredentialsFile string `yaml:"credentialsFile,omitempty"`
	// SSHConfigFile is the ssh_config used for sftp: (identity, known
	// hosts, port); default ssh's own.
	SSHConfigFile string `yaml:"sshConfigFile,omitempty"`
	// CACertFile holds the CA certificates a rest: or s3: server over
	// https is checked against; default the system's.
	CACertFile string `yaml:"caCertFile,omitempty"`
	// LimitUpload and LimitDownload cap restic's traffic in KiB/s.
	LimitUpload   int `yaml:"limitUpload,omitempty"`
	LimitDownload int `yaml:"limitDownload,omitempty"`
	// StallTimeout ends a restic run that moved no byte for this long
	// (a cut network, a server that stopped answering); default 2m.
	StallTimeout string `yaml:"stallTimeout,omitempty"`
}

// CopyConfig is one off-site copy of the backups.
type CopyConfig struct {
	// Name identifies the copy in commands, metrics and the journal;
	// default copy1, copy2...
	Name string `yaml:"name,omitempty"`
	// Repository is a restic repository URL (sftp:, s3:, rest:) or path.
	Repository string `yaml:"repository"`
	// PasswordFile holds the copy repository's own password (0600).
	PasswordFile string `yaml:"passwordFile"`
	// Schedule runs the copy on its own (e.g. "daily 04:00") instead of
	// after every backup.
	Schedule string `yaml:"schedule,omitempty"`
	// MaxAge is how far the newest verified copy of an instance may lag
	// behind before an alert fires; default 26h.
	MaxAge string `yaml:"maxAge,omitempty"`
	// CheckEvery is how often the whole copy repository gets restic
	// check after a copy (every copy checks the groups it holds); default
	// 24h, 0s after every copy.
	CheckEvery string `yaml:"checkEvery,omitempty"`
	// Keep overrides the retention applied to this copy.
	Keep   *schedule.Keep `yaml:"keep,omitempty"`
	Access `yaml:",inline"`
}

// CopyName is the name of the i-th copy (0-based).
func (c CopyConfig) CopyName(i int) string {
	if c.Name != "" {
		return c.Name
	}
	return fmt.Sprintf("copy%d", i+1)
}

const configVersion = "dockerbank/v1"

// Config reads site.yaml (strictly: unknown keys are errors); a missing
// file is the default configuration.
func (s *Site) Config() (*Config, error) {
	path := filepath.Join(s.Dir, ConfigFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &Config{APIVersion: configVersion}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read site config: %w", err)
	}
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("read site config %s: %w", path, err)
	}
	if c.APIVersion != configVersion {
		return nil, fmt.Errorf("site config %s: apiVersion %q is not %s", path, c.APIVersion, configVersion)
	}
	switch c.Backup.Compression {
	case "", "auto", "off", "max":
	default:
		return nil, fmt.Errorf("site config %s: backup.compression %q: write auto, off or max", path, c.Backup.Compression)
	}
	if err := c.validate(path, data); err != nil {
		return nil, err
	}
	return &c, nil
}

// SaveConfig writes site.yaml.
func (s *Site) SaveConfig(c *Config) error {
	c.APIVersion = configVersion
	data, err := yaml.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode site config: %w", err)
	}
	return WriteFileAtomic(filepath.Join(s.Dir, ConfigFile), data, 0o600)
}

// validate returns every problem of the protect policies, at file:line.
func (c *Config) validate(path string, data []byte) error {
	var root yaml.Node
	_ = yaml.Unmarshal(data, &root) // decoded once already
	var errs []error
	check := func(p *schedule.Policy, keys ...string) {
		if p == nil {
			return
		}
		for _, pr := range p.Validate() {
			at := append(append([]string{}, keys...), strings.Split(pr.Field, ".")...)
			errs = append(errs, fmt.Errorf("%s:%d: %s: %s (see docs/watch.md, Scheduler)", path, nodeLine(&root, at...), strings.Join(at, "."), pr.Message))
		}
	}
	errs = append(errs, c.validateBackup(path, &root)...)
	errs = append(errs, c.validateStorage(path, &root)...)
	checkHeal := func(mode string, keys ...string) {
		if mode == "" {
			return
		}
		if _, err := schedule.ParseHealMode(mode); err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %s: %v (see docs/watch.md, Self-healing)", path, nodeLine(&root, keys...), strings.Join(keys, "."), err))
		}
	}
	checkHeal(c.Heal.Default, "heal", "default")
	for _, name := range slices.Sorted(maps.Keys(c.Heal.Instances)) {
		checkHeal(c.Heal.Instances[name], "heal", "instances", name)
	}
	check(c.Protect.Default, "protect", "default")
	for _, name := range slices.Sorted(maps.Keys(c.Protect.Instances)) {
		check(c.Protect.Instances[name], "protect", "instances", name)
	}
	return errors.Join(errs...)
}

// nodeLine is the line of the deepest key of path found in a YAML document.
func nodeLine(n *yaml.Node, path ...string) int {
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := 1
	for _, key := range path {
		if n.Kind == yaml.SequenceNode {
			i, err := strconv.Atoi(key)
			if err != nil || i < 0 || i >= len(n.Content) {
				return line
			}
			n = n.Content[i]
			line = n.Line
			continue
		}
		if n.Kind != yaml.MappingNode {
			return line
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				line, next = n.Content[i].Line, n.Content[i+1]
				break
			}
		}
		if next == nil {
			return line
		}
		n = next
	}
	return line
}
