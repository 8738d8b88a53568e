package cli

import (
	"bufio"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/dockerbank/dockerbank/internal/backup"
	"github.com/dockerbank/dockerbank/internal/deploy"
	"github.com/dockerbank/dockerbank/internal/instance"
	"github.com/dockerbank/dockerbank/internal/instance/label"
	"github.com/dockerbank/dockerbank/internal/progress"
)

func (a *app) deployCommand() *cobra.Command {
	var o deploy.DeployOptions
	var set, uses []string
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "deploy ENTRY",
		Short: "Deploy an entry as a named instance and wait until it is healthy",
		Long: `Deploy renders ENTRY into the site (instances/NAME: rendered compose file,
parameters, generated secrets in 0600 files), creates its volumes as
NAME_<volume> labelled with their class, starts it with the compose engine
and waits for every container to be healthy, then runs the entry's checks.`,
		Example: `  dockerbank deploy demo
  dockerbank deploy demo --name demo-test --version 1.0 --set DEMO_INTERVAL=5
  dockerbank deploy postgres --name pg1 && dockerbank deploy orthanc --name o1 --use db=pg1`,
		GroupID: "instances",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := a.manager(cmd, args)
			if err != nil {
				return err
			}
			o.Entry = args[0]
			if o.Set, err = parseSet(set); err != nil {
				return err
			}
			if o.Uses, err = parseUses(uses); err != nil {
				return err
			}
			m.HealthTimeout = timeout
			start := time.Now()
			in, err := m.Deploy(cmd.Context(), o)
			if err != nil {
				return err
			}
			st, err := m.Ps(cmd.Context(), in.Name)
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(st)
			}
			fmt.Fprintf(a.streams.Out, "instance %s (%s %s) is %s after %.1fs\n", in.Name, in.Entry, in.Version, st.Health(), time.Since(start).Seconds())
			a.printContainers(st)
			return nil
		},
	}
	bindDeployFlags(c, &o, &set, &timeout, "instance name (default: the entry id)")
	c.Flags().StringArrayVar(&uses, "use", nil, "SERVICE=INSTANCE: take the entry's database service from a shared infrastructure instance (repeatable; docs/shared.md)")
	return c
}

func parseUses(kvs []string) (map[string]string, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" || v == "" {
			return nil, usageError{fmt.Errorf("--use %q: write SERVICE=INSTANCE, e.g. --use db=pg1", kv)}
		}
		if _, dup := out[k]; dup {
			return nil, usageError{fmt.Errorf("--use %s given twice", k)}
		}
		out[k] = v
	}
	return out, nil
}

// dependency says what an instance uses and what uses it, for ls.
func dependency(st instance.Status) string {
	var parts []string
	for _, svc := range slices.Sorted(maps.Keys(st.Instance.Uses)) {
		parts = append(parts, fmt.Sprintf("uses %s (%s)", st.Instance.Uses[svc], svc))
	}
	if len(st.UsedBy) > 0 {
		parts = append(parts, "used by "+strings.Join(st.UsedBy, ", "))
	}
	return orDash(strings.Join(parts, "; "))
}

// bindDeployFlags binds the flags that deploy and swarm deploy share.
func bindDeployFlags(c *cobra.Command, o *deploy.DeployOptions, set *[]string, timeout *time.Duration, nameHelp string) {
	c.Flags().StringVar(&o.Name, "name", "", nameHelp)
	c.Flags().StringVar(&o.Version, "version", "", "entry version (default: the entry's default version)")
	c.Flags().StringVar(&o.Variant, "variant", "", "entry variant")
	c.Flags().StringArrayVar(set, "set", nil, "parameter KEY=VALUE (repeatable)")
	c.Flags().DurationVar(timeout, "timeout", 0, "how long to wait for health (default: 5m, or longer when the entry declares a start-up budget)")
}

func parseSet(kvs []string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usageError{fmt.Errorf("--set %q: write KEY=VALUE", kv)}
		}
		out[k] = v
	}
	return out, nil
}

func (a *app) printContainers(st instance.Status) {
	rows := make([][]string, 0, len(st.Containers))
	for _, c := range st.Containers {
		svc := c.Service
		if c.Replica > 0 {
			svc = fmt.Sprintf("%s#%d", c.Service, c.Replica) // a replica of a scaled service
		}
		rows = append(rows, []string{c.Name, svc, c.Labels[label.Role], c.Image, c.State, orDash(c.Health)})
	}
	a.table([]string{"CONTAINER", "SERVICE", "ROLE", "IMAGE", "STATE", "HEALTH"}, rows)
}

