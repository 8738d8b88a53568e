package cli

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/signal"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/dockerbank/dockerbank/internal/engine"
	"github.com/dockerbank/dockerbank/internal/observe"
	"github.com/dockerbank/dockerbank/internal/progress"
	"github.com/dockerbank/dockerbank/internal/site"
)

func serviceArg(args []string) string {
	if len(args) > 1 {
		return args[1]
	}
	return ""
}

// isTerminal says whether w is a terminal (for colours and TTYs).
func isTerminal(w any) (int, bool) {
	f, ok := w.(*os.File)
	if !ok {
		return 0, false
	}
	fd := int(f.Fd())
	return fd, term.IsTerminal(fd)
}

func (a *app) logsCommand() *cobra.Command {
	var o observe.LogsOptions
	var grep string
	c := &cobra.Command{
		Use:   "logs INSTANCE [SERVICE]",
		Short: "Show the logs of an instance's services, multiplexed and prefixed",
		Long: `Logs prints the log lines of every container of INSTANCE (or of SERVICE),
each prefixed with its service name (coloured on a terminal), interleaved as
they arrive. The instance's generated secrets are redacted from every line.`,
		Example: `  dockerbank logs demo
  dockerbank logs demo db -f --since 10m --grep 'ERROR|FATAL'`,
		GroupID: "watch",
		Args:    cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			s, err := a.openSite()
			if err != nil {
				return err
			}
			e, err := a.openEngine(ctx)
			if err != nil {
				return err
			}
			cs, err := observe.Containers(ctx, e, s, args[0], serviceArg(args))
			if err != nil {
				return err
			}
			if grep != "" {
				if o.Grep, err = regexp.Compile(grep); err != nil {
					return usageError{fmt.Errorf("--grep %q: %w", grep, err)}
				}
			}
			if o.Secrets, err = s.Secrets(args[0]); err != nil {
				return err
			}
			_, o.Color = isTerminal(a.streams.Out)
			return observe.Logs(ctx, e, cs, o, a.streams.Out)
		},
	}
	f := c.Flags()
	f.BoolVarP(&o.Follow, "follow", "f", false, "keep printing new lines")
	f.StringVar(&o.Since, "since", "", "only lines since a time (RFC 3339) or a duration ago (10m)")
	f.StringVarP(&o.Tail, "tail", "n", "all", "number of lines from the end of each log")
	f.BoolVarP(&o.Timestamps, "timestamps", "t", false, "show the time of each line")
	f.StringVar(&grep, "grep", "", "only lines matching this regular expression")
	return c
}

func (a *app) inspectCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "inspect INSTANCE [SERVICE]",
		Short: "Show the configuration of an instance's containers, secrets redacted",
		Long: `Inspect shows, for each container of INSTANCE (or of SERVICE): image, command,
environment (values of keys like *PASSWORD*, *SECRET*, *TOKEN*, *KEY* and any
value holding one of the instance's generated secrets are redacted), ports,
mounts with the class of their volume, labels and health.`,
		GroupID: "watch",
		Args:    cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			s, err := a.openSite()
			if err != nil {
				return err
			}
			e, err := a.openEngine(ctx)
			if err != nil {
				return err
			}
			views, err := observe.Inspect(ctx, e, s, args[0], serviceArg(args))
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(views)
			}
			for i, v := range views {
				if i > 0 {
					fmt.Fprintln(a.streams.Out)
				}
				a.printServiceView(v)
			}
			return nil
		},
	}
}

