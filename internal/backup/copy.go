package backup

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
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
	// Checked says restic check of the whole copy ran (see CheckEvery).
	Checked bool    `json:"repositoryChecked"`
	Bytes   int64   `json:"bytesSent"`
	Seconds float64 `json:"seconds"`
	Error   string  `json:"error,omitempty"`
}

// Copy copies an instance's complete groups to its off-site copies with
// restic copy (members first, the manifest last, so a group is complete
// there only when all of it is), checks the groups there (every snapshot
// found under the ID restic copy reported, the manifest read back naming
// only snapshots that are there, every tree read back and every data blob
// indexed; restic check of the whole copy when CheckEvery says it is due),
// and records where each group exists and when it was verified. A failure
// on one copy does not stop the others; the error joins them all.
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

// copyTo copies to one copy. Every restic start on a remote repository
// costs a connection, the key's derivation and, for commands that lock,
// restic's lock dance (about 0.3 to 2 s each on the test machines), so the
// run starts as few as it can: one restic copy for the groups, then the
// manifests read back beside one restic stats over the copied snapshots
// (the two at once); over sftp they share one ssh connection. What the
// copy holds comes from the site's records of earlier copies there (a
// group gone from the copy is copied again, restic copy skips the rest);
// without records, from a listing (no lock), which also creates a missing
// repository. The copy's snapshot IDs come from restic copy's output, and
// restic stats proves each of them there.
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
	defer dst.ShareSSH()()
	// Written counts per restic run; a copy may be two runs (a retry
	// after a stale lock went).
	var sent, base, last int64
	dst.OnTransfer = func(tr Transfer) {
		if tr.Op == "copy" {
			if tr.Written < last {
				base += last
			}
			last = tr.Written
			sent = base + last
			j.report(progress.Event{Phase: progress.Copy, Instance: instance, Target: t.Name, Done: tr.Written, Read: tr.Read, Seconds: tr.Seconds})
		}
	}
	defer func() { res.Bytes = sent }()
	from := []string{"RESTIC_FROM_REPOSITORY=" + src.Repository, "RESTIC_FROM_PASSWORD_FILE=" + src.PasswordFile,
		"RESTIC_FROM_KEY_HINT=" + src.KeyHint, "RESTIC_FROM_PASSWORD_COMMAND="}
	from = append(from, src.Env...)
	// list asks the copy what it holds; the listing also opens it with
	// its password, and a missing repository is created.
	created := false
	list := func() (map[string]time.Time, error) {
		there, err := ListGroups(ctx, dst, instance)
		if missing(err) {
			// The copy shares the primary's chunker parameters, so
			// unchanged data deduplicates there too (the next copy sends
			// only changes).
			j.step("create off-site repository %s (%s)", t.Name, t.Config.Repository)
			if _, err := dst.runEnv(ctx, nil, from, "init", "--copy-chunker-params"); err != nil {
				return nil, err
			}
			there, err, created = nil, nil, true
		}
		if err != nil {
			return nil, err
		}
		have := map[string]time.Time{}
		for _, g := range there {
			if g.Complete {
				have[g.ID] = g.Time
			}
		}
		return have, nil
	}
	have, recorded := copiedBefore(j.M.Site, instance, t)
	if !recorded {
		if have, err = list(); err != nil {
			return res, err
		}
	}
	p := planCopy(complete, have, named, recorded)
	copied := func() (map[string]string, map[string]bool, error) {
		ids := p.snapshots()
		j.step("copy %d group(s) of %s to %s (%d snapshots)", len(p.todo), instance, t.Name, len(ids))
		var out []byte
		err := dst.recovered(ctx, func() error {
			var err error
			out, err = dst.runEnv(ctx, nil, from, append([]string{"copy"}, ids...)...)
			return err
		})
		if err != nil {
			return nil, nil, err
		}
		onCopy, saved := copiedIDs(out)
		return onCopy, saved, nil
	}
	onCopy, saved, err := copied()
	if recorded && missing(err) {
		// The records name a repository that is not there (any more):
		// as for a first copy, ask it and create it.
		if have, err = list(); err != nil {
			return res, err
		}
		p = planCopy(complete, have, named, false)
		onCopy, saved, err = copied()
	}
	if err != nil {
		return res, err
	}
	// The groups checked: those asked for, and any recorded one that
	// restic copy found missing and copied again.
	check := p.todo
	for _, g := range p.heal {
		for _, s := range g.Snapshots {
			if saved[short(s.ID)] {
				check = append(check, g)
				break
			}
		}
	}
	now := time.Now().UTC()
	var recs []site.CopyRecord
	for _, g := range check {
		recs = append(recs, site.CopyRecord{Instance: instance, Group: g.ID, Copy: t.Name, Repo: t.Config.Repository, GroupAt: g.Time, Copied: now})
		again := false
		for _, s := range g.Snapshots {
			again = again || saved[short(s.ID)]
		}
		if again {
			res.Groups = append(res.Groups, g.ID)
		} else {
			res.Present = append(res.Present, g.ID)
		}
	}
	// Recorded as copied before the check: a failed check leaves the
	// group copied but not verified.
	if err := j.M.Site.UpdateCopies(keepCopied(j.M.Site, recs), instance, t.Name, nil); err != nil {
		return res, err
	}
	j.step("check the copied group(s) on %s", t.Name)
	groups, ids, ok := onCopyGroups(check, onCopy)
	if !ok {
		// restic copy's output did not name every snapshot (another
		// restic version): list the copy.
		if groups, ids, err = listedGroups(ctx, dst, instance, check); err != nil {
			return res, err
		}
	}
	// The manifests are read back (each names only snapshots that are
	// there) while restic stats reads every tree of the copied snapshots
	// and finds every data blob in the copy's index; a snapshot stats
	// does not find fails the check.
	merr := make(chan error, 1)
	go func() {
		for _, g := range groups {
			if _, err := LoadManifest(ctx, dst, g); err != nil {
				merr <- err
				return
			}
		}
		merr <- nil
	}()
	serr := dst.recovered(ctx, func() error { return dst.CheckSnapshots(ctx, ids) })
	if err := cmp.Or(<-merr, serr); err != nil {
		return res, err
	}
	if created || j.checkDue(t) {
		j.step("check off-site repository %s (restic check, whole repository)", t.Name)
		if err := dst.recovered(ctx, func() error { return dst.Check(ctx, "") }); err != nil {
			return res, err
		}
		res.Checked = true
		if err := j.M.Site.Append(site.Record{Command: j.M.Command, Outcome: "ok", Op: "check-" + t.Name,
			Detail: "restic check of the whole repository " + t.Config.Repository}); err != nil {
			return res, err
		}
	}
	now = time.Now().UTC()
	for i := range recs {
		recs[i].Verified = now
	}
	res.Verified = true
	return res, j.M.Site.UpdateCopies(recs, instance, t.Name, nil)
}

