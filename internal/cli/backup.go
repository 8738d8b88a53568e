package cli

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/dockerbank/dockerbank/internal/backup"
	"github.com/dockerbank/dockerbank/internal/deploy"
	"github.com/dockerbank/dockerbank/internal/fingerprint"
	"github.com/dockerbank/dockerbank/internal/progress"
	"github.com/dockerbank/dockerbank/internal/site"
)

// job opens the backup job (and resumes containers of interrupted
// backups, like every command that opens the manager).
func (a *app) job(cmd *cobra.Command, args []string) (*backup.Job, error) {
	m, err := a.manager(cmd, args)
	if err != nil {
		return nil, err
	}
	return a.jobOf(m), nil
}

// jobOf is a backup job of a manager, with the command's traffic limits;
// its progress goes through the manager's reporter.
func (a *app) jobOf(m *deploy.Manager) *backup.Job {
	return &backup.Job{M: m, LimitUpload: a.limitUpload, LimitDownload: a.limitDownload}
}

// resumeInterrupted starts containers that a killed backup left stopped.
// It is cheap when nothing is pending (one read of the journal).
func (a *app) resumeInterrupted(cmd *cobra.Command) {
	if a.resumed {
		return
	}
	a.resumed = true
	started, err := backup.Resume(cmd.Context(), a.site, a.engine, "resume (by "+cmd.CommandPath()+")")
	if err != nil {
		fmt.Fprintf(a.streams.Err, "warning: could not restart containers of an interrupted backup: %v; run `dockerbank recover`\n", err)
	}
	if len(started) > 0 {
		a.Step(fmt.Sprintf("restarted %d container(s) left stopped by an interrupted backup", len(started)))
	}
}

func (a *app) instancesOrAll(cmd *cobra.Command, args []string, all bool) ([]string, error) {
	if all == (len(args) > 0) {
		return nil, usageError{fmt.Errorf("name one or more instances, or pass --all")}
	}
	if !all {
		return args, nil
	}
	s, err := a.openSite()
	if err != nil {
		return nil, err
	}
	ins, err := s.Instances()
	if err != nil {
		return nil, err
	}
	var names []string
	for _, in := range ins {
		names = append(names, in.Name)
	}
	return names, nil
}

