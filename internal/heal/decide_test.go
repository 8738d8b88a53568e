package heal

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)

// checks returns health checks every 2 s ending at end, the last n failed.
func checks(end time.Time, total, failed int) []Check {
	var cs []Check
	for i := total - 1; i >= 0; i-- {
		code := 0
		if i < failed {
			code = 1
		}
		cs = append(cs, Check{Start: end.Add(-time.Duration(i) * 2 * time.Second), ExitCode: code})
	}
	return cs
}

// demo is an instance with db and app (app depends on db).
func demo(mode Mode, dbFailed, appFailed int, now time.Time) Instance {
	health := func(n int) string {
		if n >= 5 {
			return "unhealthy"
		}
		return "healthy"
	}
	return Instance{Name: "demo", Mode: mode, Containers: []Container{
		{Instance: "demo", Service: "app", ID: "app1", Running: true, Health: health(appFailed), Checks: checks(now, 5, appFailed), DependsOn: []string{"db"}},
		{Instance: "demo", Service: "db", ID: "db1", Running: true, Health: health(dbFailed), Checks: checks(now, 5, dbFailed)},
	}}
}

func kinds(as []Action) string {
	var s []string
	for _, a := range as {
		s = append(s, fmt.Sprintf("%s %s/%s #%d", a.Kind, a.Instance, a.Service, a.Attempt))
	}
	return strings.Join(s, "; ")
}

func TestDecideThresholds(t *testing.T) {
	tests := []struct {
		name  string
		in    Instance
		now   time.Time
		first time.Time // an earlier look, if any
		want  string
	}{
		{"healthy", demo(Recreate, 0, 0, t0), t0, time.Time{}, ""},
		{"two failed checks wait", demo(Recreate, 0, 2, t0), t0, time.Time{}, ""},
		{"three failed checks restart", demo(Recreate, 0, 3, t0), t0, time.Time{}, "restart demo/app #1"},
		{"off never acts", demo(Off, 0, 5, t0), t0, time.Time{}, ""},
		{"db restarts first", demo(Restart, 3, 3, t0), t0, time.Time{}, "restart demo/db #1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &Decider{}
			if got := kinds(d.Decide(tt.now, []Instance{tt.in})); got != tt.want {
				t.Errorf("actions = %q, want %q", got, tt.want)
			}
		})
	}
}

// The engine's unhealthy status, without a visible streak (older checks
// only), acts after UnhealthyFor.
func TestDecideUnhealthyFor(t *testing.T) {
	d := &Decider{Policy: Policy{Failures: 5, UnhealthyFor: 2 * time.Minute}}
	in := demo(Restart, 0, 0, t0)
	in.Containers[0].Health = "unhealthy"
	in.Containers[0].Checks = nil // e.g. an engine that keeps no log
	for _, s := range []time.Duration{0, time.Minute, 119 * time.Second} {
		if got := kinds(d.Decide(t0.Add(s), []Instance{in})); got != "" {
			t.Fatalf("at +%s: %q, want nothing before 2 min", s, got)
		}
	}
	if got := kinds(d.Decide(t0.Add(2*time.Minute), []Instance{in})); got != "restart demo/app #1" {
		t.Errorf("at +2m: %q, want a restart", got)
	}
}

// A sick db is restarted with its dependants after it.
func TestDecideDependants(t *testing.T) {
	d := &Decider{}
	in := demo(Restart, 3, 0, t0)
	in.Containers = append(in.Containers, Container{Instance: "demo", Service: "worker", ID: "w1", Running: true, DependsOn: []string{"app"}},
		Container{Instance: "demo", Service: "proxy", ID: "p1", Running: true, DependsOn: []string{"worker", "db"}})
	as := d.Decide(t0, []Instance{in})
	if len(as) != 1 || as[0].Service != "db" {
		t.Fatalf("actions %q, want a restart of db", kinds(as))
	}
	if diff := cmp.Diff([]string{"app", "worker", "proxy"}, as[0].Dependants); diff != "" {
		t.Errorf("dependants (-want +got):\n%s", diff)
	}
}

