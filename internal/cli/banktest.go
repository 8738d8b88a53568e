package cli

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/dockerbank/dockerbank/internal/conformance"
)

func (a *app) bankTestCommand() *cobra.Command {
	var version, variant string
	c := &cobra.Command{
		Use:   "test ENTRY [--version V] [--variant X]",
		Short: "Conformance run of an entry: deploy, write, back up, restore, compare fingerprints, upgrade, clean up",
		Long: `Test an entry on this engine before trusting it. In a throwaway site (its own
backup repository) it deploys a throwaway instance (its ports published on
host ports the engine picks), writes data through the application's own interface (the
entry's test: declaration), backs it up, restores the group into a new
instance and compares the fingerprints, upgrades from the previous version of
the entry where that one runs here, and removes everything it created:
containers, named and anonymous volumes, networks, the throwaway site and its
backups. Every step is timed. The result is recorded in this site and shown
by ` + "`bank show`" + `. Exit code 1 when a step fails or any data differs; the
message names the instance and the difference.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := a.manager(cmd, args)
			if err != nil {
				return err
			}
			res, err := conformance.Run(cmd.Context(), conformance.Options{
				Entry: args[0], Version: version, Variant: variant,
				Bank: m.Bank, Engine: a.engine, Site: m.Site, Report: a, Command: a.commandLine(),
			})
			if res == nil {
				return err
			}
			if a.json {
				if jerr := a.printJSON(res); jerr != nil {
					return jerr
				}
			} else {
				renderBankTest(a.streams.Out, res)
			}
			if err != nil {
				fmt.Fprintf(a.streams.Err, "dockerbank: %v\n", err)
				return &silentError{code: ExitError}
			}
			return nil
		},
	}
	c.Flags().StringVar(&version, "version", "", "version to test (default: the entry's default version)")
	c.Flags().StringVar(&variant, "variant", "", "variant to test")
	return c
}

// renderBankTest writes a run's steps as a table and its verdict.
func renderBankTest(w io.Writer, res *conformance.Result) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	writeRow(tw, []string{"STEP", "INSTANCE", "SECONDS", "RESULT", "DETAIL"})
	for _, st := range res.Steps {
		writeRow(tw, []string{st.Name, orDash(st.Instance), fmt.Sprintf("%.1f", st.Seconds), st.Result, firstLine(st.Detail)})
	}
	tw.Flush()
	verdict := "passed"
	if !res.OK {
		verdict = "FAILED"
	}
	v := res.Version
	if res.Variant != "" {
		v += " (variant " + res.Variant + ")"
	}
	fmt.Fprintf(w, "bank test %s %s %s in %.1fs\n", res.Entry, v, verdict, res.Seconds)
}

func firstLine(s string) string {
	for i, r := range s {
		if r == '\n' {
			return s[:i] + " ..."
		}
	}
	return s
}