// copiedBefore returns the groups of an instance that the site's records
// show copied to t's repository, with their times; false when there are
// none.
func copiedBefore(s *site.Site, instance string, t CopyTarget) (map[string]time.Time, bool) {
	recs, err := s.Copies()
	have := map[string]time.Time{}
	if err != nil {
		return have, false
	}
	for _, r := range recs {
		if r.Instance == instance && r.Copy == t.Name && r.Repo == t.Config.Repository && !r.Copied.IsZero() {
			have[r.Group] = r.GroupAt
		}
	}
	return have, len(have) > 0
}

// copyPlan is what one copy run hands to restic copy.
type copyPlan struct {
	// todo are the groups asked for: checked after the copy.
	todo []Group
	// heal are groups recorded on the copy before: restic copy skips
	// them when they are there and copies them again when not.
	heal []Group
}

// planCopy decides the groups of a copy run from the primary's complete
// groups and those the copy has (listed there or recorded): the named
// group, or every group newer than the copy's newest (a run cut earlier
// resumes here), at least the newest. recorded adds the groups the
// records name, so one that went missing is copied again.
func planCopy(complete []Group, have map[string]time.Time, named, recorded bool) copyPlan {
	var p copyPlan
	if named {
		p.todo = complete
		return p
	}
	var newest time.Time
	for _, at := range have {
		if at.After(newest) {
			newest = at
		}
	}
	last := complete[len(complete)-1].ID
	for _, g := range complete {
		_, ok := have[g.ID]
		switch {
		case g.Time.After(newest) || ok && g.ID == last:
			p.todo = append(p.todo, g)
		case ok && recorded:
			p.heal = append(p.heal, g)
		}
	}
	return p
}

// snapshots orders the snapshots for restic copy: all members first, the
// manifests last. restic copies the snapshots in the order given and saves
// each one after its data, so a cut run leaves no group complete whose
// members are not all there.
func (p copyPlan) snapshots() []string {
	var members, manifests []string
	for _, g := range append(slices.Clip(p.heal), p.todo...) {
		for _, s := range g.Snapshots {
			if s.Tag("kind") == "manifest" {
				manifests = append(manifests, s.ID)
			} else {
				members = append(members, s.ID)
			}
		}
	}
	return append(members, manifests...)
}

