package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/dockerbank/dockerbank/internal/deploy"
	"github.com/dockerbank/dockerbank/internal/engine"
)

func (a *app) swarmCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "swarm",
		Short: "Run instances as Docker Swarm stacks",
		Long: `swarm deploys an instance as a Docker Swarm stack through the engine API (compose
v5 has no stack deploy): one service per compose service, named NAME_service,
an overlay network per compose network on which the services keep their
compose names, named volumes NAME_volume labelled like compose's (so backups,
restores and the debug views find them), and swarm secrets for the generated
secrets. The engine must be a swarm manager (docker swarm init).

The containers carry the compose project labels, so ps, logs, exec and backups
work on them; stop, start, upgrade and rollback are compose operations and
do not apply to a swarm instance: redeploy or remove the stack instead.`,
		GroupID: "instances",
	}
	c.AddCommand(a.swarmDeployCommand(), a.swarmRmCommand(), a.swarmPsCommand())
	return c
}

func (a *app) swarmDeployCommand() *cobra.Command {
	var o deploy.DeployOptions
	var set []string
	var timeout time.Duration
	c := &cobra.Command{
		Use:     "deploy ENTRY",
		Short:   "Deploy an entry as a swarm stack and wait until every service is healthy",
		Example: "  dockerbank swarm deploy demo --name demo-swarm",
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
			m.HealthTimeout = timeout
			start := time.Now()
			in, err := m.DeploySwarm(cmd.Context(), o)
			if err != nil {
				return err
			}
			svcs, err := a.engine.StackServices(cmd.Context(), in.Name)
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(map[string]any{"instance": in, "services": svcs})
			}
			fmt.Fprintf(a.streams.Out, "instance %s (%s %s) is healthy on swarm after %.1fs\n", in.Name, in.Entry, in.Version, time.Since(start).Seconds())
			a.printStack(svcs)
			return nil
		},
	}
	bindDeployFlags(c, &o, &set, &timeout, "instance and stack name (default: the entry id)")
	return c
}

func (a *app) printStack(svcs []engine.StackService) {
	rows := make([][]string, 0, len(svcs))
	for _, s := range svcs {
		rows = append(rows, []string{s.Name, s.Image, fmt.Sprintf("%d/%d", s.Running, s.Desired)})
	}
	a.table([]string{"SERVICE", "IMAGE", "REPLICAS"}, rows)
}

func (a *app) swarmRmCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "rm INSTANCE",
		Short: "Remove an instance's stack (services, networks, secrets); volumes and record stay",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := a.manager(cmd, args)
			if err != nil {
				return err
			}
			if err := m.RemoveSwarm(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(a.streams.Out, "stack %s removed; its volumes are kept (see `dockerbank volumes`)\n", args[0])
			return nil
		},
	}
}

func (a *app) swarmPsCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "ps INSTANCE",
		Short: "Show the services of an instance's stack and their containers",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := a.manager(cmd, args)
			if err != nil {
				return err
			}
			svcs, err := a.engine.StackServices(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			st, err := m.Ps(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(map[string]any{"services": svcs, "status": st})
			}
			a.printStack(svcs)
			fmt.Fprintln(a.streams.Out)
			a.printContainers(st)
			return nil
		},
	}
}
