package backup

import (
	"context"
	"fmt"
	"time"

	"github.com/dockerbank/dockerbank/internal/site"
)

// VerifyOptions controls Verify.
type VerifyOptions struct {
	Group string
	// ReadData is the share of the repository's data read back by restic
	// check, e.g. "5%"; "" reads none.
	ReadData string
	// NoDrill skips the restore drill.
	NoDrill bool
}

// VerifyResult is the outcome of a verification.
type VerifyResult struct {
	Instance string `json:"instance"`
	Group    string `json:"group"`
	Check    string `json:"check"`
	Drill    string `json:"drill"`
	Tables   int    `json:"tablesCompared"`
	Files    int    `json:"filesCompared"`
	// Fingerprint says how the drill's data compared with the group's
	// fingerprint.
	Fingerprint string  `json:"fingerprint,omitempty"`
	Seconds     float64 `json:"seconds"`
	Error       string  `json:"error,omitempty"`
}

// Verify checks the repository and drills a restore of a group into a
// throwaway instance, compares it with the manifest, removes it, and
// records the result in the journal and in the group's state.
func (j *Job) Verify(ctx context.Context, name string, o VerifyOptions) (*VerifyResult, error) {
	start := time.Now()
	res := &VerifyResult{Instance: name, Check: "skipped", Drill: "skipped"}
	repo, err := j.openRepo(ctx, false)
	if err != nil {
		return res, err
	}
	g, err := FindGroup(ctx, repo, name, o.Group)
	if err != nil {
		return res, err
	}
	res.Group = g.ID
	_ = repo.Unlock(ctx) // only stale locks of killed runs go
	j.step("restic check of %s (read-data subset %q)", repo.Repository, o.ReadData)
	if err := repo.Check(ctx, o.ReadData); err != nil {
		res.Check = "failed"
		return res, j.recordVerify(ctx, repo, g, res, err)
	}
	res.Check = "ok"
	if o.NoDrill {
		res.Seconds = time.Since(start).Seconds()
		return res, nil
	}
	man, err := LoadManifest(ctx, repo, g)
	if err != nil {
		res.Drill = "failed"
		return res, j.recordVerify(ctx, repo, g, res, err)
	}
	drill := fmt.Sprintf("%s-dr%s", shortName(name, 50), randHex(2))
	j.step("restore drill of group %s into throwaway instance %s", g.ID, drill)
	rr := &RestoreResult{}
	derr := j.restoreNew(ctx, repoSource{repo}, man, drill, true, rr)
	j.removeInstance(ctx, drill)
	res.Tables, res.Files, res.Fingerprint = rr.Tables, rr.Files, rr.Fingerprint
	res.Seconds = time.Since(start).Seconds()
	if derr == nil && len(rr.Damaged) > 0 {
		// The group restores as it was captured, but what it holds is not
		// a sound copy: the drill fails.
		derr = RestoredDamage(man.Group, name, name, rr.Damaged)
	}
	if derr != nil {
		res.Drill = "failed"
		return res, j.recordVerify(ctx, repo, g, res, derr)
	}
	res.Drill = "ok"
	return res, j.recordVerify(ctx, repo, g, res, nil)
}

func (j *Job) recordVerify(ctx context.Context, repo *Restic, g Group, res *VerifyResult, verr error) error {
	outcome, detail := "ok", fmt.Sprintf("verify group %s: check %s, drill %s (%d tables, %d files; fingerprint: %s) in %.0fs", g.ID, res.Check, res.Drill, res.Tables, res.Files, orNone(res.Fingerprint), res.Seconds)
	if verr != nil {
		outcome = "failed"
		res.Error = verr.Error()
		detail += ": " + verr.Error()
	}
	var errs []error
	if verr != nil {
		errs = append(errs, verr)
	}
	if res.Drill != "skipped" {
		if err := SetState(context.WithoutCancel(ctx), repo, g, verr == nil, time.Now()); err != nil {
			errs = append(errs, fmt.Errorf("record drill state: %w", err))
		}
	}
	if res.Drill != "skipped" || res.Check == "failed" {
		// The instance's newest drill result, for serve's metrics and alerts.
		d := site.Drill{Time: time.Now().UTC(), OK: verr == nil, Group: g.ID, Detail: detail}
		if err := j.M.Site.SaveDrill(g.Instance, d); err != nil {
			errs = append(errs, fmt.Errorf("record drill result: %w", err))
		}
	}
	if err := j.M.Site.Append(site.Record{Command: j.M.Command, Instance: g.Instance, Outcome: outcome, Op: g.ID, Detail: detail}); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil
	}
	if len(errs) == 1 {
		return errs[0]
	}
	return fmt.Errorf("%w (%v)", errs[0], errs[1:])
}

func siteRecord(j *Job, instance, outcome, detail string) site.Record {
	return site.Record{Command: j.M.Command, Instance: instance, Outcome: outcome, Detail: detail}
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
