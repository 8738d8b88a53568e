package heal

import (
	"fmt"
	"sort"
	"time"

	"github.com/dockerbank/dockerbank/internal/schedule"
)

// Mode is an instance's heal policy (entry.yaml and site.yaml `heal:`).
type Mode = schedule.HealMode

// Modes: see schedule.HealMode.
const (
	Off         = schedule.HealOff
	Restart     = schedule.HealRestart
	Recreate    = schedule.HealRecreate
	DefaultMode = schedule.DefaultHeal
)

// Policy holds the thresholds of healing (serve's --heal-* flags).
type Policy struct {
	// Failures: this many failed health checks in a row make a container
	// unhealthy enough to act on (default 3; at most 5, the number of
	// checks the engine keeps).
	Failures int
	// UnhealthyFor: a container the engine reports unhealthy this long is
	// acted on too (default 2 min).
	UnhealthyFor time.Duration
	// Backoff is the wait after the first action before the next one;
	// each further action doubles it, up to MaxBackoff (defaults 30 s and
	// 10 min).
	Backoff    time.Duration
	MaxBackoff time.Duration
	// Attempts: after this many actions without the container staying
	// healthy, healing gives up and alerts (default 5).
	Attempts int
	// Stable: a container healthy this long after an action ends the
	// episode; a later failure starts again at the first attempt (default
	// 10 min).
	Stable time.Duration
}

// DefaultPolicy fills zero fields.
var DefaultPolicy = Policy{Failures: 3, UnhealthyFor: 2 * time.Minute, Backoff: 30 * time.Second, MaxBackoff: 10 * time.Minute, Attempts: 5, Stable: 10 * time.Minute}

// WithDefaults returns p with zero fields set from DefaultPolicy.
func (p Policy) WithDefaults() Policy {
	d := DefaultPolicy
	if p.Failures > 0 {
		d.Failures = p.Failures
	}
	if p.UnhealthyFor > 0 {
		d.UnhealthyFor = p.UnhealthyFor
	}
	if p.Backoff > 0 {
		d.Backoff = p.Backoff
	}
	if p.MaxBackoff > 0 {
		d.MaxBackoff = p.MaxBackoff
	}
	if p.Attempts > 0 {
		d.Attempts = p.Attempts
	}
	if p.Stable > 0 {
		d.Stable = p.Stable
	}
	return d
}

// Validate returns an error for thresholds that cannot work.
func (p Policy) Validate() error {
	p = p.WithDefaults()
	if p.Failures > 5 {
		return fmt.Errorf("--heal-failures %d: the engine keeps the last 5 health checks; write 1 to 5", p.Failures)
	}
	if p.MaxBackoff < p.Backoff {
		return fmt.Errorf("--heal-backoff-max %s is below --heal-backoff %s", p.MaxBackoff, p.Backoff)
	}
	return nil
}

// backoff is the wait after the n-th action (n >= 1).
func (p Policy) backoff(n int) time.Duration {
	d := p.Backoff
	for i := 1; i < n && d < p.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, p.MaxBackoff)
}

// Check is one health check the engine ran.
type Check struct {
	Start    time.Time
	ExitCode int
}

// Container is what the decision needs to know of one container of an
// instance.
type Container struct {
	Instance, Service, ID, Name string
	Running                     bool
	// Health is healthy, unhealthy, starting, or "" without a health check.
	Health string
	// Checks are the newest health checks, oldest first.
	Checks []Check
	// StartedAt and StartPeriod: while the container is starting, checks
	// in its start period do not count (as the engine does not count them).
	StartedAt   time.Time
	StartPeriod time.Duration
	// DependsOn are the services of the instance this one depends on.
	DependsOn []string
}

// Instance is one instance as the healer sees it.
type Instance struct {
	Name string
	Mode Mode
	// Blocked says why nothing may be done now (a backup or upgrade runs,
	// a backup's quiesce is pending, the instance is meant to be down);
	// empty when healing may act.
	Blocked    string
	Containers []Container
}

// Kind of action.
type Kind string

// Action kinds (the action label of dockerbank_container_heal_total).
const (
	KindRestart  Kind = "restart"
	KindRecreate Kind = "recreate"
	KindGiveUp   Kind = "giveup"
)

// Action is one thing the healer does.
type Action struct {
	Kind     Kind
	Instance string
	Service  string
	// Container is the unhealthy container (restart).
	Container string
	// Dependants are the services that depend on Service, directly or
	// not, in the order to restart them after it.
	Dependants []string
	// Attempt counts the actions of this episode, from 1.
	Attempt int
	Reason  string
}

