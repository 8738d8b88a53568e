package cli

import (
	"crypto/rand"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/dockerbank/dockerbank/internal/backup"
	"github.com/dockerbank/dockerbank/internal/engine"
	"github.com/dockerbank/dockerbank/internal/instance/label"
	"github.com/dockerbank/dockerbank/internal/site"
)

// debugCaps are the only capabilities of a debug container (all others
// are dropped): SYS_PTRACE passes the kernel's ptrace access check on
// /proc/1/root and /proc/PID of a target that runs as another user or
// with more capabilities; DAC_READ_SEARCH reads the target's files
// whatever their owner and mode (reading only, never writing).
var debugCaps = []string{"SYS_PTRACE", "DAC_READ_SEARCH"}

// debugArgs splits `debug INSTANCE SERVICE [-- CMD...]`; dash is cobra's
// ArgsLenAtDash (-1 without --).
func debugArgs(args []string, dash int) (instance, service string, command []string, err error) {
	switch {
	case len(args) < 2:
		return "", "", nil, fmt.Errorf("debug needs INSTANCE and SERVICE, got %d argument(s)", len(args))
	case dash >= 0 && dash != 2:
		return "", "", nil, fmt.Errorf("debug takes INSTANCE SERVICE before --, got %d argument(s) before it", dash)
	case dash < 0 && len(args) > 2:
		return "", "", nil, fmt.Errorf("put the command after --: dockerbank debug %s %s -- %s", args[0], args[1], strings.Join(args[2:], " "))
	case dash == 2 && len(args) == 2:
		return "", "", nil, fmt.Errorf("no command after --: leave out -- for a shell")
	}
	return args[0], args[1], args[2:], nil
}

func (a *app) debugCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "debug INSTANCE SERVICE [-- CMD [ARG...]]",
		Short: "Debug a running service container, also one without a shell, from a throwaway busybox container",
		Long: `debug starts a throwaway container from ` + backup.HelperImage + ` (the site's helper image)
that joins the PID and network namespaces of SERVICE's container (and its IPC
namespace when the container's IPC mode is shareable), like kubectl debug:
ps lists the service's processes (its main process is PID 1), network tools
see its interfaces and ports, and its file system is under /proc/1/root.

Without CMD it opens an interactive shell (a terminal when stdin is one);
with CMD it runs it and exits with its exit code. The debug container has
only the capabilities SYS_PTRACE (to pass the kernel's access check on
/proc/1/root) and DAC_READ_SEARCH (to read the service's files whatever
their owner); it is labelled ` + label.Debug + `=INSTANCE and removed afterwards in every
case, also on Ctrl-C. Its start and end are journaled.`,
		Example: `  dockerbank debug demo app
  dockerbank debug demo app -- ps
  dockerbank debug demo app -- cat /proc/1/root/etc/os-release`,
		GroupID: "watch",
		Args:    cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			instance, service, command, err := debugArgs(args, cmd.ArgsLenAtDash())
			if err != nil {
				return usageError{err}
			}
			s, e, c, err := a.serviceContainer(ctx, instance, service)
			if err != nil {
				return err
			}
			ct, err := e.Inspect(ctx, c.ID)
			if err != nil {
				return err
			}
			o := engine.DebugOptions{
				Image: backup.HelperImage, Cmd: command, Target: c.ID,
				Labels:  map[string]string{label.Debug: instance, label.Service: service},
				CapDrop: []string{"ALL"}, CapAdd: debugCaps,
			}
			if ct.HostConfig != nil && ct.HostConfig.IpcMode.IsShareable() {
				o.IPC = true
			}
			so := engine.SessionOptions{Stdout: a.streams.Out, Stderr: a.streams.Err}
			restore := func() {}
			if len(command) == 0 {
				o.Cmd = []string{"sh"}
				so.Stdin = a.streams.In
				if _, tty := isTerminal(a.streams.In); tty {
					restore = a.rawTerminal(&so)
				}
				if !o.IPC {
					fmt.Fprintf(a.streams.Err, "debug: %s shares its PID and network namespaces; not its IPC namespace (its IPC mode is private)\n", service)
				}
			}
			op := strings.ToLower(rand.Text()[:10])
			what := fmt.Sprintf("service %s (container %.12s), command %q", service, c.ID, strings.Join(o.Cmd, " "))
			if err := s.Append(site.Record{Command: "debug", Instance: instance, Outcome: "started", Detail: what, Op: op}); err != nil {
				return fmt.Errorf("record the debug session in the journal: %w", err)
			}
			code, err := e.DebugSession(ctx, o, so)
			restore()
			outcome, detail := "ok", fmt.Sprintf("%s: exit %d", what, code)
			if err != nil {
				outcome, detail = "failed", what+": "+err.Error()
			}
			if jerr := s.Append(site.Record{Command: "debug", Instance: instance, Outcome: outcome, Detail: detail, Op: op}); jerr != nil && err == nil {
				err = fmt.Errorf("record the end of the debug session in the journal: %w", jerr)
			}
			if err != nil {
				return err
			}
			if code != 0 {
				return &silentError{code: code}
			}
			return nil
		},
	}
}