func (a *app) lsCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "ls",
		Short:   "List instances with their health",
		GroupID: "instances",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := a.manager(cmd, args)
			if err != nil {
				return err
			}
			sts, err := m.List(cmd.Context())
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(sts)
			}
			rows := make([][]string, 0, len(sts))
			for _, st := range sts {
				in := st.Instance
				last := "never"
				if !in.LastBackup.IsZero() {
					last = in.LastBackup.Format("2006-01-02 15:04Z")
				}
				rows = append(rows, []string{in.Name, in.Entry, in.Version, in.State, st.Health(), fmt.Sprint(len(st.Containers)), last, dependency(st)})
			}
			a.table([]string{"INSTANCE", "ENTRY", "VERSION", "STATE", "HEALTH", "CONTAINERS", "LAST BACKUP", "DEPENDENCY"}, rows)
			return nil
		},
	}
}

func (a *app) psCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "ps INSTANCE",
		Short:   "Show the containers of an instance",
		GroupID: "instances",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := a.manager(cmd, args)
			if err != nil {
				return err
			}
			st, err := m.Ps(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(st)
			}
			fmt.Fprintf(a.streams.Out, "instance %s (%s %s, %s): %s\n", st.Instance.Name, st.Instance.Entry, st.Instance.Version, st.Instance.State, st.Health())
			if d := dependency(st); d != "-" {
				fmt.Fprintf(a.streams.Out, "%s\n", d)
			}
			a.printContainers(st)
			return nil
		},
	}
}

// simple builds a command that runs one lifecycle operation on an instance.
func (a *app) simple(use, short string, op func(m *deploy.Manager, cmd *cobra.Command, name string) error) *cobra.Command {
	var timeout time.Duration
	c := &cobra.Command{
		Use:     use + " INSTANCE",
		Short:   short,
		GroupID: "instances",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := a.manager(cmd, args)
			if err != nil {
				return err
			}
			m.HealthTimeout = timeout
			if err := op(m, cmd, args[0]); err != nil {
				return err
			}
			return a.printResult(cmd, m, args[0])
		},
	}
	c.Flags().DurationVar(&timeout, "timeout", 0, "how long to wait for health (default: 5m, or longer when the entry declares a start-up budget)")
	return c
}

func (a *app) printResult(cmd *cobra.Command, m *deploy.Manager, name string) error {
	st, err := m.Ps(cmd.Context(), name)
	if err != nil {
		return err
	}
	if a.json {
		return a.printJSON(st)
	}
	fmt.Fprintf(a.streams.Out, "instance %s (%s %s): %s\n", name, st.Instance.Entry, st.Instance.Version, st.Health())
	return nil
}

func (a *app) startCommand() *cobra.Command {
	return a.simple("start", "Start an instance (also after down) and wait for health", func(m *deploy.Manager, cmd *cobra.Command, n string) error {
		return m.Start(cmd.Context(), n)
	})
}

func (a *app) stopCommand() *cobra.Command {
	return a.simple("stop", "Stop an instance's containers", func(m *deploy.Manager, cmd *cobra.Command, n string) error {
		return m.Stop(cmd.Context(), n)
	})
}

func (a *app) restartCommand() *cobra.Command {
	return a.simple("restart", "Restart an instance's containers", func(m *deploy.Manager, cmd *cobra.Command, n string) error {
		return m.Restart(cmd.Context(), n)
	})
}

func (a *app) downCommand() *cobra.Command {
	return a.simple("down", "Remove an instance's containers and networks; keep every volume", func(m *deploy.Manager, cmd *cobra.Command, n string) error {
		return m.Down(cmd.Context(), n)
	})
}

func (a *app) rollbackCommand() *cobra.Command {
	return a.simple("rollback", "Go back to the version before the last upgrade (data written since stays)", func(m *deploy.Manager, cmd *cobra.Command, n string) error {
		return m.Rollback(cmd.Context(), n)
	})
}

func (a *app) upgradeCommand() *cobra.Command {
	var o deploy.UpgradeOptions
	c := a.simple("upgrade", "Upgrade an instance to another version; rolls back by itself when unhealthy", func(m *deploy.Manager, cmd *cobra.Command, n string) error {
		if !o.NoBackup {
			// A shared server's tenants are backed up first: their
			// databases live in it.
			ts, err := m.TenantsOf(n)
			if err != nil {
				return err
			}
			j := a.jobOf(m)
			for _, t := range ts {
				if _, err := j.Backup(cmd.Context(), t.Instance, backup.BackupOptions{Tag: "pre-upgrade-" + n}); err != nil {
					return fmt.Errorf("back up tenant %s before upgrading %s: %w; nothing was changed", t.Instance, n, err)
				}
			}
		}
		return m.Upgrade(cmd.Context(), n, o)
	})
	c.Long = `Upgrade renders the new version, keeps every volume, starts it and waits for
health. When it is not healthy within --timeout, the previous version is
started again by itself (exit code 7). Without a backup newer than the
instance's last change it refuses, unless --no-backup.

A shared server (deploy --use) backs up every instance that uses it first,
and after the new version is healthy waits for each of them, runs their
checks and compares their fingerprints; when one fails it rolls back.`
	c.Flags().StringVar(&o.To, "to", "", "target version (required)")
	c.Flags().BoolVar(&o.NoBackup, "no-backup", false, "upgrade without a fresh backup")
	_ = c.MarkFlagRequired("to")
	return c
}

