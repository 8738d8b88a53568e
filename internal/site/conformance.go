package site

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"gopkg.in/yaml.v3"
)

// Conformance is the result of the newest `bank test` run of one version
// (and variant) of an entry on this site.
type Conformance struct {
	Version string    `yaml:"version" json:"version"`
	Variant string    `yaml:"variant,omitempty" json:"variant,omitempty"`
	Time    time.Time `yaml:"time" json:"time"`
	OK      bool      `yaml:"ok" json:"ok"`
	Seconds float64   `yaml:"seconds" json:"seconds"`
	// Detail says what was proven, or what differed.
	Detail string `yaml:"detail,omitempty" json:"detail,omitempty"`
}

func (s *Site) conformancePath(entry string) string {
	return filepath.Join(s.Dir, "conformance", entry+".yaml")
}

// SaveConformance records a run, replacing the previous result of the
// same version and variant.
func (s *Site) SaveConformance(entry string, c Conformance) error {
	all, err := s.Conformance(entry)
	if err != nil {
		return err
	}
	kept := all[:0]
	for _, o := range all {
		if o.Version != c.Version || o.Variant != c.Variant {
			kept = append(kept, o)
		}
	}
	kept = append(kept, c)
	sort.Slice(kept, func(i, j int) bool {
		if kept[i].Version != kept[j].Version {
			return kept[i].Version < kept[j].Version
		}
		return kept[i].Variant < kept[j].Variant
	})
	data, err := yaml.Marshal(kept)
	if err != nil {
		return fmt.Errorf("encode conformance results of %s: %w", entry, err)
	}
	if err := os.MkdirAll(filepath.Dir(s.conformancePath(entry)), 0o700); err != nil {
		return fmt.Errorf("save conformance result of %s: %w", entry, err)
	}
	return WriteFileAtomic(s.conformancePath(entry), data, 0o600)
}

// Conformance returns the newest result per version and variant of an
// entry on this site (none when it was never tested here).
func (s *Site) Conformance(entry string) ([]Conformance, error) {
	data, err := os.ReadFile(s.conformancePath(entry))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read conformance results of %s: %w", entry, err)
	}
	var out []Conformance
	if err := yaml.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("read conformance results of %s: %s: %w", entry, s.conformancePath(entry), err)
	}
	return out, nil
}
