package site

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"time"

	"gopkg.in/yaml.v3"
)

// DefaultDir is the site directory when neither a flag nor DOCKERBANK_HOME
// names one.
const DefaultDir = "/var/lib/dockerbank"

// ErrNoInstance means no instance of that name is recorded in the site.
var ErrNoInstance = errors.New("no such instance")

// Site is a directory holding the state of one host.
type Site struct {
	Dir string
}

// Open opens (and creates when missing) the site directory.
func Open(dir string) (*Site, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open site %s: %w", dir, err)
	}
	for _, d := range []string{abs, filepath.Join(abs, "instances"), filepath.Join(abs, "removed")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("open site %s: %w", abs, err)
		}
	}
	return &Site{Dir: abs}, nil
}

// Instance is the record of one deployed instance.
type Instance struct {
	Name            string            `yaml:"name" json:"name"`
	Entry           string            `yaml:"entry" json:"entry"`
	Version         string            `yaml:"version" json:"version"`
	Variant         string            `yaml:"variant,omitempty" json:"variant,omitempty"`
	Params          map[string]string `yaml:"params,omitempty" json:"params,omitempty"`
	PreviousVersion string            `yaml:"previousVersion,omitempty" json:"previousVersion,omitempty"`
	// State is what the user asked for: up or down.
	State   string    `yaml:"state" json:"state"`
	Created time.Time `yaml:"created" json:"created"`
	// Changed is the time of the last change to the instance's data or
	// version (deploy, upgrade, rollback, restore); a backup older than
	// that is not fresh.
	Changed time.Time `yaml:"changed" json:"changed"`
	// LastBackup is the time of the newest complete backup group.
	LastBackup time.Time `yaml:"lastBackup,omitempty" json:"lastBackup,omitzero"`
	// LastBackupBytes and LastBackupSeconds are the size and duration of
	// that group (set by the backup job with LastBackup).
	LastBackupBytes   int64   `yaml:"lastBackupBytes,omitempty" json:"lastBackupBytes,omitempty"`
	LastBackupSeconds float64 `yaml:"lastBackupSeconds,omitempty" json:"lastBackupSeconds,omitempty"`
	// EphemeralPorts publishes every port on a host port the engine picks
	// instead of the entry's: restore staging and drill instances run
	// beside the instance they copy, whose host ports are taken.
	EphemeralPorts bool `yaml:"ephemeralPorts,omitempty" json:"ephemeralPorts,omitempty"`
	// Storage is where the instance's mapped volumes live (by the volume's
	// name in the entry), fixed when the instance was deployed from
	// site.yaml's storage section; volumes not in it use the engine's
	// default.
	Storage map[string]VolumeStorage `yaml:"storage,omitempty" json:"storage,omitempty"`
	// Scale is the number of replicas of each service scaled by `dockerbank
	// scale` (services not listed run one); every rendering of the instance
	// (start, upgrade, restore, dr) keeps it.
	Scale map[string]int `yaml:"scale,omitempty" json:"scale,omitempty"`
	// Uses maps a service of the entry to the infrastructure instance that
	// serves it instead (deploy --use db=pg1).
	Uses map[string]string `yaml:"uses,omitempty" json:"uses,omitempty"`
}

// UsersOf returns the names of the instances that use the instance
// server, sorted.
func UsersOf(all []*Instance, server string) []string {
	var out []string
	for _, in := range all {
		for _, s := range in.Uses {
			if s == server {
				out = append(out, in.Name)
				break
			}
		}
	}
	sort.Strings(out)
	return out
}

// Instance states.
const (
	StateUp   = "up"
	StateDown = "down"
)

// ErrInvalidName means a string is not a valid instance name.
var ErrInvalidName = errors.New("invalid instance name")

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// ValidName checks an instance name: it becomes a compose project name and
// a prefix of volume names.
func ValidName(name string) error {
	if !nameRE.MatchString(name) {
		return invalidName(name)
	}
	return nil
}

type invalidName string

func (n invalidName) Error() string {
	return fmt.Sprintf("instance name %q is not valid: use lower-case letters, digits, '-' and '_', starting with a letter or digit, at most 63 characters", string(n))
}

func (n invalidName) Is(target error) bool { return target == ErrInvalidName }

// InstanceDir is the directory of an instance's files.
func (s *Site) InstanceDir(name string) string { return filepath.Join(s.Dir, "instances", name) }

func (s *Site) recordPath(name string) string {
	return filepath.Join(s.InstanceDir(name), "instance.yaml")
}

// Instance reads an instance record.
func (s *Site) Instance(name string) (*Instance, error) {
	// A name that is not valid could reach outside the site directory.
	if err := ValidName(name); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(s.recordPath(name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s (see `dockerbank ls`)", ErrNoInstance, name)
	}
	if err != nil {
		return nil, fmt.Errorf("read instance %s: %w", name, err)
	}
	var in Instance
	if err := yaml.Unmarshal(data, &in); err != nil {
		return nil, fmt.Errorf("read instance %s: %s: %w", name, s.recordPath(name), err)
	}
	return &in, nil
}

// Instances lists every recorded instance, sorted by name.
func (s *Site) Instances() ([]*Instance, error) {
	ents, err := os.ReadDir(filepath.Join(s.Dir, "instances"))
	if err != nil {
		return nil, fmt.Errorf("list instances: %w", err)
	}
	var out []*Instance
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		in, err := s.Instance(e.Name())
		if errors.Is(err, ErrNoInstance) {
			continue // a directory left by a deploy that never finished
		}
		if err != nil {
			return nil, err
		}
		out = append(out, in)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Save writes an instance record atomically.
func (s *Site) Save(in *Instance) error {
	data, err := yaml.Marshal(in)
	if err != nil {
		return fmt.Errorf("encode instance %s: %w", in.Name, err)
	}
	if err := os.MkdirAll(s.InstanceDir(in.Name), 0o700); err != nil {
		return fmt.Errorf("save instance %s: %w", in.Name, err)
	}
	return WriteFileAtomic(s.recordPath(in.Name), data, 0o600)
}

// Remove moves an instance's files to removed/<name>-<time>, keeping its
// secrets: the data volumes left behind can only be read with them.
func (s *Site) Remove(name string, now time.Time) (string, error) {
	dst := filepath.Join(s.Dir, "removed", name+"-"+now.UTC().Format("20060102T150405Z"))
	if err := os.Rename(s.InstanceDir(name), dst); err != nil {
		return "", fmt.Errorf("remove instance %s: %w", name, err)
	}
	return dst, nil
}

// WriteFileAtomic writes data to a temporary file beside path, syncs it and
// renames it over path, so a crash leaves either the old or the new file.
func WriteFileAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// ID returns the site's identity, created on first use. It labels the
// site's containers and volumes, so that several sites can share an engine
// without taking each other's volumes for orphans.
func (s *Site) ID() (string, error) {
	path := filepath.Join(s.Dir, "site-id")
	data, err := os.ReadFile(path)
	if err == nil && len(bytes.TrimSpace(data)) > 0 {
		return string(bytes.TrimSpace(data)), nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read site id: %w", err)
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("make site id: %w", err)
	}
	id := hex.EncodeToString(b[:])
	if err := WriteFileAtomic(path, []byte(id+"\n"), 0o600); err != nil {
		return "", err
	}
	return id, nil
}