// short is restic's short form of a snapshot ID.
func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// copiedIDs reads restic copy's output (restic 0.14 prints, per source
// snapshot, "snapshot SRC of [paths] at TIME)" and then "snapshot DST
// saved", or "skipping source snapshot SRC, was already copied to
// snapshot DST"): the copy's short ID for each source short ID, and which
// ones were saved by this run.
func copiedIDs(out []byte) (onCopy map[string]string, saved map[string]bool) {
	onCopy, saved = map[string]string{}, map[string]bool{}
	cur := ""
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) >= 3 && f[0] == "snapshot" && f[2] == "of":
			cur = f[1]
		case len(f) == 3 && f[0] == "snapshot" && f[2] == "saved" && cur != "":
			onCopy[cur], saved[cur] = f[1], true
			cur = ""
		case len(f) == 10 && f[0] == "skipping" && f[2] == "snapshot" && f[4] == "was":
			onCopy[strings.TrimSuffix(f[3], ",")] = f[9]
			cur = ""
		}
	}
	return onCopy, saved
}

// onCopyGroups maps groups of the primary to their snapshots on the copy
// (the IDs restic copy printed); false when one is not named.
func onCopyGroups(groups []Group, onCopy map[string]string) ([]Group, []string, bool) {
	var out []Group
	var ids []string
	for _, g := range groups {
		c := g
		c.Snapshots, c.manifest = nil, nil
		for _, s := range g.Snapshots {
			id, ok := onCopy[short(s.ID)]
			if !ok {
				return nil, nil, false
			}
			// restic copy keeps the snapshot and names where it came
			// from (the first repository's ID when it was a copy already).
			cs := s
			cs.ID, cs.ShortID, cs.Parent = id, id, ""
			if cs.Original == "" {
				cs.Original = s.ID
			}
			c.Snapshots = append(c.Snapshots, cs)
			ids = append(ids, id)
		}
		for i, s := range c.Snapshots {
			if s.Tag("kind") == "manifest" {
				c.manifest = &c.Snapshots[i]
			}
		}
		out = append(out, c)
	}
	return out, ids, true
}

// listedGroups finds groups on the copy by listing it; each must be
// complete there.
func listedGroups(ctx context.Context, dst *Restic, instance string, groups []Group) ([]Group, []string, error) {
	after, err := ListGroups(ctx, dst, instance)
	if err != nil {
		return nil, nil, err
	}
	found := map[string]Group{}
	for _, g := range after {
		found[g.ID] = g
	}
	var out []Group
	var ids []string
	for _, want := range groups {
		g, ok := found[want.ID]
		if !ok || !g.Complete {
			return nil, nil, fmt.Errorf("%w: group %s is not complete on %s after restic copy", ErrRepository, want.ID, dst.Repository)
		}
		out = append(out, g)
		for _, s := range g.Snapshots {
			ids = append(ids, s.ID)
		}
	}
	return out, ids, nil
}

// checkDue reports whether the whole copy repository is due for restic
// check: its last passed check (the journal says when) is older than the
// copy's CheckEvery.
func (j *Job) checkDue(t CopyTarget) bool {
	recs, err := j.M.Site.Journal()
	if err != nil {
		return true
	}
	for i := len(recs) - 1; i >= 0; i-- {
		r := recs[i]
		if r.Op == "check-"+t.Name && r.Outcome == "ok" && strings.HasSuffix(r.Detail, " "+t.Config.Repository) {
			return time.Since(r.Time) >= t.Config.CheckInterval()
		}
	}
	return true
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
	groups, err := ListGroups(ctx, dst, instance)
	if missing(err) {
		return res, nil // not created yet (a copy with a schedule of its own): nothing to forget
	}
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
	if err := dst.recovered(ctx, func() error { return dst.Forget(ctx, ids) }); err != nil {
		return res, err
	}
	if err := j.M.Site.UpdateCopies(nil, instance, t.Name, res.Removed); err != nil {
		return res, err
	}
	j.step("prune copy %s", t.Name)
	if err := dst.recovered(ctx, func() error { return dst.Prune(ctx) }); err != nil {
		return res, err
	}
	return res, j.M.Site.Append(site.Record{Command: j.M.Command, Instance: instance, Outcome: "ok", Op: "forget-" + t.Name,
		Detail: fmt.Sprintf("forget on copy %s: kept %d, removed %d groups", t.Name, len(res.Kept), len(res.Removed))})
}
