package heal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/dockerbank/dockerbank/internal/backup"
	"github.com/dockerbank/dockerbank/internal/engine"
	"github.com/dockerbank/dockerbank/internal/site"
)

// Command is the journal command of the healer's records.
const Command = "dockerbank serve: heal"

// Journal outcomes of the healer's records besides ok and failed.
const OutcomeGaveUp = "gave-up"

// Engine is what the healer needs of the container engine.
type Engine interface {
	Containers(ctx context.Context, labels map[string]string) ([]engine.Container, error)
	Health(ctx context.Context, id string) (engine.HealthState, error)
	RestartContainer(ctx context.Context, id string, timeout int) error
}

// Instances loads an instance's compose project (for its services'
// dependencies) and recreates an instance; deploy.Manager implements it.
type Instances interface {
	Project(ctx context.Context, name string) (*types.Project, error)
	// Recreate replaces the instance's containers and waits for health;
	// the caller holds the site lock.
	Recreate(ctx context.Context, name string) error
}

// Healer watches the health of the site's instances and restarts, or
// recreates, what stays unhealthy (see Decider), never while another
// operation holds the site lock (a backup, an upgrade) or a backup's
// quiesce is unfinished. Every action is journaled and counted.
type Healer struct {
	Site      *site.Site
	Engine    Engine
	Instances Instances
	Policy    Policy
	// Mode resolves an instance's heal mode (entry < site default < site
	// instance, see Resolve).
	Mode func(ctx context.Context, in *site.Instance) (Mode, error)
	// Tick is the time between two looks (default 10 s).
	Tick time.Duration
	// WaitHealthy bounds the wait for a restarted service to be healthy
	// before its dependants restart (default 2 min).
	WaitHealthy time.Duration
	// OnAction, if set, hears every action after it ran (serve alerts on
	// give-ups through it).
	OnAction func(ctx context.Context, a Action, err error)
	Log      *slog.Logger
	Now      func() time.Time

	mu      sync.Mutex
	decider Decider
	counts  map[countKey]float64
	deps    map[string]depsCache
}

type countKey struct{ Instance, Service, Action, Outcome string }

type depsCache struct {
	changed time.Time
	deps    map[string][]string
}