func (a *app) backupCommand() *cobra.Command {
	var all, noCopy bool
	var via, archive, recipient, passFile string
	c := &cobra.Command{
		Use:   "backup NAME... | --all",
		Short: "Back up the user data of instances as one consistency group each",
		Long: `Backup stores one consistency group per instance in the site's restic
repository (default <site>/backups, or backup.repository in site.yaml): every
database dumped inside its own container (pg_dump, mariadb-dump
--single-transaction, mongodump) with row counts and checksums of every table,
every userdata file volume (from its host mountpoint, or through a helper
container's archive API), the instance record and its secrets, and a manifest
stored last. Containers are stopped or paused only when a volume's quiesce
says so, only for the capture, and are recorded in the journal first: if
dockerbank is killed, the next dockerbank command starts them again.

The repository password is generated on first use into <site>/backup-key;
keep a copy elsewhere (` + "`dockerbank backup key show`" + `).

With --archive the group is also written as one file for handover; the
instance's secrets in it are sealed with age to --recipient (an age public
key) or to the passphrase in --passphrase-file, as in ` + "`dr export`" + `.

When site.yaml lists off-site copies (backup.copies), each complete group is
then copied to every copy without a schedule of its own and checked there
(see ` + "`dockerbank backup copy`" + `); --no-copy skips that.`,
		Example: `  dockerbank backup demo
  dockerbank backup --all --json
  dockerbank backup demo --archive demo.tar.zst --recipient age1...`,
		GroupID: "protect",
		RunE: func(cmd *cobra.Command, args []string) error {
			names, err := a.instancesOrAll(cmd, args, all)
			if err != nil {
				return err
			}
			j, err := a.job(cmd, args)
			if err != nil {
				return err
			}
			j.Via = via
			if archive == "" && (recipient != "" || passFile != "") {
				return usageError{fmt.Errorf("--recipient and --passphrase-file seal the secrets of an --archive: give --archive too")}
			}
			if archive != "" {
				if len(names) != 1 {
					return usageError{fmt.Errorf("--archive writes one instance: name exactly one")}
				}
				key, err := drKey(recipient, "", passFile)
				if err != nil {
					return err
				}
				res, err := j.Export(cmd.Context(), names[0], archive, key)
				if err != nil {
					return err
				}
				if a.json {
					return a.printJSON(res)
				}
				fmt.Fprintf(a.streams.Out, "archive %s: group %s of %s, %s\n", archive, res.Group, names[0], progress.Bytes(res.Bytes))
				return nil
			}
			type memberSummary struct {
				Volume string `json:"volume"`
				Kind   string `json:"kind"`
				Mode   string `json:"mode,omitempty"`
				Bytes  int64  `json:"bytes"`
				Count  int64  `json:"count"`
				Added  int64  `json:"added"`
				// Server is the shared server a dump was taken in (the
				// instance's own database there); Streams names the
				// dump's streams (one per database, globals.sql).
				Server  string   `json:"server,omitempty"`
				Streams []string `json:"streams,omitempty"`
			}
			type summary struct {
				Instance    string              `json:"instance"`
				Group       string              `json:"group"`
				Bytes       int64               `json:"bytes"`
				Seconds     float64             `json:"seconds"`
				Quiesced    []string            `json:"quiesced,omitempty"`
				QuiesceSecs float64             `json:"quiesceSeconds,omitempty"`
				Members     []memberSummary     `json:"members"`
				Copies      []backup.CopyResult `json:"copies,omitempty"`
				// Damaged: what the application reported as damaged at
				// the capture (the group holds it as it was).
				Damaged []fingerprint.Diff `json:"damaged,omitempty"`
			}
			results := []summary{}
			var failed, damaged []string
			for _, n := range names {
				start := time.Now()
				m, err := j.Backup(cmd.Context(), n, backup.BackupOptions{})
				var damage error
				if errors.Is(err, fingerprint.ErrDamaged) && m != nil {
					damage, err = err, nil // the group is stored: report it, then the damage
				}
				if err != nil {
					if len(names) == 1 {
						return err
					}
					fmt.Fprintf(a.streams.Err, "dockerbank: backup %s: %v\n", n, err)
					failed = append(failed, n)
					continue
				}
				sm := summary{Instance: n, Group: m.Group, Bytes: m.Bytes(), Seconds: time.Since(start).Seconds(), Quiesced: m.Quiesced, QuiesceSecs: m.QuiesceSecs}
				for _, mb := range m.Members {
					ms := memberSummary{Volume: mb.Volume, Kind: mb.Kind, Mode: mb.Mode, Bytes: mb.Bytes, Count: mb.Count, Added: mb.Added, Server: mb.Server}
					for _, st := range mb.Streams {
						ms.Streams = append(ms.Streams, st.Name)
					}
					sm.Members = append(sm.Members, ms)
				}
				if !a.json {
					fmt.Fprintf(a.streams.Out, "%s: group %s complete, %d members, %s in %.1fs\n", n, m.Group, len(m.Members), progress.Bytes(m.Bytes()), time.Since(start).Seconds())
				}
				if damage != nil {
					sm.Damaged = m.Fingerprint.Damaged()
					fmt.Fprintf(a.streams.Err, "dockerbank: backup %s: %v\n", n, damage)
					damaged = append(damaged, n)
				}
				if !noCopy {
					cres, cerr := a.copyAfterBackup(cmd, j, n, m.Group)
					sm.Copies = cres
					if cerr != nil {
						fmt.Fprintf(a.streams.Err, "dockerbank: %v\n", cerr)
						failed = append(failed, n+" (copy)")
					}
				}
				results = append(results, sm)
			}
			if a.json {
				if err := a.printJSON(results); err != nil {
					return err
				}
			}
			if len(failed) > 0 {
				return fmt.Errorf("backup failed for %s", strings.Join(failed, ", "))
			}
			if len(damaged) > 0 {
				return &silentError{code: ExitError} // each damage was printed above, with its group
			}
			return nil
		},
	}
	c.Flags().BoolVar(&all, "all", false, "back up every instance of the site")
	c.Flags().StringVar(&via, "via", "", "how file volumes are read: dir (host mountpoint) or tar (helper container); default dir when the mountpoint is readable")
	c.Flags().StringVar(&archive, "archive", "", "write one self-contained archive (tar + zstd, manifest inside) to this file instead")
	c.Flags().StringVar(&recipient, "recipient", "", "with --archive: age public key (age1...) to seal the secrets to")
	c.Flags().StringVar(&passFile, "passphrase-file", "", "with --archive: file whose first line is the passphrase to seal the secrets with")
	c.Flags().BoolVar(&noCopy, "no-copy", false, "do not copy the new group to the off-site copies of site.yaml")
	a.limitFlags(c)
	c.AddCommand(a.backupKeyCommand(), a.backupInitCommand(), a.backupCopyCommand())
	return c
}