func (a *app) printServiceView(v observe.ServiceView) {
	w := a.streams.Out
	fmt.Fprintf(w, "%s (service %s, role %s)\n", v.Name, v.Service, orDash(v.Role))
	fmt.Fprintf(w, "  id:       %s\n  image:    %s\n  state:    %s since %s, restarts %d\n", v.ID[:12], v.Image, v.State, v.StartedAt.Format(time.RFC3339), v.RestartCount)
	if len(v.Entrypoint)+len(v.Cmd) > 0 {
		fmt.Fprintf(w, "  command:  %s\n", strings.Join(append(append([]string{}, v.Entrypoint...), v.Cmd...), " "))
	}
	if v.User != "" {
		fmt.Fprintf(w, "  user:     %s\n", v.User)
	}
	if v.Health != nil {
		fmt.Fprintf(w, "  health:   %s (failing streak %d)", orDash(v.Health.Status), v.Health.FailingStreak)
		if v.Health.LastOutput != "" {
			fmt.Fprintf(w, ", last: %q", v.Health.LastOutput)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "  env:")
	for _, kv := range v.Env {
		fmt.Fprintf(w, "    %s\n", kv)
	}
	fmt.Fprintln(w, "  ports:")
	for _, p := range v.Ports {
		fmt.Fprintf(w, "    %s\n", p)
	}
	fmt.Fprintln(w, "  mounts:")
	for _, m := range v.Mounts {
		src := m.Name
		if src == "" {
			src = m.Source
		}
		mode := "ro"
		if m.RW {
			mode = "rw"
		}
		class := ""
		if m.Class != "" {
			class = fmt.Sprintf("  class=%s backup=%s", m.Class, orDash(m.Backup))
		}
		fmt.Fprintf(w, "    %s %s -> %s (%s)%s\n", m.Type, src, m.Destination, mode, class)
	}
	fmt.Fprintln(w, "  labels:")
	for _, k := range slices.Sorted(maps.Keys(v.Labels)) {
		fmt.Fprintf(w, "    %s=%s\n", k, v.Labels[k])
	}
}

func (a *app) topCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "top INSTANCE [SERVICE]",
		Short:   "List the processes running in an instance's containers",
		GroupID: "watch",
		Args:    cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			s, err := a.openSite()
			if err != nil {
				return err
			}
			e, err := a.openEngine(ctx)
			if err != nil {
				return err
			}
			cs, err := observe.Containers(ctx, e, s, args[0], serviceArg(args))
			if err != nil {
				return err
			}
			all := map[string]engine.Processes{}
			for i, c := range cs {
				if c.State != "running" {
					continue
				}
				p, err := e.Top(ctx, c.ID)
				if err != nil {
					return err
				}
				if a.json {
					all[c.Name] = p
					continue
				}
				if i > 0 {
					fmt.Fprintln(a.streams.Out)
				}
				fmt.Fprintf(a.streams.Out, "%s (%s)\n", c.Name, c.Service)
				a.table(p.Titles, p.Rows)
			}
			if a.json {
				return a.printJSON(all)
			}
			return nil
		},
	}
}

func (a *app) statsCommand() *cobra.Command {
	var noStream bool
	var interval time.Duration
	c := &cobra.Command{
		Use:   "stats INSTANCE",
		Short: "Show a live table of the CPU, memory, network and disk use of an instance",
		Long: `Stats reads each container's cgroup files on the engine's host (the engine's
stats API for remote engines) every interval and prints CPU (percent of one
core), memory working set (usage minus inactive file pages, as docker stats),
network and block I/O and process counts.`,
		GroupID: "watch",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			s, err := a.openSite()
			if err != nil {
				return err
			}
			e, err := a.openEngine(ctx)
			if err != nil {
				return err
			}
			if _, err := s.Instance(args[0]); err != nil {
				return err
			}
			col := &observe.Collector{Engine: e, Instance: args[0], Log: a.logger()}
			if e.IsLocal() {
				col.Cgroup = observe.HostCgroup()
			}
			if err := col.Refresh(ctx); err != nil {
				return err
			}
			prev := col.Snapshot()
			_, tty := isTerminal(a.streams.Out)
			for {
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(interval):
				}
				if err := col.Refresh(ctx); err != nil {
					return err
				}
				cur := col.Snapshot()
				rows := observe.StatsTable(prev, cur)
				prev = cur
				if a.json {
					if err := a.printJSON(rows); err != nil {
						return err
					}
				} else {
					if tty && !noStream {
						fmt.Fprint(a.streams.Out, "\x1b[H\x1b[2J")
					}
					a.printStats(rows)
				}
				if noStream {
					return nil
				}
			}
		},
	}
	c.Flags().BoolVar(&noStream, "no-stream", false, "print one table and exit")
	c.Flags().DurationVar(&interval, "interval", 2*time.Second, "time between readings")
	return c
}

func (a *app) printStats(rows []observe.StatsRow) {
	out := make([][]string, 0, len(rows))
	for _, r := range rows {
		mem := bytesIEC(r.Mem)
		if r.MemLimit > 0 {
			mem += " / " + bytesIEC(r.MemLimit)
		}
		svc := r.Service
		if r.Replica > 0 {
			svc = fmt.Sprintf("%s#%d", r.Service, r.Replica)
		}
		out = append(out, []string{r.Name, svc, fmt.Sprintf("%.2f%%", r.CPUPercent), mem,
			bytesIEC(r.NetRx) + " / " + bytesIEC(r.NetTx), bytesIEC(r.BlockRead) + " / " + bytesIEC(r.BlockWrite),
			fmt.Sprint(r.Pids)})
	}
	a.table([]string{"NAME", "SERVICE", "CPU %", "MEM USAGE / LIMIT", "NET I/O", "BLOCK I/O", "PIDS"}, out)
}

// bytesIEC is a size as docker stats prints it, without the space:
// "21.5MiB".
func bytesIEC(n uint64) string {
	return strings.Replace(progress.Bytes(int64(n)), " ", "", 1)
}

