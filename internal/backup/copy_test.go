package backup

import (
	"slices"
	"testing"
	"time"
)

// restic 0.14's copy output (stdout, not a terminal): one snapshot copied,
// one skipped because an earlier run copied it.
const copyOutput = `
snapshot fce20601 of [/tmp/cpx/d] at 2026-12-07 08:31:51.160553401 +0000 UTC)
  copy started, this may take a while...
[0:00] 100.00%  2 / 2 packs copied

snapshot 382305dc saved

snapshot 16f0d052 of [/tmp/cpx/d] at 2026-12-07 08:31:51.902092699 +0000 UTC)
skipping source snapshot 16f0d052, was already copied to snapshot 21c68148
`

func TestCopiedIDs(t *testing.T) {
	onCopy, saved := copiedIDs([]byte(copyOutput))
	if want := map[string]string{"fce20601": "382305dc", "16f0d052": "21c68148"}; !mapsEqual(onCopy, want) {
		t.Errorf("copy's IDs: %v, want %v", onCopy, want)
	}
	if !saved["fce20601"] || saved["16f0d052"] || len(saved) != 1 {
		t.Errorf("saved by this run: %v, want only fce20601", saved)
	}
	// A run cut after the data but before "saved" names no copy ID.
	cut, _ := copiedIDs([]byte("snapshot fce20601 of [/d] at 2026-12-07 08:31:51 +0000 UTC)\n  copy started, this may take a while...\n"))
	if len(cut) != 0 {
		t.Errorf("a cut run's output gave IDs %v", cut)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func snap(id, kind string) Snapshot {
	return Snapshot{ID: id, Tags: []string{"dockerbank", "group=g", "kind=" + kind}}
}

func TestOnCopyGroups(t *testing.T) {
	g := Group{ID: "g1", Complete: true, Snapshots: []Snapshot{
		snap("aaaaaaaa11111111", "volume"), snap("bbbbbbbb22222222", "manifest")}}
	g.manifest = &g.Snapshots[1]
	got, ids, ok := onCopyGroups([]Group{g}, map[string]string{"aaaaaaaa": "cccccccc", "bbbbbbbb": "dddddddd"})
	if !ok {
		t.Fatal("every snapshot was named, got not ok")
	}
	if !slices.Equal(ids, []string{"cccccccc", "dddddddd"}) {
		t.Errorf("IDs on the copy: %v", ids)
	}
	c := got[0]
	if c.manifest == nil || c.manifest.ID != "dddddddd" || c.manifest.Original != "bbbbbbbb22222222" {
		t.Errorf("manifest on the copy: %+v, want dddddddd copied from bbbbbbbb22222222", c.manifest)
	}
	if g.Snapshots[0].ID != "aaaaaaaa11111111" {
		t.Errorf("the primary's group was changed: %+v", g.Snapshots[0])
	}
	if _, _, ok := onCopyGroups([]Group{g}, map[string]string{"aaaaaaaa": "cccccccc"}); ok {
		t.Error("a snapshot restic copy did not name was taken as there")
	}
}

func TestPlanCopy(t *testing.T) {
	at := func(h int) time.Time { return time.Date(2026, 12, 7, h, 0, 0, 0, time.UTC) }
	gs := []Group{{ID: "g1", Time: at(1)}, {ID: "g2", Time: at(2)}, {ID: "g3", Time: at(3)}, {ID: "g4", Time: at(4)}}
	ids := func(gs []Group) []string {
		var out []string
		for _, g := range gs {
			out = append(out, g.ID)
		}
		return out
	}
	for _, c := range []struct {
		name             string
		have             map[string]time.Time
		named, recorded  bool
		wantTodo, wantHl []string
	}{
		{"first copy: every group", map[string]time.Time{}, false, false, []string{"g1", "g2", "g3", "g4"}, nil},
		{"listed: newer than the copy's newest", map[string]time.Time{"g1": at(1), "g2": at(2)}, false, false, []string{"g3", "g4"}, nil},
		{"recorded: the recorded ones ride along", map[string]time.Time{"g1": at(1), "g2": at(2)}, false, true, []string{"g3", "g4"}, []string{"g1", "g2"}},
		{"nothing new: at least the newest", map[string]time.Time{"g4": at(4)}, false, false, []string{"g4"}, nil},
		{"a group not recorded older than the newest stays", map[string]time.Time{"g1": at(1), "g3": at(3)}, false, true, []string{"g4"}, []string{"g1", "g3"}},
		{"named", map[string]time.Time{"g4": at(4)}, true, true, []string{"g1", "g2", "g3", "g4"}, nil},
	} {
		p := planCopy(gs, c.have, c.named, c.recorded)
		if !slices.Equal(ids(p.todo), c.wantTodo) || !slices.Equal(ids(p.heal), c.wantHl) {
			t.Errorf("%s: todo %v heal %v, want %v and %v", c.name, ids(p.todo), ids(p.heal), c.wantTodo, c.wantHl)
		}
	}
}

func TestCopyPlanOrder(t *testing.T) {
	g1 := Group{ID: "g1", Snapshots: []Snapshot{snap("m1", "manifest"), snap("v1", "volume")}}
	g2 := Group{ID: "g2", Snapshots: []Snapshot{snap("v2", "volume"), snap("m2", "manifest")}}
	got := copyPlan{heal: []Group{g1}, todo: []Group{g2}}.snapshots()
	if want := []string{"v1", "v2", "m1", "m2"}; !slices.Equal(got, want) {
		t.Errorf("order %v, want members first, manifests last: %v", got, want)
	}
}