func (a Action) String() string {
	switch a.Kind {
	case KindRecreate:
		return fmt.Sprintf("recreate instance %s (service %s: %s; attempt %d)", a.Instance, a.Service, a.Reason, a.Attempt)
	case KindGiveUp:
		return fmt.Sprintf("give up healing %s/%s after %d attempts (%s)", a.Instance, a.Service, a.Attempt, a.Reason)
	}
	s := fmt.Sprintf("restart %s/%s (%s; attempt %d)", a.Instance, a.Service, a.Reason, a.Attempt)
	if len(a.Dependants) > 0 {
		s += fmt.Sprintf(", then its dependants %v", a.Dependants)
	}
	return s
}

// GivenUp is a service whose healing was given up: an alert.
type GivenUp struct {
	Instance, Service string
	Since             time.Time
	Attempts          int
	Reason            string
}

// track is the state of one service of one instance.
type track struct {
	unhealthySince time.Time // zero while healthy
	notBefore      time.Time // checks before it do not count (last action, end of a block)
	next           time.Time // no action before
	attempts       int
	lastKind       Kind
	lastAction     time.Time
	healthySince   time.Time
	gaveUp         *GivenUp
}

// Decider decides what to heal from what it observes; it does no I/O and
// takes the time as an argument, so tests drive it with a fake clock.
type Decider struct {
	Policy Policy
	tracks map[string]*track // instance/service
}

func (d *Decider) track(in, svc string) *track {
	if d.tracks == nil {
		d.tracks = map[string]*track{}
	}
	k := in + "/" + svc
	t := d.tracks[k]
	if t == nil {
		t = &track{}
		d.tracks[k] = t
	}
	return t
}

// failedInRow counts the failed checks at the end of cs that started at
// or after from.
func failedInRow(cs []Check, from time.Time) int {
	n := 0
	for i := len(cs) - 1; i >= 0; i-- {
		if cs[i].ExitCode == 0 || cs[i].Start.Before(from) {
			break
		}
		n++
	}
	return n
}

// Decide returns the actions to take now. Per instance it returns at most
// one action that changes containers (a recreate covers the instance), plus
// any give-ups. Call Done after running each action.
func (d *Decider) Decide(now time.Time, ins []Instance) []Action {
	p := d.Policy.WithDefaults()
	var out []Action
	live := map[string]bool{}
	for _, in := range ins {
		acted := false
		for _, c := range ordered(in.Containers) {
			live[in.Name+"/"+c.Service] = true
			t := d.track(in.Name, c.Service)
			if in.Blocked != "" || in.Mode == Off || !c.Running {
				// Whatever happened meanwhile was not the container's own
				// doing: count only checks from now on.
				t.unhealthySince, t.notBefore = time.Time{}, now
				continue
			}
			from := t.notBefore
			// As the engine: failures in the start period do not count,
			// until a check succeeds (the status leaves starting then).
			if sp := c.StartedAt.Add(c.StartPeriod); c.Health == "starting" && sp.After(from) {
				from = sp
			}
			failed := failedInRow(c.Checks, from)
			sick := c.Health == "unhealthy" || failed > 0
			if !sick {
				t.unhealthySince = time.Time{}
				if c.Health == "healthy" || c.Health == "" {
					if t.healthySince.IsZero() {
						t.healthySince = now
					}
					if t.attempts > 0 && now.Sub(t.healthySince) >= p.Stable {
						t.attempts, t.lastKind, t.gaveUp = 0, "", nil
					}
					if t.gaveUp != nil && c.Health == "healthy" {
						t.gaveUp = nil // healthy again: the alert resolves
					}
				}
				continue
			}
			t.healthySince = time.Time{}
			if t.unhealthySince.IsZero() {
				t.unhealthySince = now
			}
			var reason string
			switch {
			case failed >= p.Failures:
				reason = fmt.Sprintf("%d failed health checks in a row", failed)
			case c.Health == "unhealthy" && now.Sub(t.unhealthySince) >= p.UnhealthyFor:
				reason = fmt.Sprintf("unhealthy for %s", now.Sub(t.unhealthySince).Round(time.Second))
			default:
				continue
			}
			if t.gaveUp != nil || acted || now.Before(t.next) {
				continue
			}
			if t.attempts >= p.Attempts {
				t.gaveUp = &GivenUp{Instance: in.Name, Service: c.Service, Since: now, Attempts: t.attempts, Reason: reason}
				out = append(out, Action{Kind: KindGiveUp, Instance: in.Name, Service: c.Service, Container: c.ID, Attempt: t.attempts, Reason: reason})
				continue
			}
			a := Action{Kind: KindRestart, Instance: in.Name, Service: c.Service, Container: c.ID, Attempt: t.attempts + 1, Reason: reason}
			if in.Mode == Recreate && t.attempts > 0 {
				// A restart did not help (the container is sick again
				// after its backoff): recreate the instance.
				a.Kind = KindRecreate
				a.Reason += " after a " + string(t.lastKind)
			} else {
				a.Dependants = dependants(in.Containers, c.Service)
			}
			out = append(out, a)
			acted = true
		}
	}
	for k := range d.tracks {
		if !live[k] {
			delete(d.tracks, k)
		}
	}
	return out
}

