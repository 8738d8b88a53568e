package backup

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestPlan(t *testing.T) {
	day := func(d, h int) time.Time { return time.Date(2026, 11, d, h, 0, 0, 0, time.UTC) }
	g := func(id string, at time.Time, state string) Group {
		return Group{ID: id, Time: at, State: state, Complete: state != StateIncomplete}
	}
	for _, tc := range []struct {
		name   string
		groups []Group
		policy Policy
		keep   []string
	}{
		{
			name:   "one per day for two days",
			groups: []Group{g("a", day(1, 1), StateComplete), g("b", day(2, 1), StateComplete), g("c", day(2, 5), StateComplete), g("d", day(3, 1), StateComplete)},
			policy: Policy{Daily: 2},
			keep:   []string{"c", "d"},
		},
		{
			name:   "newest verified is kept beyond the policy",
			groups: []Group{g("a", day(1, 1), StateVerified), g("b", day(2, 1), StateComplete), g("c", day(3, 1), StateComplete)},
			policy: Policy{Daily: 1},
			keep:   []string{"a", "c"},
		},
		{
			name:   "incomplete groups go unless newer than the newest complete",
			groups: []Group{g("a", day(1, 1), StateIncomplete), g("b", day(2, 1), StateComplete), g("c", day(3, 1), StateIncomplete)},
			policy: Policy{Daily: 7},
			keep:   []string{"b", "c"},
		},
		{
			name:   "weekly and monthly",
			groups: []Group{g("oct", time.Date(2026, 10, 5, 0, 0, 0, 0, time.UTC), StateComplete), g("w1", day(2, 1), StateComplete), g("w1b", day(3, 1), StateComplete), g("w2", day(10, 1), StateComplete)},
			policy: Policy{Weekly: 2, Monthly: 2},
			keep:   []string{"oct", "w1b", "w2"},
		},
		{
			name:   "zero policy keeps the newest complete",
			groups: []Group{g("a", day(1, 1), StateComplete), g("b", day(2, 1), StateComplete)},
			policy: Policy{},
			keep:   []string{"b"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keep, _ := Plan(tc.groups, tc.policy)
			var ids []string
			for _, k := range keep {
				ids = append(ids, k.ID)
			}
			if diff := cmp.Diff(tc.keep, ids); diff != "" {
				t.Errorf("kept (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSuspicious(t *testing.T) {
	gs := []Group{{ID: "a", Complete: true, Bytes: 1000}, {ID: "b", Complete: true, Bytes: 400}}
	if Suspicious(gs) == "" {
		t.Error("a group of 40% of the previous is not flagged")
	}
	gs[1].Bytes = 600
	if s := Suspicious(gs); s != "" {
		t.Errorf("a group of 60%% is flagged: %s", s)
	}
}
