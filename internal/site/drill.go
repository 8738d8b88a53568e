package site

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"gopkg.in/yaml.v3"
)

// Drill is the result of an instance's newest restore drill. It lives in
// its own file (instances/<name>/drill.yaml), written by the verify job, so
// that recording a drill never rewrites the instance record a backup may be
// saving at the same time.
type Drill struct {
	Time  time.Time `yaml:"time" json:"time"`
	OK    bool      `yaml:"ok" json:"ok"`
	Group string    `yaml:"group,omitempty" json:"group,omitempty"`
	// Detail says what was checked, or why it failed.
	Detail string `yaml:"detail,omitempty" json:"detail,omitempty"`
}

func (s *Site) drillPath(name string) string { return filepath.Join(s.InstanceDir(name), "drill.yaml") }

// SaveDrill records the result of a restore drill of an instance.
func (s *Site) SaveDrill(name string, d Drill) error {
	data, err := yaml.Marshal(d)
	if err != nil {
		return fmt.Errorf("encode drill result of %s: %w", name, err)
	}
	if _, err := os.Stat(s.InstanceDir(name)); err != nil {
		return fmt.Errorf("save drill result of %s: %w", name, err)
	}
	return WriteFileAtomic(s.drillPath(name), data, 0o600)
}

// LastDrill returns the newest drill result of an instance, or nil when it
// was never drilled.
func (s *Site) LastDrill(name string) (*Drill, error) {
	data, err := os.ReadFile(s.drillPath(name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read drill result of %s: %w", name, err)
	}
	var d Drill
	if err := yaml.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("read drill result of %s: %s: %w", name, s.drillPath(name), err)
	}
	return &d, nil
}