// Done records that an action ran (whatever its outcome: a failed restart
// counts as an attempt too).
func (d *Decider) Done(now time.Time, a Action) {
	if a.Kind == KindGiveUp {
		return
	}
	p := d.Policy.WithDefaults()
	t := d.track(a.Instance, a.Service)
	t.attempts = a.Attempt
	t.lastKind, t.lastAction = a.Kind, now
	t.next = now.Add(p.backoff(a.Attempt))
	t.notBefore, t.unhealthySince, t.healthySince = now, time.Time{}, time.Time{}
	for _, svc := range a.Dependants {
		o := d.track(a.Instance, svc)
		o.notBefore, o.unhealthySince = now, time.Time{}
	}
	if a.Kind == KindRecreate {
		// New containers for every service: their checks start afresh.
		for k, o := range d.tracks {
			if len(k) > len(a.Instance) && k[:len(a.Instance)+1] == a.Instance+"/" {
				o.notBefore, o.unhealthySince = now, time.Time{}
			}
		}
	}
}

// GivenUp returns the services whose healing was given up and that are
// not healthy again.
func (d *Decider) GivenUp() []GivenUp {
	var out []GivenUp
	for _, t := range d.tracks {
		if t.gaveUp != nil {
			out = append(out, *t.gaveUp)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Instance != out[j].Instance {
			return out[i].Instance < out[j].Instance
		}
		return out[i].Service < out[j].Service
	})
	return out
}

// ordered returns the containers with each after the services it depends
// on, so that what others depend on is healed first.
func ordered(cs []Container) []Container {
	in := map[string]bool{}
	for _, c := range cs {
		in[c.Service] = true
	}
	var out []Container
	placed := map[string]bool{}
	for len(out) < len(cs) {
		n := len(out)
		for _, c := range cs {
			if placed[c.ID] {
				continue
			}
			ready := true
			for _, d := range c.DependsOn {
				if in[d] && !placedService(out, d) {
					ready = false
				}
			}
			if ready {
				placed[c.ID] = true
				out = append(out, c)
			}
		}
		if len(out) == n { // a cycle: keep the rest as they are
			for _, c := range cs {
				if !placed[c.ID] {
					placed[c.ID] = true
					out = append(out, c)
				}
			}
		}
	}
	return out
}

func placedService(cs []Container, svc string) bool {
	for _, c := range cs {
		if c.Service == svc {
			return true
		}
	}
	return false
}

// dependants returns the services that depend on svc, directly or through
// others, ordered so that each comes after what it depends on.
func dependants(cs []Container, svc string) []string {
	deps := map[string][]string{}
	for _, c := range cs {
		deps[c.Service] = c.DependsOn
	}
	var names []string
	for s := range deps {
		names = append(names, s)
	}
	sort.Strings(names)
	// reaches reports whether s depends on svc, directly or not.
	memo := map[string]int{} // 0 unknown, 1 yes, 2 no, 3 visiting
	var reaches func(s string) bool
	reaches = func(s string) bool {
		switch memo[s] {
		case 1:
			return true
		case 2, 3:
			return false
		}
		memo[s] = 3
		for _, d := range deps[s] {
			if d == svc || reaches(d) {
				memo[s] = 1
				return true
			}
		}
		memo[s] = 2
		return false
	}
	var set []string
	for _, s := range names {
		if s != svc && reaches(s) {
			set = append(set, s)
		}
	}
	// Order: a service after every one of the set it depends on.
	var out []string
	done := map[string]bool{}
	var visit func(s string, depth int)
	visit = func(s string, depth int) {
		if done[s] || depth > len(set) {
			return
		}
		for _, d := range deps[s] {
			if d != svc && slicesContains(set, d) {
				visit(d, depth+1)
			}
		}
		if !done[s] {
			done[s] = true
			out = append(out, s)
		}
	}
	for _, s := range set {
		visit(s, 0)
	}
	return out
}

func slicesContains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
