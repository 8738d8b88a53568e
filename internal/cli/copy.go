package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/dockerbank/dockerbank/internal/backup"
	"github.com/dockerbank/dockerbank/internal/progress"
	"github.com/dockerbank/dockerbank/internal/site"
)

func (a *app) limitFlags(c *cobra.Command) {
	c.Flags().IntVar(&a.limitUpload, "limit-upload", 0, "limit restic's uploads to this many KiB/s (default site.yaml's backup.limitUpload)")
	c.Flags().IntVar(&a.limitDownload, "limit-download", 0, "limit restic's downloads to this many KiB/s (default site.yaml's backup.limitDownload)")
}

// fromFlags name a repository other than the site's: an off-site copy of
// site.yaml by name or URL, or any restic URL with its access files.
type fromFlags struct {
	from         string
	passwordFile string
	access       site.Access
}

func (f *fromFlags) bind(c *cobra.Command, what string) {
	c.Flags().StringVar(&f.from, "from", "", what+" this repository instead of the site's: the name or URL of an off-site copy in site.yaml, or any restic URL (with --password-file)")
	c.Flags().StringVar(&f.passwordFile, "password-file", "", "with --from: file (mode 0600) holding that repository's password (default the copy's passwordFile, else the site's backup-key)")
	c.Flags().StringVar(&f.access.CredentialsFile, "credentials-file", "", "with --from: file (mode 0600) of KEY=VALUE credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, REST_USERNAME/REST_PASSWORD)")
	c.Flags().StringVar(&f.access.SSHConfigFile, "ssh-config", "", "with --from: ssh_config for an sftp: repository")
	c.Flags().StringVar(&f.access.CACertFile, "cacert", "", "with --from: CA certificates of an https server")
}

// open returns the repository named by --from, or nil without it.
func (f *fromFlags) open(s *site.Site) (*backup.Restic, error) {
	if f.from == "" {
		return nil, nil
	}
	r, err := openFrom(s, f.from, f.passwordFile, f.access)
	if err != nil {
		return nil, err
	}
	if err := r.UseFastKey(); err != nil {
		return nil, err
	}
	return r, nil
}

// openFrom resolves a repository: a copy of site.yaml (by name or URL)
// with its settings, overridden by what is given; else the URL itself.
func openFrom(s *site.Site, from, passwordFile string, acc site.Access) (*backup.Restic, error) {
	c, err := s.Config()
	if err != nil {
		return nil, err
	}
	for i, cp := range c.Backup.Copies {
		if cp.CopyName(i) != from && cp.Repository != from {
			continue
		}
		if passwordFile == "" {
			passwordFile = cp.PasswordFile
		}
		a := cp.Access
		if acc.CredentialsFile != "" {
			a.CredentialsFile = acc.CredentialsFile
		}
		if acc.SSHConfigFile != "" {
			a.SSHConfigFile = acc.SSHConfigFile
		}
		if acc.CACertFile != "" {
			a.CACertFile = acc.CACertFile
		}
		return backup.Open(cp.Repository, passwordFile, a)
	}
	if !strings.Contains(from, ":") && !strings.HasPrefix(from, "/") && !strings.HasPrefix(from, ".") {
		return nil, usageError{fmt.Errorf("--from %s: no off-site copy of that name in site.yaml; give a copy's name or a repository URL", from)}
	}
	if passwordFile == "" {
		passwordFile = s.Dir + "/" + backup.KeyFile
	}
	return backup.Open(from, passwordFile, acc)
}

// copyAfterBackup copies a new group to the copies without a schedule.
func (a *app) copyAfterBackup(cmd *cobra.Command, j *backup.Job, name, group string) ([]backup.CopyResult, error) {
	c, err := j.M.Site.Config()
	if err != nil || len(c.Backup.Copies) == 0 {
		return nil, err
	}
	res, err := j.Copy(cmd.Context(), name, backup.CopyOptions{})
	if !a.json {
		a.printCopies(res)
	}
	return res, err
}

func (a *app) printCopies(res []backup.CopyResult) {
	for _, r := range res {
		state := "verified"
		if !r.Verified {
			state = "NOT verified"
		}
		if r.Error != "" {
			state = "FAILED"
		}
		fmt.Fprintf(a.streams.Out, "%s: copy %s (%s): %d group(s) copied, %d present, %s sent in %.1fs, %s\n",
			r.Instance, r.Copy, r.Repository, len(r.Groups), len(r.Present), progress.Bytes(r.Bytes), r.Seconds, state)
	}
}

func (a *app) backupCopyCommand() *cobra.Command {
	var all bool
	var o backup.CopyOptions
	c := &cobra.Command{
		Use:   "copy NAME... | --all",
		Short: "Copy backup groups to the off-site copies of site.yaml and check them there",
		Long: `copy copies each instance's complete groups that are newer than the newest
one on each off-site copy (backup.copies in site.yaml; at least the newest
group) with restic copy: the members first, the manifest last, so that a group
is complete on a copy only when all of it is there. It then runs restic check
on the copy and reads the group's manifest back there, and records where each
group exists and when it was verified (` + "`dockerbank snapshots`" + ` shows it). A run
that was cut (network, server, disk) is resumed by the next one.`,
		Example: `  dockerbank backup copy demo
  dockerbank backup copy --all --to offsite --limit-upload 10240`,
		RunE: func(cmd *cobra.Command, args []string) error {
			names, err := a.instancesOrAll(cmd, args, all)
			if err != nil {
				return err
			}
			j, err := a.job(cmd, args)
			if err != nil {
				return err
			}
			o.Scheduled = true
			var results []backup.CopyResult
			var failed []string
			for _, n := range names {
				res, err := j.Copy(cmd.Context(), n, o)
				results = append(results, res...)
				if !a.json {
					a.printCopies(res)
				}
				if err != nil {
					fmt.Fprintf(a.streams.Err, "dockerbank: %v\n", err)
					failed = append(failed, n)
				}
			}
			if a.json {
				if results == nil {
					results = []backup.CopyResult{}
				}
				if err := a.printJSON(results); err != nil {
					return err
				}
			}
			if len(failed) > 0 {
				return &silentError{code: ExitError}
			}
			return nil
		},
	}
	c.Flags().BoolVar(&all, "all", false, "copy every instance of the site")
	c.Flags().StringVar(&o.Group, "group", "", "copy this group (default every group newer than the copy's newest)")
	c.Flags().StringSliceVar(&o.Copies, "to", nil, "copy to these copies only (names in site.yaml)")
	a.limitFlags(c)
	return c
}

// copiesOf summarises where a group is copied: "offsite:verified,s3:copied".
func copiesOf(recs []site.CopyRecord, instance, group string) string {
	var parts []string
	for _, r := range recs {
		if r.Instance != instance || r.Group != group {
			continue
		}
		state := "copied"
		if !r.Verified.IsZero() {
			state = "verified " + r.Verified.Local().Format("01-02 15:04")
		}
		parts = append(parts, r.Copy+":"+state)
	}
	return strings.Join(parts, ",")
}