func (a *app) backupInitCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "init",
		Short: "Create the site's backup repository and its password now (the first backup does it otherwise)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := a.openSite()
			if err != nil {
				return err
			}
			repo, err := backup.OpenRepo(cmd.Context(), s, true)
			if err != nil {
				return err
			}
			a.Step(fmt.Sprintf("backup repository %s is ready; its password is in %s", repo.Repository, repo.PasswordFile))
			a.Step("keep a copy of that password offline (`dockerbank backup key show`): disaster recovery needs it")
			return nil
		},
	}
}

func (a *app) backupKeyCommand() *cobra.Command {
	key := &cobra.Command{Use: "key", Short: "Show the backup repository password"}
	key.AddCommand(&cobra.Command{
		Use:   "show",
		Short: "Print the repository password; disaster recovery needs it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := a.openSite()
			if err != nil {
				return err
			}
			k, err := backup.Key(s)
			if err != nil {
				return fmt.Errorf("%w; no backup has been made in this site yet", err)
			}
			repo, _ := backup.RepositoryOf(s)
			fmt.Fprintln(a.streams.Err, "WARNING: without this password the backups in "+repo+" cannot be read by anyone,\nincluding you after losing this host. Keep a copy offline (sealed envelope, password safe),\nnot on this host.")
			fmt.Fprintln(a.streams.Out, k)
			return nil
		},
	})
	return key
}

func (a *app) snapshotsCommand() *cobra.Command {
	var from fromFlags
	c := &cobra.Command{
		Use:     "snapshots [NAME]",
		Short:   "List backup groups and their verification state",
		GroupID: "protect",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := a.openSite()
			if err != nil {
				return err
			}
			repo, err := from.open(s)
			if err != nil {
				return err
			}
			if repo == nil {
				if repo, err = backup.OpenRepo(cmd.Context(), s, false); err != nil {
					return err
				}
			}
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			groups, err := backup.ListGroups(cmd.Context(), repo, name)
			if err != nil {
				return err
			}
			recs, err := s.Copies()
			if err != nil {
				return err
			}
			if a.json {
				type withCopies struct {
					backup.Group
					Copies []site.CopyRecord `json:"copies"`
				}
				out := []withCopies{}
				for _, g := range groups {
					w := withCopies{Group: g, Copies: []site.CopyRecord{}}
					for _, r := range recs {
						if r.Instance == g.Instance && r.Group == g.ID {
							w.Copies = append(w.Copies, r)
						}
					}
					out = append(out, w)
				}
				return a.printJSON(out)
			}
			var rows [][]string
			for _, g := range groups {
				rows = append(rows, []string{g.ID, g.Instance, g.Entry + " " + g.Version, g.Time.Local().Format("2006-01-02 15:04:05"),
					strings.ToUpper(g.State[:1]) + g.State[1:], orDash(g.Verified), orDash(copiesOf(recs, g.Instance, g.ID)), orDash(strings.Join(g.Tags, ","))})
			}
			a.table([]string{"GROUP", "INSTANCE", "ENTRY", "TIME", "STATE", "VERIFIED", "COPIES", "TAGS"}, rows)
			a.sharedNotes(s, groups)
			return nil
		},
	}
	from.bind(c, "list")
	return c
}

