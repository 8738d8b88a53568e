package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/dockerbank/dockerbank/internal/daemon"
	"github.com/dockerbank/dockerbank/internal/progress"
	"github.com/dockerbank/dockerbank/internal/schedule"
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
			sch, err := a.scheduler(cmd.Context())
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
				if !p.Failed[daemon.JobBackup].IsZero() && p.Failed[daemon.JobBackup].After(p.LastBackup) {
					last += " failed " + when(p.Failed[daemon.JobBackup])
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

// scheduler builds the protect scheduler of the site, for its plans
// only: entry policies from the bank, no jobs.
func (a *app) scheduler(ctx context.Context) (*daemon.Scheduler, error) {
	s, err := a.openSite()
	if err != nil {
		return nil, err
	}
	b, err := a.openBank(ctx)
	if err != nil {
		return nil, err
	}
	return &daemon.Scheduler{Site: s, Log: a.logger(), EntryPolicy: daemon.EntryPolicy(b)}, nil
}
