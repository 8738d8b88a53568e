package heal

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/google/go-cmp/cmp"

	"github.com/dockerbank/dockerbank/internal/backup"
	"github.com/dockerbank/dockerbank/internal/engine"
	"github.com/dockerbank/dockerbank/internal/site"
)

// fakeEngine holds containers whose health the test sets; a restart makes
// a container healthy and is recorded.
type fakeEngine struct {
	mu       sync.Mutex
	ctrs     []engine.Container
	health   map[string]engine.HealthState
	restarts []string
}

func (f *fakeEngine) Containers(_ context.Context, labels map[string]string) ([]engine.Container, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []engine.Container
	for _, c := range f.ctrs {
		if c.Project == labels[engine.LabelProject] {
			c.Health = f.health[c.ID].Status
			out = append(out, c)
		}
	}
	return out, nil
}

func (f *fakeEngine) Health(_ context.Context, id string) (engine.HealthState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.health[id], nil
}

func (f *fakeEngine) RestartContainer(_ context.Context, id string, _ int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.restarts = append(f.restarts, id)
	f.health[id] = engine.HealthState{Running: true, Status: "healthy"}
	return nil
}

type fakeInstances struct{ recreated []string }

func (f *fakeInstances) Project(context.Context, string) (*types.Project, error) {
	return &types.Project{Services: types.Services{
		"db":     {Name: "db"},
		"app":    {Name: "app", WorkloadSpec: types.WorkloadSpec{DependsOn: types.DependsOnConfig{"db": {Condition: "service_healthy"}}}},
		"worker": {Name: "worker", WorkloadSpec: types.WorkloadSpec{DependsOn: types.DependsOnConfig{"app": {}}}},
	}}, nil
}

func (f *fakeInstances) Recreate(_ context.Context, name string) error {
	f.recreated = append(f.recreated, name)
	return nil
}

func failing(now time.Time) engine.HealthState {
	var ps []engine.Probe
	for i := 3; i >= 1; i-- {
		ps = append(ps, engine.Probe{Start: now.Add(-time.Duration(i) * time.Second), ExitCode: 1})
	}
	return engine.HealthState{Running: true, Status: "healthy", FailingStreak: 3, Probes: ps}
}

func setup(t *testing.T) (*Healer, *fakeEngine, *site.Site) {
	t.Helper()
	s, err := site.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	if err := s.Save(&site.Instance{Name: "demo", Entry: "demo", Version: "2.0", State: site.StateUp, Created: now, Changed: now}); err != nil {
		t.Fatal(err)
	}
	e := &fakeEngine{health: map[string]engine.HealthState{}}
	for _, svc := range []string{"app", "db", "worker"} {
		e.ctrs = append(e.ctrs, engine.Container{ID: svc + "1", Name: "demo-" + svc + "-1", Service: svc, Project: "demo", State: "running"})
		e.health[svc+"1"] = engine.HealthState{Running: true, Status: "healthy"}
	}
	// Probes start after the healer's start (its first look).
	clock := now.Add(time.Minute)
	h := &Healer{Site: s, Engine: e, Instances: &fakeInstances{}, Now: func() time.Time { return clock }}
	return h, e, s
}

// A sick database is restarted, then its dependants, each after what it
// depends on; the action is journaled and counted.
func TestHealerRestartsDependantsAfter(t *testing.T) {
	h, e, s := setup(t)
	e.health["db1"] = failing(h.now())
	acts, err := h.Once(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(acts) != 1 || acts[0].Kind != KindRestart || acts[0].Service != "db" {
		t.Fatalf("actions %+v, want a restart of db", acts)
	}
	if diff := cmp.Diff([]string{"db1", "app1", "worker1"}, e.restarts); diff != "" {
		t.Errorf("restarts (-want +got):\n%s", diff)
	}
	recs, _ := s.Journal()
	if len(recs) != 1 || recs[0].Command != Command || recs[0].Outcome != "ok" || !strings.Contains(recs[0].Detail, "then its dependants [app worker]") {
		t.Errorf("journal %+v, want one ok heal record naming the dependants", recs)
	}
	if diff := cmp.Diff([]Count{{"demo", "db", "restart", "ok", 1}}, h.Counts()); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
}

// Nothing is done while another operation holds the site lock, while a
// backup's quiesce is unfinished, or for an instance meant to be down.
func TestHealerBlocked(t *testing.T) {
	t.Run("site locked", func(t *testing.T) {
		h, e, s := setup(t)
		e.health["app1"] = failing(h.now())
		l, err := s.Lock(t.Context(), 0)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Unlock()
		if acts, err := h.Once(t.Context()); err != nil || len(acts) != 0 || len(e.restarts) != 0 {
			t.Errorf("while locked: actions %+v, restarts %v, err %v", acts, e.restarts, err)
		}
	})
	t.Run("quiesce pending", func(t *testing.T) {
		h, e, s := setup(t)
		e.health["app1"] = failing(h.now())
		if err := s.Append(site.Record{Command: "dockerbank backup", Instance: "demo", Outcome: backup.OutcomeStop, Op: "g1", Containers: []string{"db1"}}); err != nil {
			t.Fatal(err)
		}
		if acts, _ := h.Once(t.Context()); len(acts) != 0 || len(e.restarts) != 0 {
			t.Errorf("quiesce pending: actions %+v, restarts %v", acts, e.restarts)
		}
		if err := s.Append(site.Record{Command: "dockerbank backup", Instance: "demo", Outcome: backup.OutcomeResumed, Op: "g1", Containers: []string{"db1"}}); err != nil {
			t.Fatal(err)
		}
		// The failures seen during the quiesce do not count; new ones do.
		if acts, _ := h.Once(t.Context()); len(acts) != 0 {
			t.Errorf("right after the quiesce: actions %+v, want none", acts)
		}
		later := h.now().Add(10 * time.Second)
		h.Now = func() time.Time { return later }
		e.health["app1"] = failing(later)
		if acts, _ := h.Once(t.Context()); len(acts) != 1 {
			t.Errorf("after the quiesce: actions %+v, want a restart", acts)
		}
	})
	t.Run("meant to be down", func(t *testing.T) {
		h, e, s := setup(t)
		in, _ := s.Instance("demo")
		in.State = site.StateDown
		s.Save(in)
		e.health["app1"] = failing(h.now())
		if acts, _ := h.Once(t.Context()); len(acts) != 0 {
			t.Errorf("instance down: actions %+v", acts)
		}
	})
}
