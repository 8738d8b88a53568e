package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/dockerbank/dockerbank/internal/dr"
	"github.com/dockerbank/dockerbank/internal/progress"
	"github.com/dockerbank/dockerbank/internal/site"
)

func (a *app) drCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "dr",
		Short: "Disaster recovery: export a site bundle, restore a whole host from it, drill",
		Long: `dr rebuilds a whole host from a bundle and the backup repository.

  dr export   writes one bundle file: every instance's record, rendered compose
              file, parameters and the bank entry it was deployed from, image
              references with digests, how to rebuild local images, the backup
              repository location (never its password), a runbook, and the
              secrets encrypted with age to a recipient or a passphrase.
  dr restore  recovers every instance of a bundle on an empty engine, in
              dependency order, from its newest verified backup group.
  dr drill    does the same into throwaway drill-* instances on this host,
              then removes them: proof that the site can be recovered.`,
		GroupID: "protect",
	}
	c.AddCommand(a.drExportCommand(), a.drRestoreCommand(), a.drDrillCommand(), a.drRunbookCommand())
	return c
}

// drKey reads the key flags: a recipient, identity file or passphrase file.
func drKey(recipient, identity, passphraseFile string) (dr.Key, error) {
	var k dr.Key
	n := 0
	for _, s := range []string{recipient, identity, passphraseFile} {
		if s != "" {
			n++
		}
	}
	if n > 1 {
		return k, usageError{fmt.Errorf("give one of --recipient/--identity or --passphrase-file")}
	}
	k.Recipient = recipient
	var err error
	if identity != "" {
		if k.Identities, err = dr.IdentitiesFromFile(identity); err != nil {
			return k, err
		}
	}
	if passphraseFile != "" {
		if k.Passphrase, err = dr.PassphraseFromFile(passphraseFile); err != nil {
			return k, err
		}
	}
	return k, nil
}

func (a *app) drExportCommand() *cobra.Command {
	var to, recipient, passFile, compression string
	c := &cobra.Command{
		Use:   "export",
		Short: "Write a disaster-recovery bundle of this site",
		Long: `export writes the site into one bundle file (tar compressed with zstd, or gzip):
manifest.json (format version, instances, images with digests, local builds,
backup repository location), each instance's record, rendered compose file and
entry copy, RUNBOOK.md for this host, and secrets.age: the secrets encrypted
with age to --recipient (an age public key; keep its identity off the host) or
to the passphrase in --passphrase-file. Secrets are never written in
plaintext, and the backup repository password is never in the bundle: escrow
it separately (` + "`dockerbank backup key show`" + `).`,
		Example: `  age-keygen -o dr-key.txt   # keep dr-key.txt off this host
  dockerbank dr export --to /mnt/offsite/site.tar.zst --recipient age1...
  dockerbank dr export --to site.tar.gz --passphrase-file ~/.dr-passphrase`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			key, err := drKey(recipient, "", passFile)
			if err != nil {
				return err
			}
			s, err := a.openSite()
			if err != nil {
				return err
			}
			e, err := a.openEngine(cmd.Context())
			if err != nil {
				return err
			}
			repo, err := dr.RepositoryOf(s)
			if err != nil {
				return err
			}
			if compression == "" {
				compression = dr.CompressZstd
				if strings.HasSuffix(to, ".gz") || strings.HasSuffix(to, ".tgz") {
					compression = dr.CompressGzip
				}
			}
			host, _ := os.Hostname()
			if to == "" {
				ext := ".tar.zst"
				if compression == dr.CompressGzip {
					ext = ".tar.gz"
				}
				to = fmt.Sprintf("dockerbank-dr-%s-%s%s", host, time.Now().UTC().Format("20060102T150405Z"), ext)
			}
			a.Step("export the site " + s.Dir)
			data, m, err := dr.Export(cmd.Context(), s, e, dr.ExportOptions{Key: key, Compression: compression, Repository: repo, Copies: dr.CopiesOf(s), Dockerbank: Version, Host: host})
			if err != nil {
				return err
			}
			abs, _ := filepath.Abs(to)
			if err := site.WriteFileAtomic(abs, data, 0o600); err != nil {
				return err
			}
			if err := s.Append(site.Record{Command: a.commandLine(), Outcome: "ok", Detail: fmt.Sprintf("dr export of %d instance(s) to %s", len(m.Instances), abs)}); err != nil {
				return err
			}
			if a.json {
				return a.printJSON(map[string]any{"file": abs, "bytes": len(data), "manifest": m})
			}
			var names []string
			for _, in := range m.Instances {
				names = append(names, in.Record.Name)
			}
			fmt.Fprintf(a.streams.Out, "wrote %s (%s, format %d): %d instance(s): %s\n", abs, progress.Bytes(int64(len(data))), m.Format, len(names), strings.Join(names, ", "))
			fmt.Fprintf(a.streams.Out, "secrets encrypted with age (%s); backup repository %s (its password is not in the bundle)\n", m.Encryption, m.Repository)
			fmt.Fprintf(a.streams.Out, "read the runbook with: dockerbank dr runbook %s\n", abs)
			for _, w := range dr.Stale(m) {
				fmt.Fprintf(a.streams.Err, "warning: %s\n", w)
			}
			return nil
		},
	}
	c.Flags().StringVar(&to, "to", "", "bundle file (default dockerbank-dr-HOST-TIME.tar.zst; .gz or .tgz selects gzip)")
	c.Flags().StringVar(&recipient, "recipient", "", "age public key (age1...) to encrypt the secrets to")
	c.Flags().StringVar(&passFile, "passphrase-file", "", "file whose first line is the passphrase to encrypt the secrets with")
	c.Flags().StringVar(&compression, "compression", "", "zstd or gzip")
	return c
}

