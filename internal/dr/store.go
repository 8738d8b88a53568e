package dr

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/dockerbank/dockerbank/internal/backup"
	"github.com/dockerbank/dockerbank/internal/deploy"
	"github.com/dockerbank/dockerbank/internal/site"
)

// The backup job's repository and restore, as recovery uses them.

type backupRepository struct{ r *backup.Restic }

var (
	_ Repository = backupRepository{}
	_ Restorer   = BackupRestorer{}
)

// OpenBackupRepository opens the restic repository of the backup job at a
// location with a password file, without any site.
func OpenBackupRepository(ctx context.Context, location, passwordFile string, a site.Access) (Repository, error) {
	r, err := backup.Open(location, passwordFile, a)
	if err != nil {
		return nil, err
	}
	ok, err := r.Exists(ctx)
	if errors.Is(err, backup.ErrWrongPassword) {
		return nil, fmt.Errorf("%w: %w", ErrNoBackupKey, err)
	}
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: there is no backup repository at %s; pass --repository with where it is now", ErrNoBackup, location)
	}
	if err := r.UseFastKey(); err != nil {
		return nil, err
	}
	return backupRepository{r}, nil
}

func (b backupRepository) Groups(ctx context.Context, instance string) ([]GroupInfo, error) {
	groups, err := backup.ListGroups(ctx, b.r, instance)
	if err != nil {
		return nil, err
	}
	var out []GroupInfo
	for _, g := range groups {
		if !g.Complete {
			continue
		}
		state := GroupComplete
		switch g.State {
		case backup.StateVerified:
			state = GroupVerified
		case backup.StateFailed:
			state = GroupFailed
		}
		out = append(out, GroupInfo{ID: g.ID, Time: g.Time, State: state, Version: g.Version})
	}
	return out, nil
}

func (b backupRepository) Check(ctx context.Context, instance, group string) error {
	g, err := backup.FindGroup(ctx, b.r, instance, group)
	if err != nil {
		return err
	}
	_, err = backup.LoadManifest(ctx, b.r, g)
	return err
}

func (b backupRepository) MarkVerified(ctx context.Context, instance, group string, when time.Time) error {
	g, err := backup.FindGroup(ctx, b.r, instance, group)
	if err != nil {
		return err
	}
	return backup.SetState(ctx, b.r, g, true, when)
}

// BackupRestorer restores groups with the backup job.
type BackupRestorer struct{}

// RestoreGroup deploys target from the group of source and restores the
// group's data into it, comparing every table and file with the manifest.
func (BackupRestorer) RestoreGroup(ctx context.Context, m *deploy.Manager, source, group, target string, uses map[string]string) (string, error) {
	j := &backup.Job{M: m}
	res, err := j.Restore(ctx, source, backup.RestoreOptions{Group: group, As: target, Uses: uses})
	if err != nil {
		return "", err
	}
	detail := fmt.Sprintf("%d tables and %d files match the manifest; fingerprint: %s", res.Tables, res.Files, res.Fingerprint)
	if len(res.Damaged) > 0 {
		return detail, backup.RestoredDamage(res.Group, source, target, res.Damaged)
	}
	return detail, nil
}

// ConfigureBackupSite points a site at a repository location (unless it is
// the site's default already).
func ConfigureBackupSite(s *site.Site, location string, a site.Access) error {
	cur, err := backup.RepositoryOf(s)
	if err != nil {
		return err
	}
	if filepath.Clean(cur) == filepath.Clean(location) && a == (site.Access{}) {
		return nil
	}
	c, err := s.Config()
	if err != nil {
		return err
	}
	c.Backup.Repository = location
	c.Backup.Access = mergeAccess(c.Backup.Access, a)
	return s.SaveConfig(c)
}

// CopiesOf returns the off-site copies of a site's site.yaml, as a
// bundle records them.
func CopiesOf(s *site.Site) []Copy {
	c, err := s.Config()
	if err != nil {
		return nil
	}
	var out []Copy
	for i, cc := range c.Backup.Copies {
		out = append(out, Copy{Name: cc.CopyName(i), Repository: cc.Repository, PasswordFile: cc.PasswordFile,
			CredentialsFile: cc.CredentialsFile, SSHConfigFile: cc.SSHConfigFile, CACertFile: cc.CACertFile})
	}
	return out
}

// BackupDefaults fills the backup job's parts of RestoreOptions that are
// not set.
func BackupDefaults(o *RestoreOptions) {
	if o.Open == nil {
		o.Open = OpenBackupRepository
	}
	if o.Restorer == nil {
		o.Restorer = BackupRestorer{}
	}
	if o.KeyFileName == "" {
		o.KeyFileName = backup.KeyFile
	}
	if o.ConfigureSite == nil {
		o.ConfigureSite = ConfigureBackupSite
	}
}

// RepositoryOf returns the site's backup repository location.
func RepositoryOf(s *site.Site) (string, error) { return backup.RepositoryOf(s) }