func (a *app) restoreCommand() *cobra.Command {
	var o backup.RestoreOptions
	var archive, identity, passFile string
	var uses []string
	var from fromFlags
	c := &cobra.Command{
		Use:   "restore NAME",
		Short: "Restore an instance from a backup group, non-destructively",
		Long: `Restore brings back a backup group of instance NAME.

With --as NEW it deploys a new instance NEW of the group's entry version with
the group's secrets, fills its volumes and databases, and compares every table
and file with the manifest before starting it.

Without --as it first restores into a staging instance and checks it; only
when that works does it take a pre-restore backup of the live instance and
replace its data; the staging instance is removed afterwards.

With --archive the whole archive is checked first (every member's name,
links and digest; the sealed secrets opened with --identity or
--passphrase-file); nothing is deployed or written before that passed.`,
		Example: `  dockerbank restore demo --as demo-copy
  dockerbank restore demo --group 20261126T181500Z
  dockerbank restore demo --as demo-copy --archive demo.tar.zst --identity key.txt`,
		GroupID: "protect",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			j, err := a.job(cmd, args)
			if err != nil {
				return err
			}
			if j.From, err = from.open(j.M.Site); err != nil {
				return err
			}
			if o.Uses, err = parseUses(uses); err != nil {
				return err
			}
			if o.Uses != nil && o.As == "" {
				return usageError{fmt.Errorf("--use deploys the new instance of --as on other shared servers: give --as too")}
			}
			var res *backup.RestoreResult
			if archive == "" && (identity != "" || passFile != "") {
				return usageError{fmt.Errorf("--identity and --passphrase-file open the sealed secrets of an --archive: give --archive too")}
			}
			if archive != "" {
				key, kerr := drKey("", identity, passFile)
				if kerr != nil {
					return kerr
				}
				res, err = j.Import(cmd.Context(), args[0], archive, o, key)
			} else {
				res, err = j.Restore(cmd.Context(), args[0], o)
			}
			if err != nil {
				return err
			}
			if len(res.Damaged) > 0 { // restored as it was, and said, even with --quiet or --json
				fmt.Fprintf(a.streams.Err, "dockerbank: WARNING: %v\n", backup.RestoredDamage(res.Group, args[0], res.Instance, res.Damaged))
			}
			if a.json {
				return a.printJSON(res)
			}
			fmt.Fprintf(a.streams.Out, "%s restored from group %s in %.1fs: %d tables and %d files match the manifest; fingerprint: %s\n",
				res.Instance, res.Group, res.Seconds, res.Tables, res.Files, res.Fingerprint)
			if res.PreBackup != "" {
				fmt.Fprintf(a.streams.Out, "the data it replaced is in group %s\n", res.PreBackup)
			}
			return nil
		},
	}
	c.Flags().StringVar(&o.Group, "group", "", "group ID (or a unique prefix); default the newest complete group")
	c.Flags().StringVar(&o.As, "as", "", "restore into this new instance")
	c.Flags().BoolVar(&o.Keep, "keep-staging", false, "keep the staging instance of an in-place restore")
	c.Flags().StringArrayVar(&uses, "use", nil, "with --as: SERVICE=INSTANCE, deploy the new instance on this shared server instead of the group's (docs/shared.md)")
	c.Flags().StringVar(&archive, "archive", "", "restore from an archive written by `backup --archive`")
	c.Flags().StringVar(&identity, "identity", "", "with --archive: age key file that opens the sealed secrets")
	c.Flags().StringVar(&passFile, "passphrase-file", "", "with --archive: file whose first line is the archive's passphrase")
	from.bind(c, "restore from")
	a.limitFlags(c)
	return c
}

func (a *app) verifyCommand() *cobra.Command {
	var all bool
	var o backup.VerifyOptions
	var from fromFlags
	c := &cobra.Command{
		Use:   "verify NAME... | --all",
		Short: "Check the repository and drill a restore of the newest group",
		Long: `Verify runs restic check (reading back a subset of the data), then restores
the newest complete group (or --group) into a throwaway instance, waits for it
to be healthy, compares every table's row count and checksum and every file's
sha256, owner, mode and mtime with the manifest, removes the instance, and
records the result in the journal and in the group's state.`,
		GroupID: "protect",
		RunE: func(cmd *cobra.Command, args []string) error {
			names, err := a.instancesOrAll(cmd, args, all)
			if err != nil {
				return err
			}
			j, err := a.job(cmd, args)
			if err != nil {
				return err
			}
			if j.From, err = from.open(j.M.Site); err != nil {
				return err
			}
			var results []*backup.VerifyResult
			var failed []string
			for _, n := range names {
				res, err := j.Verify(cmd.Context(), n, o)
				results = append(results, res)
				if err != nil {
					fmt.Fprintf(a.streams.Err, "dockerbank: verify %s: %v\n", n, err)
					failed = append(failed, n)
					continue
				}
				if !a.json {
					fmt.Fprintf(a.streams.Out, "%s: group %s verified: check %s, drill %s (%d tables, %d files; fingerprint: %s) in %.1fs\n",
						n, res.Group, res.Check, res.Drill, res.Tables, res.Files, orDash(res.Fingerprint), res.Seconds)
				}
			}
			if a.json {
				a.printJSON(results)
			}
			if len(failed) > 0 {
				return &silentError{code: ExitError}
			}
			return nil
		},
	}
	c.Flags().BoolVar(&all, "all", false, "verify every instance of the site")
	c.Flags().StringVar(&o.Group, "group", "", "group to drill (default the newest complete one)")
	c.Flags().StringVar(&o.ReadData, "read-data-subset", "5%", "share of the repository data restic check reads back")
	c.Flags().BoolVar(&o.NoDrill, "no-drill", false, "only run restic check")
	from.bind(c, "verify")
	a.limitFlags(c)
	return c
}