func (a *app) drRunbookCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "runbook BUNDLE",
		Short: "Print the runbook of a bundle (needs no key)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := dr.OpenBundle(args[0])
			if err != nil {
				return err
			}
			rb, _ := b.File(dr.RunbookFile)
			_, err = a.streams.Out.Write(rb)
			return err
		},
	}
}

func (a *app) drRestoreCommand() *cobra.Command {
	var identity, passFile, backupKey, repository string
	var access site.Access
	var sources []string
	var dryRun bool
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "restore BUNDLE",
		Short: "Recover every instance of a bundle on an empty engine",
		Long: `restore recovers the instances of a bundle into the site (--site) on the engine:
first it checks, changing nothing, that the key opens the bundle's secrets,
that every instance with user data has a restorable backup group in the
repository (the newest verified one, else the newest complete one), and that
no instance of that name exists in the site or on the engine. Then, in
dependency order (entries that others require and shared infrastructure such
as Keycloak first), it deploys each instance at its recorded version with its
parameters and secrets from the bundle's own copy of its entry (rebuilding
locally built images), restores the group, compares every table and file with
the group's manifest, runs the entry's checks, and prints how long each step
and the whole recovery took. --dry-run prints the plan only.`,
		Example: `  dockerbank --site /var/lib/dockerbank dr restore site.tar.zst --identity dr-key.txt --backup-key backup-key.txt --dry-run
  dockerbank --site /var/lib/dockerbank dr restore site.tar.zst --identity dr-key.txt --backup-key backup-key.txt
  dockerbank dr restore site.tar.zst --identity dr-key.txt --repository offsite   # from the off-site copy`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, err := drKey("", identity, passFile)
			if err != nil {
				return err
			}
			b, err := dr.OpenBundle(args[0])
			if err != nil {
				return err
			}
			s, err := a.openSite()
			if err != nil {
				return err
			}
			e, err := a.openEngine(cmd.Context())
			if err != nil {
				return err
			}
			srcs, err := parseSet(sources)
			if err != nil {
				return err
			}
			o := dr.RestoreOptions{Site: s, Engine: e, Key: key, BackupKeyFile: backupKey, Repository: repository, Access: access, DryRun: dryRun,
				Sources: srcs, Report: a, Command: a.commandLine(), HealthTimeout: timeout}
			dr.BackupDefaults(&o)
			res, err := dr.Restore(cmd.Context(), b, o)
			if err != nil {
				if res != nil && res.Plan != nil && !a.json && dryRun {
					fmt.Fprint(a.streams.Out, res.Plan.Render())
				}
				return err
			}
			if a.json {
				return a.printJSON(res)
			}
			if dryRun {
				fmt.Fprint(a.streams.Out, res.Plan.Render())
				fmt.Fprintln(a.streams.Out, "\ndry run: nothing was changed")
				return nil
			}
			a.printRecovery(res)
			return nil
		},
	}
	c.Flags().StringVar(&identity, "identity", "", "age identity file that opens the bundle's secrets")
	c.Flags().StringVar(&passFile, "passphrase-file", "", "file whose first line is the bundle's passphrase")
	c.Flags().StringVar(&backupKey, "backup-key", "", "file holding the backup repository password (default: the site's backup-key)")
	c.Flags().StringVar(&repository, "repository", "", "backup repository location, when it moved since the export; or the name or location of an off-site copy the bundle records (its password and credential files are used unless given)")
	c.Flags().StringVar(&access.CredentialsFile, "credentials-file", "", "file (mode 0600) of KEY=VALUE credentials of the repository (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, REST_USERNAME/REST_PASSWORD)")
	c.Flags().StringVar(&access.SSHConfigFile, "ssh-config", "", "ssh_config for an sftp: repository")
	c.Flags().StringVar(&access.CACertFile, "cacert", "", "CA certificates of an https repository server")
	c.Flags().StringArrayVar(&sources, "source", nil, "ENTRY=FILE: your own source for a build-locally entry's images, e.g. redcap=redcap15.0.0.zip (repeatable)")
	c.Flags().BoolVar(&dryRun, "dry-run", false, "print the plan; change nothing")
	c.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "how long to wait for each instance's health")
	return c
}

