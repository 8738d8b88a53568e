package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/dockerbank/dockerbank/internal/backup"
	"github.com/dockerbank/dockerbank/internal/bank"
	"github.com/dockerbank/dockerbank/internal/observe"
	"github.com/dockerbank/dockerbank/internal/progress"
	"github.com/dockerbank/dockerbank/internal/schedule"
	"github.com/dockerbank/dockerbank/internal/site"
)

func (a *app) scheduleCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "schedule",
		Short: "Show each instance's protect policy, next scheduled backup and drill, and last results",
		Long: `Schedule shows what 'dockerbank serve' will run: per instance the backup and
restore-drill schedules and retention (from the entry's protect: policy,
overridden by site.yaml's protect.default and protect.instances.NAME), where
they came from, when the next backup and drill are due, and the last results.

Schedule syntax: ` + schedule.Syntax + `.
Times are in the local time zone of the host running serve.`,
		Example: `  dockerbank schedule
  dockerbank schedule --json`,
		GroupID: "protect",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sch, err := a.scheduler(cmd.Context(), nil)
			if err != nil {
				return err
			}
			plans, err := sch.Plans(cmd.Context())
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(plans)
			}
			now := time.Now()
			var rows [][]string
			for _, p := range plans {
				if p.Error != "" {
					rows = append(rows, []string{p.Instance, "error: " + p.Error, "-", "-", "-", "-", "-"})
					continue
				}
				policy := "backup " + p.Backup + ", drill " + p.Drill
				if k := p.Keep; k != nil {
					policy += fmt.Sprintf(", keep %dd/%dw/%dm", k.Daily, k.Weekly, k.Monthly)
				}
				last := "-"
				if !p.LastBackup.IsZero() {
					last = fmt.Sprintf("%s (%s, %.0fs)", when(p.LastBackup), progress.Bytes(p.BackupSize), p.BackupSecs)
				}
				if !p.Failed[observe.JobBackup].IsZero() && p.Failed[observe.JobBackup].After(p.LastBackup) {
					last += " failed " + when(p.Failed[observe.JobBackup])
				}
				drill := "-"
				if d := p.LastDrill; d != nil {
					drill = when(d.Time) + " ok"
					if !d.OK {
						drill = when(d.Time) + " FAILED"
					}
				}
				rows = append(rows, []string{p.Instance, policy, p.Source, next(p.NextBackup, now), next(p.NextDrill, now), last, drill})
			}
			a.table([]string{"INSTANCE", "POLICY", "SOURCE", "NEXT BACKUP", "NEXT DRILL", "LAST BACKUP", "LAST DRILL"}, rows)
			return nil
		},
	}
}

func when(t time.Time) string { return t.Local().Format("2006-01-02 15:04") }

func next(t, now time.Time) string {
	switch {
	case t.IsZero():
		return "-"
	case !t.After(now):
		return "due now"
	}
	return when(t)
}

// scheduler builds the protect scheduler of the site: entry policies from
// the bank, jobs run through the backup job (nil jobs: plans only).
func (a *app) scheduler(ctx context.Context, jobs observe.ProtectJobs) (*observe.Scheduler, error) {
	s, err := a.openSite()
	if err != nil {
		return nil, err
	}
	b, err := a.openBank(ctx)
	if err != nil {
		return nil, err
	}
	return &observe.Scheduler{Site: s, Jobs: jobs, Log: a.logger(), EntryPolicy: entryPolicy(b)}, nil
}

func entryPolicy(b *bank.Bank) func(context.Context, *site.Instance) (*schedule.Policy, error) {
	return func(_ context.Context, in *site.Instance) (*schedule.Policy, error) {
		e, err := b.Get(in.Entry)
		if err != nil {
			return nil, fmt.Errorf("entry %s of instance %s: %w (its protect policy is unknown; add the bank holding it to site.yaml banks:)", in.Entry, in.Name, err)
		}
		return e.Protect, nil
	}
}

// protectJobs runs the scheduler's jobs through the backup job, journalled
// as serve's scheduled runs.
type protectJobs struct{ s *serveActions }

func (p protectJobs) job(ctx context.Context, what string) (*backup.Job, error) {
	m, err := p.s.manager(ctx, what)
	if err != nil {
		return nil, err
	}
	return &backup.Job{M: m}, nil
}

func (p protectJobs) Backup(ctx context.Context, name string) error {
	j, err := p.job(ctx, "scheduled backup "+name)
	if err != nil {
		return err
	}
	if _, err = j.Backup(ctx, name, backup.BackupOptions{}); err != nil {
		return err
	}
	// The new group goes to every off-site copy without a schedule.
	if cfg, err := j.M.Site.Config(); err != nil || len(cfg.Backup.Copies) == 0 {
		return err
	}
	_, err = j.Copy(ctx, name, backup.CopyOptions{})
	if errors.Is(err, backup.ErrNoCopies) {
		return nil
	}
	return err
}

// Copy runs one off-site copy that has a schedule of its own.
func (p protectJobs) Copy(ctx context.Context, name, copy string) error {
	j, err := p.job(ctx, "scheduled copy "+copy+" of "+name)
	if err != nil {
		return err
	}
	_, err = j.Copy(ctx, name, backup.CopyOptions{Copies: []string{copy}, Scheduled: true})
	return err
}

func (p protectJobs) Drill(ctx context.Context, name string) error {
	j, err := p.job(ctx, "scheduled drill "+name)
	if err != nil {
		return err
	}
	_, err = j.Verify(ctx, name, backup.VerifyOptions{ReadData: "5%"})
	return err
}

func (p protectJobs) Forget(ctx context.Context, name string, k schedule.Keep) error {
	j, err := p.job(ctx, "scheduled retention "+name)
	if err != nil {
		return err
	}
	_, err = j.Forget(ctx, name, backup.ForgetOptions{Policy: backup.Policy{Daily: k.Daily, Weekly: k.Weekly, Monthly: k.Monthly}})
	return err
}

var (
	_ observe.ProtectJobs = protectJobs{}
	_ observe.CopyJobs    = protectJobs{}
)
