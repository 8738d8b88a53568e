package backup

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// ErrNoGroup means no complete backup group matches.
var ErrNoGroup = errors.New("no backup group")

// Verification states of a group.
const (
	StateIncomplete = "incomplete" // no manifest: never restorable as a whole
	StateComplete   = "complete"   // stored, not drilled yet
	StateVerified   = "verified"   // a restore drill reproduced it
	StateFailed     = "drill-failed"
)

// Group is one backup group as found in the repository.
type Group struct {
	ID        string     `json:"id"`
	Instance  string     `json:"instance"`
	Entry     string     `json:"entry"`
	Version   string     `json:"version"`
	Time      time.Time  `json:"time"`
	State     string     `json:"state"`
	Verified  string     `json:"verified,omitempty"`
	Complete  bool       `json:"complete"`
	Bytes     int64      `json:"bytes"`
	Tags      []string   `json:"tags,omitempty"`
	Snapshots []Snapshot `json:"-"`
	manifest  *Snapshot
}

// ListGroups returns the groups of an instance ("" for all), oldest first.
func ListGroups(ctx context.Context, repo *Restic, instance string) ([]Group, error) {
	tags := []string{"dockerbank"}
	if instance != "" {
		tags = append(tags, "instance="+instance)
	}
	snaps, err := repo.Snapshots(ctx, tags...)
	if err != nil {
		return nil, err
	}
	byID := map[string]*Group{}
	var order []string
	for _, s := range snaps {
		id := s.Tag("group")
		if id == "" {
			continue
		}
		g, ok := byID[id]
		if !ok {
			g = &Group{ID: id, Instance: s.Tag("instance"), Entry: s.Tag("entry"), Version: s.Tag("version"), Time: s.Time, State: StateIncomplete}
			byID[id] = g
			order = append(order, id)
		}
		g.Snapshots = append(g.Snapshots, s)
		if s.Tag("kind") == "manifest" {
			sc := s
			g.manifest = &sc
			g.Complete = true
			g.State = StateComplete
			fmt.Sscan(s.Tag("bytes"), &g.Bytes)
			if v := s.Tag("verified"); v != "" {
				g.State, g.Verified = StateVerified, v
			}
			if s.HasTag(StateFailed) {
				g.State = StateFailed
			}
			for _, t := range s.Tags {
				if !strings.Contains(t, "=") && t != "dockerbank" && t != StateFailed {
					g.Tags = append(g.Tags, t)
				}
			}
		}
	}
	out := make([]Group, 0, len(order))
	for _, id := range order {
		out = append(out, *byID[id])
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// LoadManifest reads a complete group's manifest and checks that every
// member it names is stored.
func LoadManifest(ctx context.Context, repo *Restic, g Group) (*Manifest, error) {
	if g.manifest == nil {
		return nil, fmt.Errorf("%w: group %s of %s is incomplete (no manifest): it was interrupted and cannot be restored", ErrNoGroup, g.ID, g.Instance)
	}
	var buf bytes.Buffer
	if err := repo.Dump(ctx, g.manifest.ID, "/manifest.json", &buf); err != nil {
		return nil, fmt.Errorf("read manifest of group %s: %w", g.ID, err)
	}
	var m Manifest
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		return nil, fmt.Errorf("read manifest of group %s: %w", g.ID, err)
	}
	if m.Format != ManifestVersion {
		return nil, fmt.Errorf("manifest of group %s has format %q; this dockerbank reads %s", g.ID, m.Format, ManifestVersion)
	}
	m.snapshot, m.repo = g.manifest.ID, repo
	// In an off-site copy every snapshot has a new ID and names the one
	// it was copied from: the manifest's IDs are mapped to the local ones.
	local := map[string]string{}
	for _, s := range g.Snapshots {
		for _, id := range []string{s.ID, s.ShortID, s.ID[:8]} {
			local[id] = s.ID
		}
		if o := s.Original; len(o) >= 8 {
			local[o], local[o[:8]] = s.ID, s.ID
		}
	}
	for i, mb := range m.Members {
		ids := strings.Split(mb.Snapshot, ",")
		for k, id := range ids {
			if id == "" {
				continue
			}
			lid, ok := local[id]
			if !ok {
				return nil, fmt.Errorf("group %s: snapshot %s of %s is missing from the repository", g.ID, id, mb.Volume)
			}
			ids[k] = lid
		}
		m.Members[i].Snapshot = strings.Join(ids, ",")
	}
	return &m, nil
}

// FindGroup returns the named group, or the newest complete one.
func FindGroup(ctx context.Context, repo *Restic, instance, id string) (Group, error) {
	groups, err := ListGroups(ctx, repo, instance)
	if err != nil {
		return Group{}, err
	}
	for i := len(groups) - 1; i >= 0; i-- {
		g := groups[i]
		if id != "" && g.ID != id && !strings.HasPrefix(g.ID, id) {
			continue
		}
		if !g.Complete {
			if id != "" {
				return Group{}, fmt.Errorf("%w: group %s of %s is incomplete (no manifest): it was interrupted and cannot be restored", ErrNoGroup, g.ID, instance)
			}
			continue
		}
		return g, nil
	}
	if id != "" {
		return Group{}, fmt.Errorf("%w %s for %s; see `dockerbank snapshots %s`", ErrNoGroup, id, instance, instance)
	}
	return Group{}, fmt.Errorf("%w for %s: run `dockerbank backup %s` first", ErrNoGroup, instance, instance)
}

// SetState tags a group's manifest with its drill result.
func SetState(ctx context.Context, repo *Restic, g Group, ok bool, when time.Time) error {
	_ = repo.Unlock(ctx)
	if g.manifest == nil {
		return fmt.Errorf("group %s is incomplete", g.ID)
	}
	ids := []string{g.manifest.ID}
	for _, t := range g.manifest.Tags {
		if strings.HasPrefix(t, "verified=") || t == StateFailed {
			if err := repo.RemoveTags(ctx, ids, t); err != nil {
				return err
			}
			// restic rewrote the snapshot: find it again.
			snaps, err := repo.Snapshots(ctx, "group="+g.ID, "kind=manifest")
			if err != nil || len(snaps) == 0 {
				return fmt.Errorf("find manifest of group %s again: %v", g.ID, err)
			}
			ids = []string{snaps[len(snaps)-1].ID}
		}
	}
	tag := StateFailed
	if ok {
		tag = "verified=" + when.UTC().Format("20060102T150405Z")
	}
	return repo.AddTags(ctx, ids, tag)
}
