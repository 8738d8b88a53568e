package backup

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dockerbank/dockerbank/internal/progress"
)

// ErrRetentionRefused means rotation was refused to protect older groups.
var ErrRetentionRefused = errors.New("retention refused")

// Policy is a grandfather-father-son retention policy.
type Policy struct {
	Daily, Weekly, Monthly int
}

// Plan decides which groups to keep: per calendar day, ISO week and month
// the newest complete group, for the last Daily days / Weekly weeks /
// Monthly months that have one; always the newest complete and the newest
// verified group; incomplete groups only when newer than the newest
// complete one (a backup may still be running). groups are oldest first.
// It is pure: the same input gives the same plan.
func Plan(groups []Group, p Policy) (keep, remove []Group) {
	keepIDs := map[string]bool{}
	var newestComplete, newestVerified string
	for _, g := range groups {
		if g.Complete {
			newestComplete = g.ID
			if g.State == StateVerified {
				newestVerified = g.ID
			}
		}
	}
	keepIDs[newestComplete] = newestComplete != ""
	keepIDs[newestVerified] = newestVerified != ""
	buckets := []struct {
		n   int
		key func(time.Time) string
	}{
		{p.Daily, func(t time.Time) string { return t.Format("2006-01-02") }},
		{p.Weekly, func(t time.Time) string { y, w := t.ISOWeek(); return fmt.Sprintf("%d-W%02d", y, w) }},
		{p.Monthly, func(t time.Time) string { return t.Format("2006-01") }},
	}
	for _, b := range buckets {
		seen := map[string]bool{}
		for i := len(groups) - 1; i >= 0 && len(seen) < b.n; i-- {
			g := groups[i]
			if !g.Complete {
				continue
			}
			k := b.key(g.Time.UTC())
			if seen[k] {
				continue
			}
			seen[k] = true
			keepIDs[g.ID] = true
		}
	}
	afterComplete := newestComplete == ""
	for _, g := range groups {
		if g.ID == newestComplete {
			afterComplete = true
		}
		if !g.Complete && afterComplete {
			keepIDs[g.ID] = true
		}
		if keepIDs[g.ID] {
			keep = append(keep, g)
		} else {
			remove = append(remove, g)
		}
	}
	return keep, remove
}

// Suspicious reports why the newest complete group looks too small to
// rotate older ones away: less than half the size of the one before.
func Suspicious(groups []Group) string {
	var complete []Group
	for _, g := range groups {
		if g.Complete {
			complete = append(complete, g)
		}
	}
	if len(complete) < 2 {
		return ""
	}
	last, prev := complete[len(complete)-1], complete[len(complete)-2]
	if prev.Bytes > 0 && last.Bytes*2 < prev.Bytes {
		return fmt.Sprintf("the newest group %s holds %s, less than half of %s in the group before (%s)", last.ID, progress.Bytes(last.Bytes), progress.Bytes(prev.Bytes), prev.ID)
	}
	return ""
}

// ForgetOptions controls Forget.
type ForgetOptions struct {
	Policy Policy
	Force  bool
	DryRun bool
}

// ForgetResult lists the groups kept and removed.
type ForgetResult struct {
	Kept    []string `json:"kept"`
	Removed []string `json:"removed"`
	// Copies holds the result on each off-site copy.
	Copies map[string]*ForgetResult `json:"copies,omitempty"`
}

// Forget applies the policy to the groups of an instance and prunes.
func (j *Job) Forget(ctx context.Context, name string, o ForgetOptions) (*ForgetResult, error) {
	l, err := j.M.Site.Lock(ctx, 2*time.Minute)
	if err != nil {
		return nil, err
	}
	defer l.Unlock()
	repo, err := j.openRepo(ctx, false)
	if err != nil {
		return nil, err
	}
	_ = repo.Unlock(ctx)
	groups, err := ListGroups(ctx, repo, name)
	if err != nil {
		return nil, err
	}
	keep, remove := Plan(groups, o.Policy)
	res := &ForgetResult{Kept: []string{}, Removed: []string{}}
	for _, g := range keep {
		res.Kept = append(res.Kept, g.ID)
	}
	for _, g := range remove {
		res.Removed = append(res.Removed, g.ID)
	}
	if why := Suspicious(groups); why != "" && !o.Force && len(remove) > 0 {
		return res, fmt.Errorf("%w: %s; check that backup, then pass --force to rotate anyway", ErrRetentionRefused, why)
	}
	if o.DryRun || len(remove) == 0 {
		return res, j.forgetCopies(ctx, name, o, res)
	}
	var ids []string
	for _, g := range remove {
		for _, s := range g.Snapshots {
			ids = append(ids, s.ID)
		}
	}
	j.step("forget %d group(s) (%d snapshots) of %s", len(remove), len(ids), name)
	if err := repo.Forget(ctx, ids); err != nil {
		return res, err
	}
	j.step("prune the repository")
	if err := repo.Prune(ctx); err != nil {
		return res, err
	}
	if err := j.M.Site.Append(siteRecord(j, name, "ok", fmt.Sprintf("forget: kept %d, removed %d groups", len(keep), len(remove)))); err != nil {
		return res, err
	}
	return res, j.forgetCopies(ctx, name, o, res)
}