func (a *app) rmCommand() *cobra.Command {
	var o deploy.RemoveOptions
	var confirm string
	c := &cobra.Command{
		Use:   "rm INSTANCE",
		Short: "Remove an instance; its userdata volumes are kept unless --purge-data",
		Long: `rm removes an instance's containers and networks and moves its record and
secrets to the site's removed/ directory. Volumes are kept: see
'dockerbank volumes --orphaned'. With --purge-data the volumes are deleted too,
after you type the instance name, and only with a backup newer than the last
change (or --force). A volume that site.yaml's storage section put in a host
directory or on a share is removed as a volume, but its files stay there: rm
names each such directory or share, and you delete them yourself. An instance
on a shared server (deploy --use) then also loses its database and role there,
and nothing else of the server. A shared server is refused while instances
use it.`,
		GroupID: "instances",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := a.manager(cmd, args)
			if err != nil {
				return err
			}
			name := args[0]
			if o.PurgeData {
				o.Confirm = confirm
				if o.Confirm == "" {
					fmt.Fprintf(a.streams.Err, "This deletes every volume of %s, user data included. Type the instance name to confirm: ", name)
					line, _ := bufio.NewReader(a.streams.In).ReadString('\n')
					o.Confirm = strings.TrimSpace(line)
				}
			}
			res, err := m.Remove(cmd.Context(), name, o)
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(res)
			}
			fmt.Fprintf(a.streams.Out, "instance %s removed; record and secrets kept in %s\n", name, res.RecordMovedTo)
			if len(res.KeptVolumes) > 0 {
				fmt.Fprintf(a.streams.Out, "kept volumes: %s\n", strings.Join(res.KeptVolumes, ", "))
			}
			if len(res.RemovedVolumes) > 0 {
				fmt.Fprintf(a.streams.Out, "removed volumes: %s\n", strings.Join(res.RemovedVolumes, ", "))
			}
			for _, k := range res.KeptData {
				fmt.Fprintf(a.streams.Out, "volume %s is removed, but its files stay in %s (site.yaml storage): delete them there yourself when no longer needed\n", k.Volume, k.Where)
			}
			if len(res.KeptDatabases) > 0 {
				fmt.Fprintf(a.streams.Out, "kept databases in shared servers: %s\n", strings.Join(res.KeptDatabases, ", "))
			}
			if len(res.DroppedDatabases) > 0 {
				fmt.Fprintf(a.streams.Out, "dropped databases and roles in shared servers: %s\n", strings.Join(res.DroppedDatabases, ", "))
			}
			return nil
		},
	}
	c.Flags().BoolVar(&o.PurgeData, "purge-data", false, "also delete the instance's volumes, user data included")
	c.Flags().StringVar(&confirm, "confirm", "", "the instance name, to confirm --purge-data without a prompt")
	c.Flags().BoolVar(&o.Force, "force", false, "with --purge-data: delete without a fresh backup")
	return c
}

func (a *app) volumesCommand() *cobra.Command {
	var orphaned bool
	c := &cobra.Command{
		Use:     "volumes",
		Short:   "List dockerbank's volumes with instance, class, size, last backup and where they live",
		GroupID: "instances",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := a.manager(cmd, args)
			if err != nil {
				return err
			}
			vols, err := m.Volumes(cmd.Context(), orphaned)
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(vols)
			}
			rows := make([][]string, 0, len(vols))
			for _, v := range vols {
				rows = append(rows, []string{v.Name, orDash(v.Instance), orDash(v.Class), orDash(v.Backup), progress.Bytes(v.Size), orDash(v.LastBackup), orDash(v.Orphaned), v.Where})
			}
			a.table([]string{"VOLUME", "INSTANCE", "CLASS", "BACKUP", "SIZE", "LAST BACKUP", "ORPHANED", "WHERE"}, rows)
			return nil
		},
	}
	c.Flags().BoolVar(&orphaned, "orphaned", false, "only volumes of removed instances and unused anonymous volumes")
	return c
}

func (a *app) gcCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "gc",
		Short:   "Remove temp and cache volumes of removed instances and pristine anonymous volumes left behind (never user data)",
		GroupID: "instances",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := a.manager(cmd, args)
			if err != nil {
				return err
			}
			removed, err := m.GC(cmd.Context())
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(map[string]any{"removed": removed})
			}
			fmt.Fprintf(a.streams.Out, "removed %d volume(s): %s\n", len(removed), strings.Join(removed, ", "))
			return nil
		},
	}
}
