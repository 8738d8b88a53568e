package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/dockerbank/dockerbank/internal/site"
	"github.com/spf13/cobra"
)

// Streams are the standard streams of a run; tests pass buffers.
type Streams struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
}

// Main runs dockerbank with args (without the program name) and returns the
// process exit code.
func Main(args []string, s Streams) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a := &app{streams: s, argv: args}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(s.In)
	root.SetOut(s.Out)
	root.SetErr(s.Err)
	err := root.ExecuteContext(ctx)
	if a.engine != nil {
		a.engine.Close()
	}
	if err == nil {
		return ExitOK
	}
	code := exitCode(err)
	var silent *silentError
	if !errors.As(err, &silent) {
		if a.json {
			a.printJSON(map[string]any{"error": err.Error(), "exitCode": code})
		} else {
			fmt.Fprintln(s.Err, "dockerbank: "+err.Error())
			if code == ExitUsage {
				fmt.Fprintln(s.Err, "Run 'dockerbank --help' for usage.")
			}
		}
	}
	return code
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "dockerbank",
		Short: "Deploy, protect and watch biomedical applications in containers",
		Long: `dockerbank deploys biomedical applications (REDCap, OHDSI, FHIR servers,
DICOM archives, ...) from a curated bank as named instances, keeps their data
in labelled named volumes, protects it with app-aware backups, and watches it.

` + exitCodesHelp,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       Version,
	}
	a.bindGlobalFlags(root)
	root.AddGroup(&cobra.Group{ID: "bank", Title: "Bank:"},
		&cobra.Group{ID: "instances", Title: "Instances:"},
		&cobra.Group{ID: "protect", Title: "Protect:"},
		&cobra.Group{ID: "watch", Title: "Watch:"},
		&cobra.Group{ID: "audit", Title: "Audit:"},
		&cobra.Group{ID: "site", Title: "Site:"})
	// Every command is registered here, explicitly.
	for _, c := range []*cobra.Command{
		a.bankCommand(), a.buildCommand(),
		a.deployCommand(), a.lsCommand(), a.psCommand(),
		a.startCommand(), a.stopCommand(), a.restartCommand(), a.downCommand(),
		a.upgradeCommand(), a.rollbackCommand(), a.rmCommand(), a.scaleCommand(),
		a.volumesCommand(), a.gcCommand(),
		a.exportCommand(), a.swarmCommand(),
		a.journalCommand(), a.versionCommand(),
		a.lintCommand(),
		a.auditCommand(), a.pushCommand(),
		a.backupCommand(), a.snapshotsCommand(), a.restoreCommand(), a.verifyCommand(), a.forgetCommand(), a.recoverCommand(), a.scheduleCommand(),
		a.logsCommand(), a.inspectCommand(), a.topCommand(), a.statsCommand(), a.execCommand(), a.shellCommand(), a.attachCommand(),
		a.debugCommand(), a.freezeCommand(),
		a.serveCommand(), a.alertsCommand(),
		a.drCommand(),
	} {
		root.AddCommand(c)
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	markUsageErrors(root)
	return root
}

// Version is set at build time with -ldflags "-X ...cli.Version=...".
var Version = "dev"

func (a *app) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of dockerbank and of the engine it talks to",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := map[string]string{"dockerbank": Version}
			if e, err := a.openEngine(cmd.Context()); err == nil {
				out["engineEndpoint"] = e.Endpoint
				out["engineAPI"] = e.APIVersion
			}
			if a.json {
				return a.printJSON(out)
			}
			fmt.Fprintf(a.streams.Out, "dockerbank %s\n", Version)
			if out["engineAPI"] != "" {
				fmt.Fprintf(a.streams.Out, "engine     %s (API %s)\n", out["engineEndpoint"], out["engineAPI"])
			}
			return nil
		},
	}
}

// commandLine is the command as typed, for the journal. Secrets never come
// from flags, so the whole line can be recorded.
func (a *app) commandLine() string {
	return strings.TrimSpace("dockerbank " + strings.Join(a.argv, " "))
}

// markUsageErrors makes argument-count errors usage errors (exit code 3).
// It also checks required flags, and every instance name on the command line (the positional
// arguments its Use line calls INSTANCE or NAME, and --name / --as) before
// the command runs, so a bad name is wrong usage whether or not an engine
// answers, and never reaches a path.
func markUsageErrors(c *cobra.Command) {
	if args := c.Args; args != nil {
		c.Args = func(cmd *cobra.Command, a []string) error {
			if err := args(cmd, a); err != nil {
				return usageError{err}
			}
			return checkInstanceNames(cmd, a)
		}
	} else if c.HasParent() {
		c.Args = checkInstanceNames
	}
	for _, sub := range c.Commands() {
		markUsageErrors(sub)
	}
}

// instanceArgs says which positional arguments of a command are instance
// names, from its Use line: "rm INSTANCE", "backup NAME... | --all",
// "journal [INSTANCE]". all is true when every argument from the last
// position on is one (NAME...).
func instanceArgs(use string) (positions []int, all bool) {
	words := strings.Fields(use)
	for i, w := range words[1:] {
		if strings.HasPrefix(w, "-") || w == "|" {
			break
		}
		switch strings.Trim(w, "[]") {
		case "INSTANCE", "NAME":
			positions = append(positions, i)
		case "NAME...", "INSTANCE...":
			return append(positions, i), true
		}
	}
	return positions, false
}

func checkInstanceNames(cmd *cobra.Command, args []string) error {
	// Cobra checks required flags after the arguments and returns a plain
	// error; checked here, a missing flag is wrong usage (exit 3) too.
	if err := cmd.ValidateRequiredFlags(); err != nil {
		return usageError{err}
	}
	var names []string
	positions, all := instanceArgs(cmd.Use)
	for _, p := range positions {
		if p < len(args) {
			names = append(names, args[p])
		}
	}
	if all && len(positions) > 0 {
		last := positions[len(positions)-1]
		if last+1 < len(args) {
			names = append(names, args[last+1:]...)
		}
	}
	for _, flag := range []string{"name", "as"} {
		if f := cmd.Flags().Lookup(flag); f != nil && f.Changed {
			names = append(names, f.Value.String())
		}
	}
	for _, n := range names {
		if err := site.ValidName(n); err != nil {
			return usageError{err}
		}
	}
	return nil
}