func (h *Healer) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func (h *Healer) log() *slog.Logger {
	if h.Log == nil {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return h.Log
}

// Run looks every Tick until ctx ends.
func (h *Healer) Run(ctx context.Context) {
	tick := h.Tick
	if tick <= 0 {
		tick = 10 * time.Second
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		if _, err := h.Once(ctx); err != nil && ctx.Err() == nil {
			h.log().Warn("heal", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Once observes the instances, decides and acts; it returns the actions
// it ran.
func (h *Healer) Once(ctx context.Context) ([]Action, error) {
	blocked := ""
	lock, err := h.Site.Lock(ctx, 0)
	switch {
	case errors.Is(err, site.ErrLocked):
		blocked = "another dockerbank operation holds the site lock (a backup, an upgrade, ...)"
	case err != nil:
		return nil, err
	default:
		defer lock.Unlock()
	}
	ins, err := h.observe(ctx, blocked)
	if err != nil {
		return nil, err
	}
	h.decider.Policy = h.Policy
	h.mu.Lock()
	actions := h.decider.Decide(h.now(), ins)
	h.mu.Unlock()
	for _, a := range actions {
		err := h.act(ctx, a, ins)
		h.mu.Lock()
		h.decider.Done(h.now(), a)
		h.mu.Unlock()
		h.record(a, err)
		if h.OnAction != nil {
			h.OnAction(ctx, a, err)
		}
	}
	return actions, nil
}

// observe reads every instance's containers and health.
func (h *Healer) observe(ctx context.Context, blocked string) ([]Instance, error) {
	recs, err := h.Site.Instances()
	if err != nil {
		return nil, err
	}
	pending, err := backup.Pending(h.Site)
	if err != nil {
		return nil, err
	}
	quiesced := map[string]bool{}
	for _, r := range pending {
		quiesced[r.Instance] = true
	}
	var out []Instance
	for _, rec := range recs {
		in := Instance{Name: rec.Name, Blocked: blocked, Mode: DefaultMode}
		if h.Mode != nil {
			m, err := h.Mode(ctx, rec)
			if err != nil {
				h.log().Warn("heal policy", "instance", rec.Name, "err", err)
				m = Off
			}
			in.Mode = m
		}
		switch {
		case in.Mode == Off:
		case rec.State != site.StateUp:
			in.Blocked = "the instance is meant to be " + string(rec.State)
		case quiesced[rec.Name]:
			in.Blocked = "a backup's quiesce of the instance has not finished"
		}
		if in.Mode == Off {
			continue
		}
		ctrs, err := h.Engine.Containers(ctx, map[string]string{engine.LabelProject: rec.Name})
		if err != nil {
			return nil, err
		}
		deps := h.dependencies(ctx, rec)
		for _, c := range ctrs {
			hc := Container{Instance: rec.Name, Service: c.Service, ID: c.ID, Name: c.Name, Running: c.State == "running", DependsOn: deps[c.Service]}
			if hc.Running && c.Health != "" {
				st, err := h.Engine.Health(ctx, c.ID)
				if errors.Is(err, engine.ErrNotFound) {
					continue
				}
				if err != nil {
					return nil, err
				}
				hc.Running, hc.Health, hc.StartedAt, hc.StartPeriod = st.Running, st.Status, st.StartedAt, st.StartPeriod
				for _, p := range st.Probes {
					hc.Checks = append(hc.Checks, Check{Start: p.Start, ExitCode: p.ExitCode})
				}
			}
			in.Containers = append(in.Containers, hc)
		}
		out = append(out, in)
	}
	return out, nil
}

// dependencies returns each service's depends_on, from the instance's
// compose project (cached until the instance record changes).
func (h *Healer) dependencies(ctx context.Context, rec *site.Instance) map[string][]string {
	h.mu.Lock()
	c, ok := h.deps[rec.Name]
	h.mu.Unlock()
	if ok && c.changed.Equal(rec.Changed) {
		return c.deps
	}
	deps := map[string][]string{}
	if h.Instances != nil {
		p, err := h.Instances.Project(ctx, rec.Name)
		if err != nil {
			h.log().Warn("heal: read compose project", "instance", rec.Name, "err", err)
			return deps
		}
		for name, svc := range p.Services {
			for d := range svc.DependsOn {
				deps[name] = append(deps[name], d)
			}
			sort.Strings(deps[name])
		}
	}
	h.mu.Lock()
	if h.deps == nil {
		h.deps = map[string]depsCache{}
	}
	h.deps[rec.Name] = depsCache{changed: rec.Changed, deps: deps}
	h.mu.Unlock()
	return deps
}

func (h *Healer) waitHealthy() time.Duration {
	if h.WaitHealthy > 0 {
		return h.WaitHealthy
	}
	return 2 * time.Minute
}

// act runs one action.
func (h *Healer) act(ctx context.Context, a Action, ins []Instance) error {
	switch a.Kind {
	case KindGiveUp:
		h.log().Error("heal gave up", "instance", a.Instance, "service", a.Service, "attempts", a.Attempt, "reason", a.Reason)
		return nil
	case KindRecreate:
		h.log().Warn("heal: recreate instance", "instance", a.Instance, "service", a.Service, "reason", a.Reason, "attempt", a.Attempt)
		return h.Instances.Recreate(ctx, a.Instance)
	}
	h.log().Warn("heal: restart container", "instance", a.Instance, "service", a.Service, "reason", a.Reason, "attempt", a.Attempt)
	if err := h.Engine.RestartContainer(ctx, a.Container, 30); err != nil {
		return err
	}
	if len(a.Dependants) == 0 {
		return nil
	}
	// Dependants restart after what they depend on is healthy again.
	if err := h.waitService(ctx, a.Container); err != nil {
		return fmt.Errorf("restarted %s, but it is not healthy, so its dependants were not restarted: %w", a.Service, err)
	}
	var errs []error
	for _, svc := range a.Dependants {
		for _, in := range ins {
			if in.Name != a.Instance {
				continue
			}
			for _, c := range in.Containers {
				if c.Service != svc {
					continue
				}
				h.log().Info("heal: restart dependant", "instance", a.Instance, "service", svc, "after", a.Service)
				if err := h.Engine.RestartContainer(ctx, c.ID, 30); err != nil {
					errs = append(errs, err)
				} else if err := h.waitService(ctx, c.ID); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	return errors.Join(errs...)
}

// waitService polls a container until it runs and is healthy (or has no
// health check).
func (h *Healer) waitService(ctx context.Context, id string) error {
	deadline := time.Now().Add(h.waitHealthy())
	for {
		st, err := h.Engine.Health(ctx, id)
		if err == nil && st.Running && (st.Status == "" || st.Status == "healthy") {
			return nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("container %.12s is %s after %s", id, orState(st), h.waitHealthy())
			}
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

func orState(st engine.HealthState) string {
	if !st.Running {
		return "not running"
	}
	return st.Status
}

// record journals an action and counts it.
func (h *Healer) record(a Action, err error) {
	outcome, detail := "ok", a.String()
	switch {
	case a.Kind == KindGiveUp:
		outcome = OutcomeGaveUp
		detail += "; see `dockerbank logs " + a.Instance + "`"
	case err != nil:
		outcome = "failed"
		detail += ": " + err.Error()
	}
	h.mu.Lock()
	if h.counts == nil {
		h.counts = map[countKey]float64{}
	}
	h.counts[countKey{a.Instance, a.Service, string(a.Kind), outcome}]++
	h.mu.Unlock()
	if jerr := h.Site.Append(site.Record{Time: h.now().UTC(), Command: Command, Instance: a.Instance, Outcome: outcome, Detail: detail}); jerr != nil {
		h.log().Warn("journal", "instance", a.Instance, "err", jerr)
	}
}

// Count is one series of dockerbank_container_heal_total.
type Count struct {
	Instance, Service, Action, Outcome string
	Value                              float64
}

// Counts returns the actions run since serve started, by instance,
// service, action and outcome.
func (h *Healer) Counts() []Count {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]Count, 0, len(h.counts))
	for k, v := range h.counts {
		out = append(out, Count{k.Instance, k.Service, k.Action, k.Outcome, v})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Instance != b.Instance {
			return a.Instance < b.Instance
		}
		if a.Service != b.Service {
			return a.Service < b.Service
		}
		if a.Action != b.Action {
			return a.Action < b.Action
		}
		return a.Outcome < b.Outcome
	})
	return out
}

// GivenUp returns the services whose healing was given up and that are not
// healthy again.
func (h *Healer) GivenUp() []GivenUp {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.decider.GivenUp()
}