// printRecovery prints the timed steps of a recovery.
func (a *app) printRecovery(res *dr.RestoreResult) {
	rows := make([][]string, 0, len(res.Steps))
	for _, st := range res.Steps {
		rows = append(rows, []string{st.Instance, st.Step, fmt.Sprintf("%.1fs", st.Seconds), st.Detail})
	}
	a.table([]string{"INSTANCE", "STEP", "TIME", "DETAIL"}, rows)
	for _, st := range res.Plan.Steps {
		if st.Group != "" {
			fmt.Fprintf(a.streams.Out, "%s: restored group %s (%s, taken %s)\n", st.Target, st.Group, st.GroupState, st.GroupTime.UTC().Format("2006-01-02 15:04Z"))
		}
	}
	fmt.Fprintf(a.streams.Out, "recovered %d instance(s) in %.1fs: %s\n", len(res.Restored), res.Seconds, strings.Join(res.Restored, ", "))
}

func (a *app) drDrillCommand() *cobra.Command {
	var bundle, identity, passFile, prefix string
	var keep bool
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "drill",
		Short: "Rehearse a recovery into throwaway instances on this host, then remove them",
		Long: `drill exports the site (or reads --bundle), recovers every instance into a
throwaway site as PREFIX+name (default drill-) on this engine exactly as
'dr restore' would on a new host, with the same checks and comparisons, and
removes the drill instances and their volumes afterwards. Production instances
are only read. The outcome and the time the recovery took are recorded in the
site's journal.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			key, err := drKey("", identity, passFile)
			if err != nil {
				return err
			}
			s, err := a.openSite()
			if err != nil {
				return err
			}
			e, err := a.openEngine(cmd.Context())
			if err != nil {
				return err
			}
			o := dr.DrillOptions{Site: s, Engine: e, Key: key, Prefix: prefix, Keep: keep, Dockerbank: Version,
				Report: a, Command: a.commandLine(), HealthTimeout: timeout, Restore: dr.BackupDefaults}
			if bundle != "" {
				if o.Bundle, err = dr.OpenBundle(bundle); err != nil {
					return err
				}
			}
			res, err := dr.Drill(cmd.Context(), o)
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(res)
			}
			a.printRecovery(&res.RestoreResult)
			if keep {
				fmt.Fprintf(a.streams.Out, "drill instances kept in the site %s (use --site %s to look at and remove them)\n", res.Site, res.Site)
			} else {
				fmt.Fprintf(a.streams.Out, "drill instances removed: %s\n", strings.Join(res.Removed, ", "))
			}
			return nil
		},
	}
	c.Flags().StringVar(&bundle, "bundle", "", "drill with this bundle instead of a fresh export")
	c.Flags().StringVar(&identity, "identity", "", "with --bundle: age identity file")
	c.Flags().StringVar(&passFile, "passphrase-file", "", "with --bundle: passphrase file")
	c.Flags().StringVar(&prefix, "prefix", dr.DefaultDrillPrefix, "prefix of the drill instances' names")
	c.Flags().BoolVar(&keep, "keep", false, "keep the drill instances running")
	c.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "how long to wait for each instance's health")
	return c
}