func (a *app) recoverCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "recover",
		Short:   "Start containers that an interrupted backup or restore left stopped",
		GroupID: "protect",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := a.manager(cmd, args)
			if err != nil {
				return err
			}
			pending, err := backup.Pending(m.Site)
			if err != nil {
				return err
			}
			started, err := backup.Resume(cmd.Context(), m.Site, a.engine, "recover")
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(map[string]any{"pending": len(pending), "started": started})
			}
			fmt.Fprintf(a.streams.Out, "%d interrupted operation(s), %d container(s) started\n", len(pending), len(started))
			return nil
		},
	}
}

func (a *app) forgetCommand() *cobra.Command {
	var o backup.ForgetOptions
	c := &cobra.Command{
		Use:   "forget NAME",
		Short: "Apply grandfather-father-son retention to an instance's groups, then prune",
		Long: `Forget keeps the newest group of each of the last --keep-daily days,
--keep-weekly weeks and --keep-monthly months, always keeps the newest verified
group and the newest complete group, removes incomplete groups older than the
newest complete one, then prunes the repository. It refuses to rotate when the
newest group is less than half the size of the one before (a suspiciously small
backup) unless --force.`,
		GroupID: "protect",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			j, err := a.job(cmd, args)
			if err != nil {
				return err
			}
			res, err := j.Forget(cmd.Context(), args[0], o)
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(res)
			}
			fmt.Fprintf(a.streams.Out, "%s: kept %d group(s), removed %d: %s\n", args[0], len(res.Kept), len(res.Removed), orDash(strings.Join(res.Removed, ", ")))
			return nil
		},
	}
	c.Flags().IntVar(&o.Policy.Daily, "keep-daily", 7, "days to keep the newest group of")
	c.Flags().IntVar(&o.Policy.Weekly, "keep-weekly", 4, "weeks to keep the newest group of")
	c.Flags().IntVar(&o.Policy.Monthly, "keep-monthly", 12, "months to keep the newest group of")
	c.Flags().BoolVar(&o.Force, "force", false, "rotate even after a suspiciously small backup")
	c.Flags().BoolVar(&o.DryRun, "dry-run", false, "only print what would be removed")
	return c
}

// sharedNotes says, under a listing of groups, where the databases of
// shared servers and their tenants are kept.
func (a *app) sharedNotes(s *site.Site, groups []backup.Group) {
	all, err := s.Instances()
	if err != nil {
		return
	}
	seen := map[string]bool{}
	for _, g := range groups {
		if seen[g.Instance] {
			continue
		}
		seen[g.Instance] = true
		for _, in := range all {
			if in.Name != g.Instance {
				continue
			}
			if users := site.UsersOf(all, in.Name); len(users) > 0 {
				fmt.Fprintf(a.streams.Out, "note: groups of %s hold the server's roles and own databases, not its tenants' databases: those are in the groups of %s\n",
					in.Name, strings.Join(users, ", "))
			}
			for _, svc := range slices.Sorted(maps.Keys(in.Uses)) {
				fmt.Fprintf(a.streams.Out, "note: groups of %s hold its own database in the shared server %s (service %s), dumped there\n", in.Name, in.Uses[svc], svc)
			}
		}
	}
}
