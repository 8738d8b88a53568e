package daemon

import (
	"context"
	"errors"
	"fmt"

	"github.com/dockerbank/dockerbank/internal/backup"
	"github.com/dockerbank/dockerbank/internal/bank"
	"github.com/dockerbank/dockerbank/internal/schedule"
	"github.com/dockerbank/dockerbank/internal/site"
)

// EntryPolicy returns the protect policy of an instance's entry, read from
// the bank b.
func EntryPolicy(b *bank.Bank) func(context.Context, *site.Instance) (*schedule.Policy, error) {
	return func(_ context.Context, in *site.Instance) (*schedule.Policy, error) {
		e, err := b.Get(in.Entry)
		if err != nil {
			return nil, fmt.Errorf("entry %s of instance %s: %w (its protect policy is unknown; add the bank holding it to site.yaml banks:)", in.Entry, in.Name, err)
		}
		return e.Protect, nil
	}
}

// backupJob returns a backup job whose journal records name serve and
// what it does.
func (d *Daemon) backupJob(what string) *backup.Job {
	return &backup.Job{M: d.manager(what)}
}

func backupOptions() backup.BackupOptions { return backup.BackupOptions{} }

// protectJobs runs the scheduler's jobs through the backup job, journalled
// as serve's scheduled runs.
type protectJobs struct{ d *Daemon }

func (p protectJobs) Backup(ctx context.Context, name string) error {
	j := p.d.backupJob("scheduled backup " + name)
	if _, err := j.Backup(ctx, name, backupOptions()); err != nil {
		return err
	}
	// The new group goes to every off-site copy without a schedule.
	if cfg, err := j.M.Site.Config(); err != nil || len(cfg.Backup.Copies) == 0 {
		return err
	}
	_, err := j.Copy(ctx, name, backup.CopyOptions{})
	if errors.Is(err, backup.ErrNoCopies) {
		return nil
	}
	return err
}

// Copy runs one off-site copy that has a schedule of its own.
func (p protectJobs) Copy(ctx context.Context, name, copy string) error {
	j := p.d.backupJob("scheduled copy " + copy + " of " + name)
	_, err := j.Copy(ctx, name, backup.CopyOptions{Copies: []string{copy}, Scheduled: true})
	return err
}

func (p protectJobs) Drill(ctx context.Context, name string) error {
	j := p.d.backupJob("scheduled drill " + name)
	_, err := j.Verify(ctx, name, backup.VerifyOptions{ReadData: "5%"})
	return err
}

func (p protectJobs) Forget(ctx context.Context, name string, k schedule.Keep) error {
	j := p.d.backupJob("scheduled retention " + name)
	_, err := j.Forget(ctx, name, backup.ForgetOptions{Policy: backup.Policy{Daily: k.Daily, Weekly: k.Weekly, Monthly: k.Monthly}})
	return err
}

var (
	_ ProtectJobs = protectJobs{}
	_ CopyJobs    = protectJobs{}
)
