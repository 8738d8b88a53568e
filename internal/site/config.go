package site

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"
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
}

// BackupConfig says where backups go.
type BackupConfig struct {
	// Repository is a restic repository: a path or an sftp:, s3:, rest: URL.
	// Default: <site>/backups.
	Repository string `yaml:"repository,omitempty"`
	// Compression is restic's compression of new data: auto (the
	// default), off (faster on a CPU-bound host, larger repository) or max.
	Compression string `yaml:"compression,omitempty"`
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