func (a *app) execCommand() *cobra.Command {
	var tty, interactive bool
	c := &cobra.Command{
		Use:   "exec INSTANCE SERVICE -- CMD [ARG...]",
		Short: "Run a command in a running service container of an instance",
		Example: `  dockerbank exec demo db -- psql -U postgres -c 'select 1'
  dockerbank exec -it demo app -- sh`,
		GroupID: "watch",
		Args:    cobra.MinimumNArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.session(cmd.Context(), args[0], args[1], args[2:], interactive, tty)
		},
	}
	c.Flags().BoolVarP(&interactive, "interactive", "i", false, "pass standard input to the command")
	c.Flags().BoolVarP(&tty, "tty", "t", false, "allocate a terminal")
	return c
}

func (a *app) shellCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "shell INSTANCE SERVICE",
		Short:   "Open an interactive shell in a running service container of an instance",
		GroupID: "watch",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := a.requireShell(cmd.Context(), args[0], args[1]); err != nil {
				return err
			}
			_, tty := isTerminal(a.streams.In)
			// bash where the image has it, sh otherwise.
			sh := []string{"/bin/sh", "-c", "if command -v bash >/dev/null 2>&1; then exec bash; else exec sh; fi"}
			return a.session(cmd.Context(), args[0], args[1], sh, true, tty)
		},
	}
}

func (a *app) attachCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "attach INSTANCE SERVICE",
		Short: "Attach to the main process of a running service container",
		Long: `Attach connects your terminal to the main process of SERVICE: its output,
and its input when the container was started with stdin open. Ctrl-C
detaches without stopping the container; when the container has a terminal
and open stdin, keys go to it and Ctrl-P Ctrl-Q detaches.`,
		GroupID: "watch",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			_, e, c, err := a.serviceContainer(ctx, args[0], args[1])
			if err != nil {
				return err
			}
			d, err := e.Describe(ctx, c.ID)
			if err != nil {
				return err
			}
			o := engine.SessionOptions{Stdin: a.streams.In, Stdout: a.streams.Out, Stderr: a.streams.Err}
			if d.TTY && d.OpenStdin {
				// Keys go to the container; the engine detaches on Ctrl-P Ctrl-Q.
				restore := a.rawTerminal(&o)
				defer restore()
			}
			return e.AttachSession(ctx, c.ID, o)
		},
	}
}

// requireShell says clearly, and names debug, when the service's container
// has no /bin/sh (an image built FROM scratch or distroless): an exec of it
// would only fail with the runtime's "no such file or directory".
func (a *app) requireShell(ctx context.Context, instance, service string) error {
	_, e, c, err := a.serviceContainer(ctx, instance, service)
	if err != nil {
		return err
	}
	ok, err := e.PathExists(ctx, c.ID, "/bin/sh")
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: %s of instance %s has no /bin/sh (its image %s has no shell); "+
			"use `dockerbank debug %s %s` for a busybox shell that sees its processes, network and files (under /proc/1/root)",
			errNoShell, service, instance, c.Image, instance, service)
	}
	return nil
}

// session runs an exec with the user's streams and exits with the
// command's exit code.
func (a *app) session(ctx context.Context, instance, service string, command []string, interactive, tty bool) error {
	_, e, c, err := a.serviceContainer(ctx, instance, service)
	if err != nil {
		return err
	}
	o := engine.SessionOptions{Stdout: a.streams.Out, Stderr: a.streams.Err, TTY: tty}
	if interactive {
		o.Stdin = a.streams.In
	}
	restore := func() {}
	if tty {
		restore = a.rawTerminal(&o)
	}
	code, err := e.ExecSession(ctx, c.ID, command, o)
	restore()
	if err != nil {
		return err
	}
	if code != 0 {
		return &silentError{code: code}
	}
	return nil
}

// rawTerminal puts the terminal on stdin into raw mode, sets the session's
// size and forwards window changes; the returned func restores it.
func (a *app) rawTerminal(o *engine.SessionOptions) func() {
	fd, ok := isTerminal(a.streams.In)
	if !ok {
		return func() {}
	}
	o.TTY = true
	old, err := term.MakeRaw(fd)
	if err != nil {
		return func() {}
	}
	size := func() [2]uint {
		w, h, _ := term.GetSize(fd)
		return [2]uint{uint(w), uint(h)}
	}
	sz := size()
	o.Width, o.Height = sz[0], sz[1]
	resize := make(chan [2]uint, 1)
	o.Resize = resize
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-winch:
				select {
				case resize <- size():
				default:
				}
			}
		}
	}()
	return func() {
		signal.Stop(winch)
		close(done)
		term.Restore(fd, old)
	}
}

// serviceContainer opens the site and the engine and finds the one running
// container of an instance's service (observe.One's errors: no such
// instance or service, not running).
func (a *app) serviceContainer(ctx context.Context, instance, service string) (*site.Site, *engine.Engine, engine.Container, error) {
	s, err := a.openSite()
	if err != nil {
		return nil, nil, engine.Container{}, err
	}
	e, err := a.openEngine(ctx)
	if err != nil {
		return nil, nil, engine.Container{}, err
	}
	c, err := observe.One(ctx, e, s, instance, service)
	return s, e, c, err
}
