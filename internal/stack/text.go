package stack

import (
	"encoding/json"
	"fmt"
	"time"

	"sigs.k8s.io/yaml"
)

// Duration is a time.Duration that prints as "2s" in the plan's text.
type Duration time.Duration

// MarshalJSON writes the duration as text ("1m30s").
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// FileMode is a file's permission bits; it prints in octal ("0444").
type FileMode uint32

// MarshalJSON writes the mode in octal.
func (m FileMode) MarshalJSON() ([]byte, error) { return json.Marshal(fmt.Sprintf("%04o", uint32(m))) }

// Text is the plan as YAML, the form golden tests compare. Secret values
// never appear in it.
func (p *Plan) Text() ([]byte, error) {
	data, err := yaml.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("render stack plan %s: %w", p.Stack, err)
	}
	return data, nil
}