// Backoff doubles up to its cap; mode recreate escalates after a restart
// that did not help; after the attempts the healer gives up, once, and
// the give-up clears when the service is healthy again.
func TestDecideBackoffEscalateGiveUp(t *testing.T) {
	p := Policy{Backoff: 10 * time.Second, MaxBackoff: 25 * time.Second, Attempts: 4}
	for _, mode := range []Mode{Restart, Recreate} {
		t.Run(string(mode), func(t *testing.T) {
			d := &Decider{Policy: p}
			now := t0
			var got []string
			// The app fails every check, whatever is done.
			for i := 0; i < 120; i++ {
				as := d.Decide(now, []Instance{demo(mode, 0, 5, now)})
				for _, a := range as {
					got = append(got, fmt.Sprintf("+%s %s #%d", now.Sub(t0), a.Kind, a.Attempt))
					d.Done(now, a)
				}
				now = now.Add(time.Second)
			}
			second := "restart"
			if mode == Recreate {
				second = "recreate"
			}
			want := []string{"+0s restart #1", // backoffs 10 s, 20 s, 25 s (cap), 25 s
				fmt.Sprintf("+10s %s #2", second), fmt.Sprintf("+30s %s #3", second), fmt.Sprintf("+55s %s #4", second),
				"+1m20s giveup #4"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("actions (-want +got):\n%s", diff)
			}
			gu := d.GivenUp()
			if len(gu) != 1 || gu[0].Service != "app" || gu[0].Attempts != 4 {
				t.Fatalf("given up = %+v, want app after 4 attempts", gu)
			}
			d.Decide(now, []Instance{demo(mode, 0, 0, now)})
			if gu := d.GivenUp(); len(gu) != 0 {
				t.Errorf("given up after the app is healthy again: %+v", gu)
			}
		})
	}
}

// A restart that helps ends the episode once the container stays healthy
// for Stable: a later failure starts at attempt 1 again.
func TestDecideStableResets(t *testing.T) {
	d := &Decider{Policy: Policy{Stable: time.Minute}}
	as := d.Decide(t0, []Instance{demo(Recreate, 0, 3, t0)})
	d.Done(t0, as[0])
	now := t0.Add(10 * time.Second)
	d.Decide(now, []Instance{demo(Recreate, 0, 0, now)})
	now = now.Add(2 * time.Minute)
	d.Decide(now, []Instance{demo(Recreate, 0, 0, now)})
	now = now.Add(time.Second)
	if got := kinds(d.Decide(now, []Instance{demo(Recreate, 0, 3, now)})); got != "restart demo/app #1" {
		t.Errorf("after a stable minute: %q, want a first restart again (not a recreate)", got)
	}
}

// Nothing is done while an instance is blocked (a backup's quiesce, an
// upgrade), and checks that failed during the block do not count after it.
func TestDecideBlocked(t *testing.T) {
	d := &Decider{}
	in := demo(Recreate, 5, 5, t0)
	in.Blocked = "another dockerbank operation holds the site lock"
	for s := 0; s < 300; s += 10 {
		now := t0.Add(time.Duration(s) * time.Second)
		in := in
		in.Containers = demo(Recreate, 5, 5, now).Containers
		if got := kinds(d.Decide(now, []Instance{in})); got != "" {
			t.Fatalf("blocked, at +%ds: %q", s, got)
		}
	}
	end := t0.Add(300 * time.Second)
	// Right after the block, the old failures (before it ended) are not
	// counted: two new failed checks are not enough.
	in = demo(Recreate, 0, 2, end.Add(4*time.Second))
	in.Containers[0].Checks = checks(end.Add(4*time.Second), 5, 5)
	in.Containers[0].Checks[0].Start = end.Add(-4 * time.Second)
	in.Containers[0].Checks[1].Start = end.Add(-2 * time.Second)
	in.Containers[0].Checks[2].Start = end.Add(time.Second)
	in.Containers[0].Checks[2].ExitCode = 0
	if got := kinds(d.Decide(end.Add(4*time.Second), []Instance{in})); got != "" {
		t.Errorf("after the block: %q, want nothing (its failures came before the block ended)", got)
	}
}

// Failed checks in the container's start period do not count.
func TestDecideStartPeriod(t *testing.T) {
	d := &Decider{}
	in := demo(Recreate, 0, 4, t0)
	in.Containers[0].Health = "starting"
	in.Containers[0].StartedAt, in.Containers[0].StartPeriod = t0.Add(-10*time.Second), time.Minute
	if got := kinds(d.Decide(t0, []Instance{in})); got != "" {
		t.Errorf("in the start period: %q, want nothing", got)
	}
	in.Containers[0].StartPeriod = 5 * time.Second // checks from t0-5s count: 3 of them failed
	if got := kinds(d.Decide(t0, []Instance{in})); got != "restart demo/app #1" {
		t.Errorf("after the start period: %q, want a restart", got)
	}
	// A container that passed a check is started: its start period is over.
	d = &Decider{}
	in.Containers[0].Health, in.Containers[0].StartPeriod = "healthy", time.Minute
	if got := kinds(d.Decide(t0, []Instance{in})); got != "restart demo/app #1" {
		t.Errorf("healthy, failing in its start period: %q, want a restart", got)
	}
}
