package backup

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/dockerbank/dockerbank/internal/progress"
	"github.com/dockerbank/dockerbank/internal/site"
)

// ErrNoCopies means site.yaml names no off-site copy (or none by that name).
var ErrNoCopies = errors.New("no off-site copy")

// CopyTarget is one off-site repository of the site.
type CopyTarget struct {
	Name   string
	Config site.CopyConfig
}

// CopyTargets returns the off-site copies of site.yaml, those named in
// only (all when empty).
func CopyTargets(s *site.Site, only ...string) ([]CopyTarget, error) {
	c, err := s.Config()
	if err != nil {
		return nil, err
	}
	var out []CopyTarget
	seen := map[string]bool{}
	for i, cc := range c.Backup.Copies {
		n := cc.CopyName(i)
		if len(only) > 0 && !slices.Contains(only, n) {
			continue
		}
		seen[n] = true
		out = append(out, CopyTarget{Name: n, Config: cc})
	}
	for _, n := range only {
		if !seen[n] {
			return nil, fmt.Errorf("%w named %s in site.yaml backup.copies; see docs/backup.md, Off-site copies", ErrNoCopies, n)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: site.yaml has no backup.copies; add one (see docs/backup.md, Off-site copies)", ErrNoCopies)
	}
	return out, nil
}

// OpenCopy opens an off-site copy's repository (it is not created).
func (t CopyTarget) Open() (*Restic, error) {
	return Open(t.Config.Repository, t.Config.PasswordFile, t.Config.Access)
}

// CopyOptions controls Copy.
type CopyOptions struct {
	// Group copies this group; default every complete group newer than
	// the newest one on the copy (at least the newest complete group).
	Group string
	// Copies names the copies to run; default all.
	Copies []string
	// Scheduled, when false, skips copies that have a schedule of their
	// own (the run after a backup).
	Scheduled bool
}

// CopyResult is the outcome of copying an instance to one copy.
type CopyResult struct {
	Instance   string   `json:"instance"`
	Copy       string   `json:"copy"`
	Repository string   `json:"repository"`
	Groups     []string `json:"groups"`
	// Present lists groups that were on the copy already.
	Present  []string `json:"present,omitempty"`
	Verified bool     `json:"verified"`
	Bytes    int64    `json:"bytesSent"`
	Seconds  float64  `json:"seconds"`
	Error    string   `json:"error,omitempty"`
}

// Copy copies an instance's complete groups to its off-site copies with
// restic copy (members first, the manifest last, so a group is complete
// there only when all of it is), checks each copy (restic check, and the
// group's manifest read back and every member found), and records where
// each group exists and when it was verified. A failure on one copy does
// not stop the others; the error joins them all.
func (j *Job) Copy(ctx context.Context, instance string, o CopyOptions) ([]CopyResult, error) {
	l, err := j.M.Site.Lock(ctx, 2*time.Minute)
	if err != nil {
		return nil, err
	}
	defer l.Unlock()
	targets, err := CopyTargets(j.M.Site, o.Copies...)
	if err != nil {
		return nil, err
	}
	src, err := j.primary(ctx, false)
	if err != nil {
		return nil, err
	}
	groups, err := ListGroups(ctx, src, instance)
	if err != nil {
		return nil, err
	}
	var complete []Group
	for _, g := range groups {
		if g.Complete {
			complete = append(complete, g)
		}
	}
	if o.Group != "" {
		g, err := FindGroup(ctx, src, instance, o.Group)
		if err != nil {
			return nil, err
		}
		complete = []Group{g}
	}
	if len(complete) == 0 {
		return nil, fmt.Errorf("%w for %s: run `dockerbank backup %s` first", ErrNoGroup, instance, instance)
	}
	var results []CopyResult
	var errs []error
	for _, t := range targets {
		if t.Config.Schedule != "" && !o.Scheduled && len(o.Copies) == 0 && o.Group == "" {
			continue
		}
		res, err := j.copyTo(ctx, src, t, instance, complete, o.Group != "")
		results = append(results, res)
		if err != nil {
			errs = append(errs, fmt.Errorf("copy %s of %s: %w", t.Name, instance, err))
		}
	}
	return results, errors.Join(errs...)
}

func (j *Job) copyTo(ctx context.Context, src *Restic, t CopyTarget, instance string, complete []Group, named bool) (res CopyResult, err error) {
	start := time.Now()
	res = CopyResult{Instance: instance, Copy: t.Name, Repository: t.Config.Repository, Groups: []string{}}
	defer func() {
		res.Seconds = time.Since(start).Seconds()
		outcome, detail := "ok", fmt.Sprintf("copy %s to %s (%s): %d group(s) copied, %s sent, verified %v", instance, t.Name, t.Config.Repository, len(res.Groups), progress.Bytes(res.Bytes), res.Verified)
		if err != nil {
			res.Error = err.Error()
			outcome, detail = "failed", detail+": "+err.Error()
		}
		if jerr := j.M.Site.Append(site.Record{Command: j.M.Command, Instance: instance, Outcome: outcome, Op: "copy-" + t.Name, Detail: detail}); jerr != nil {
			err = errors.Join(err, jerr)
		}
	}()
	dst, err := t.Open()
	if err != nil {
		return res, err
	}
	j.tune(dst)
	// Written counts per restic run; a copy is two runs (members, then
	// the manifest).
	var sent, base, last int64
	dst.OnTransfer = func(tr Transfer) {
		if tr.Op == "copy" {
			if tr.Written < last {
				base += last
			}
			last = tr.Written
			sent = base + last
		}
		if tr.Op == "copy" {
			j.report(progress.Event{Phase: progress.Copy, Instance: instance, Target: t.Name, Done: tr.Written, Read: tr.Read, Seconds: tr.Seconds})
		}
	}
	defer func() { res.Bytes = sent }()
	from := []string{"RESTIC_FROM_REPOSITORY=" + src.Repository, "RESTIC_FROM_PASSWORD_FILE=" + src.PasswordFile,
		"RESTIC_FROM_KEY_HINT=" + src.KeyHint, "RESTIC_FROM_PASSWORD_COMMAND="}
	from = append(from, src.Env...)
	exists, err := dst.Exists(ctx)
	if err != nil {
		return res, err
	}
	if !exists {
		// The copy shares the primary's chunker parameters, so unchanged
		// data deduplicates there too (the next copy sends only changes).
		j.step("create off-site repository %s (%s)", t.Name, t.Config.Repository)
		if _, err := dst.runEnv(ctx, nil, from, "init", "--copy-chunker-params"); err != nil {
			return res, err
		}
	}
	if err := dst.Unlock(ctx); err != nil {
		return res, err
	}
	there, err := ListGroups(ctx, dst, instance)
	if err != nil {
		return res, err
	}
	have := map[string]bool{}
	var newest time.Time
	for _, g := range there {
		if g.Complete {
			have[g.ID] = true
			if g.Time.After(newest) {
				newest = g.Time
			}
		}
	}
	todo := complete
	if !named {
		// Every group newer than the copy's newest (a run cut earlier
		// resumes here); at least the newest.
		todo = nil
		for _, g := range complete {
			if g.Time.After(newest) || have[g.ID] && g.ID == complete[len(complete)-1].ID {
				todo = append(todo, g)
			}
		}
	}
	var recs []site.CopyRecord
	for _, g := range todo {
		if have[g.ID] {
			res.Present = append(res.Present, g.ID)
		} else {
			var members, manifest []string
			for _, s := range g.Snapshots {
				if s.Tag("kind") == "manifest" {
					manifest = append(manifest, s.ID)
				} else {
					members = append(members, s.ID)
				}
			}
			j.step("copy group %s of %s to %s (%d snapshots)", g.ID, instance, t.Name, len(g.Snapshots))
			for _, ids := range [][]string{members, manifest} {
				if len(ids) == 0 {
					continue
				}
				if _, err := dst.runEnv(ctx, nil, from, append([]string{"copy"}, ids...)...); err != nil {
					return res, err
				}
			}
			res.Groups = append(res.Groups, g.ID)
		}
		recs = append(recs, site.CopyRecord{Instance: instance, Group: g.ID, Copy: t.Name, Repo: t.Config.Repository, GroupAt: g.Time, Copied: time.Now().UTC()})
	}
	// Recorded as copied before the check: a failed check leaves the
	// group copied but not verified.
	if err := j.M.Site.UpdateCopies(keepCopied(j.M.Site, recs), instance, t.Name, nil); err != nil {
		return res, err
	}
	j.step("check off-site repository %s", t.Name)
	if err := dst.Check(ctx, ""); err != nil {
		return res, err
	}
	for i, rec := range recs {
		g, err := FindGroup(ctx, dst, instance, rec.Group)
		if err != nil {
			return res, err
		}
		if _, err := LoadManifest(ctx, dst, g); err != nil {
			return res, err
		}
		recs[i].Verified = time.Now().UTC()
	}
	res.Verified = true
	return res, j.M.Site.UpdateCopies(recs, instance, t.Name, nil)
}

// keepCopied keeps the copy time of groups recorded before.
func keepCopied(s *site.Site, recs []site.CopyRecord) []site.CopyRecord {
	old, _ := s.Copies()
	for i, r := range recs {
		for _, o := range old {
			if o.Instance == r.Instance && o.Group == r.Group && o.Copy == r.Copy {
				recs[i].Copied, recs[i].Verified = o.Copied, o.Verified
			}
		}
	}
	return recs
}

// forgetCopies applies retention on every off-site copy: the copy's own
// keep (or the policy given), never removing the newest group verified
// there, then prunes it.
func (j *Job) forgetCopies(ctx context.Context, instance string, o ForgetOptions, res *ForgetResult) error {
	c, err := j.M.Site.Config()
	if err != nil || len(c.Backup.Copies) == 0 {
		return err
	}
	targets, err := CopyTargets(j.M.Site)
	if err != nil {
		return err
	}
	recs, err := j.M.Site.Copies()
	if err != nil {
		return err
	}
	res.Copies = map[string]*ForgetResult{}
	var errs []error
	for _, t := range targets {
		r, err := j.forgetCopy(ctx, t, instance, o, recs)
		res.Copies[t.Name] = r
		if err != nil {
			errs = append(errs, fmt.Errorf("forget on copy %s: %w", t.Name, err))
		}
	}
	return errors.Join(errs...)
}

func (j *Job) forgetCopy(ctx context.Context, t CopyTarget, instance string, o ForgetOptions, recs []site.CopyRecord) (*ForgetResult, error) {
	res := &ForgetResult{Kept: []string{}, Removed: []string{}}
	dst, err := t.Open()
	if err != nil {
		return res, err
	}
	j.tune(dst)
	if err := dst.Unlock(ctx); err != nil {
		return res, err
	}
	groups, err := ListGroups(ctx, dst, instance)
	if err != nil {
		return res, err
	}
	p := o.Policy
	if k := t.Config.Keep; k != nil {
		p = Policy{Daily: k.Daily, Weekly: k.Weekly, Monthly: k.Monthly}
	}
	// The newest group verified on this copy stays, whatever the policy.
	var pinned string
	for _, r := range recs {
		if r.Instance == instance && r.Copy == t.Name && !r.Verified.IsZero() && r.Group > pinned {
			pinned = r.Group
		}
	}
	keep, remove := Plan(groups, p)
	var ids []string
	for _, g := range remove {
		if g.ID == pinned {
			keep = append(keep, g)
			continue
		}
		res.Removed = append(res.Removed, g.ID)
		for _, s := range g.Snapshots {
			ids = append(ids, s.ID)
		}
	}
	for _, g := range keep {
		res.Kept = append(res.Kept, g.ID)
	}
	if o.DryRun || len(ids) == 0 {
		return res, nil
	}
	j.step("forget %d group(s) of %s on copy %s", len(res.Removed), instance, t.Name)
	if err := dst.Forget(ctx, ids); err != nil {
		return res, err
	}
	if err := j.M.Site.UpdateCopies(nil, instance, t.Name, res.Removed); err != nil {
		return res, err
	}
	j.step("prune copy %s", t.Name)
	if err := dst.Prune(ctx); err != nil {
		return res, err
	}
	return res, j.M.Site.Append(site.Record{Command: j.M.Command, Instance: instance, Outcome: "ok", Op: "forget-" + t.Name,
		Detail: fmt.Sprintf("forget on copy %s: kept %d, removed %d groups", t.Name, len(res.Kept), len(res.Removed))})
}
