package cli

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/dockerbank/dockerbank/internal/deploy"
)

func (a *app) scaleCommand() *cobra.Command {
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "scale INSTANCE SERVICE=K [SERVICE=K...]",
		Short: "Run K replicas of a service on the same data, behind a load-balancing proxy",
		Long: `Scale runs K containers (replicas) of each named service on the same volumes
and database and waits until they are healthy. With K > 1 the service's
published ports move to the proxy service ` + deploy.ProxyService + ` (HAProxy,
` + deploy.ProxyImage + `), which balances across the replicas: HTTP ports the
entry names per request, other ports per connection. K = 1 runs the plain
service again. The count is recorded in the instance, so start, upgrade,
restore and dr keep it.

Scale refuses (exit code 6), with the reason, a service that the entry does
not mark scalable (x-dockerbank scale), a count above the entry's maximum,
and a service that mounts a volume that admits one writer only (singleWriter,
or a database's data directory).`,
		Example: `  dockerbank scale pacs orthanc=3
  dockerbank scale pacs orthanc=1`,
		GroupID: "instances",
		Args:    cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			want, err := parseScale(args[1:])
			if err != nil {
				return err
			}
			m, err := a.manager(cmd, args)
			if err != nil {
				return err
			}
			m.HealthTimeout = timeout
			if _, err := m.Scale(cmd.Context(), deploy.ScaleOptions{Name: args[0], Replica: want}); err != nil {
				return err
			}
			st, err := m.Ps(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(st)
			}
			fmt.Fprintf(a.streams.Out, "instance %s (%s %s): %s\n", args[0], st.Instance.Entry, st.Instance.Version, st.Health())
			a.printContainers(st)
			return nil
		},
	}
	c.Flags().DurationVar(&timeout, "timeout", 0, "how long to wait for health (default: 5m, or longer when the entry declares a start-up budget)")
	return c
}

// parseScale reads SERVICE=K arguments.
func parseScale(args []string) (map[string]int, error) {
	out := map[string]int{}
	for _, arg := range args {
		svc, n, ok := strings.Cut(arg, "=")
		k, err := strconv.Atoi(n)
		if !ok || svc == "" || err != nil || k < 1 {
			return nil, usageError{fmt.Errorf("scale %q: write SERVICE=K with K a number of replicas from 1", arg)}
		}
		if _, dup := out[svc]; dup {
			return nil, usageError{fmt.Errorf("scale: service %s is named twice", svc)}
		}
		out[svc] = k
	}
	return out, nil
}
