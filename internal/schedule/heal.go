package schedule

import "fmt"

// HealMode is what serve's healer may do to an instance whose containers
// stay unhealthy, as written in entry.yaml (`heal: restart`) and site.yaml
// (`heal: {default: ..., instances: {NAME: ...}}`); see internal/heal.
type HealMode string

// Heal modes.
const (
	// HealOff: serve never touches the instance's containers.
	HealOff HealMode = "off"
	// HealRestart: an unhealthy container is restarted, with backoff,
	// until the attempts are used up.
	HealRestart HealMode = "restart"
	// HealRecreate: first a restart; when that does not help, the whole
	// instance is recreated (new containers and networks, same volumes).
	HealRecreate HealMode = "recreate"
)

// DefaultHeal applies when no layer sets a mode.
const DefaultHeal = HealRecreate

// ParseHealMode checks a mode as written in a file.
func ParseHealMode(s string) (HealMode, error) {
	switch m := HealMode(s); m {
	case HealOff, HealRestart, HealRecreate:
		return m, nil
	}
	return "", fmt.Errorf("heal %q: write off, restart or recreate", s)
}

// HealLayer is one named source of a heal mode ("" inherits).
type HealLayer struct {
	Name string // entry, site default, site instance
	Mode string
}

// ResolveHeal merges layers, lowest first (entry, site default, site
// instance): a mode set in a later layer wins; none set is DefaultHeal.
// It returns the mode and the layer it came from ("default" when none).
func ResolveHeal(layers ...HealLayer) (HealMode, string, error) {
	m, from := DefaultHeal, "default"
	for _, l := range layers {
		if l.Mode == "" {
			continue
		}
		pm, err := ParseHealMode(l.Mode)
		if err != nil {
			return "", "", fmt.Errorf("%s %w", l.Name, err)
		}
		m, from = pm, l.Name
	}
	return m, from, nil
}
