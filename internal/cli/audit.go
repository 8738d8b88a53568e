package cli

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/dockerbank/dockerbank/internal/audit"
)

const auditExitHelp = `Exit codes:
  0  no finding at or above the threshold
  1  findings at or above the threshold
  2  the image could not be analysed (unreadable tarball, missing layer, bad suppressions file)
  3  wrong usage
  4  no container engine answered`

func (a *app) auditCommand() *cobra.Command {
	c := &cobra.Command{
		Use:     "audit",
		Short:   "Audit images: provenance, currency, hardening, data and secrets in layers, licence limits",
		GroupID: "audit",
	}
	c.AddCommand(a.auditImageCommand(), a.auditInstanceCommand())
	return c
}

func (a *app) auditImageCommand() *cobra.Command {
	var input, format, threshold, suppressions, from string
	c := &cobra.Command{
		Use:   "image REF | --input TAR",
		Short: "Audit one image from the engine, a docker save tarball or a registry",
		Long: `Audit one image as a black box. Every layer is streamed once, also files that a
later layer deleted (they stay in the image). Reports provenance (history,
labels, base image guess), end-of-life OS and database releases, hardening
(root user, setuid files, exposed ports, healthcheck, sshd/supervisord),
private keys, tokens, credential files, passwords in ENV/ARG/history, database
files, SQL dumps, DICOM/HL7/FHIR files, CSV files with personal data, and
products that may not be redistributed (REDCap, Oracle Database XE). Secret
values are never printed in full.

Suppressions file (YAML):
  version: 1
  suppressions:
    - rule: DBK-DATA-003
      path: "app/fixtures/**"
      reason: synthetic test database
      expires: 2027-06-30

` + auditExitHelp,
		Args: func(cmd *cobra.Command, args []string) error {
			switch {
			case input == "" && len(args) != 1:
				return usageError{errors.New("audit image needs an image REF or --input TAR")}
			case input != "" && len(args) != 0:
				return usageError{errors.New("audit image takes either an image REF or --input TAR, not both")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if a.json && !cmd.Flags().Changed("format") {
				format = audit.FormatJSON
			}
			switch format {
			case audit.FormatText, audit.FormatJSON, audit.FormatSARIF:
			default:
				return usageError{fmt.Errorf("--format %q: want text, json or sarif", format)}
			}
			min, err := audit.ParseSeverity(threshold)
			if err != nil {
				return usageError{fmt.Errorf("--severity-threshold: %w", err)}
			}
			opts := audit.Options{}
			if suppressions != "" {
				f, err := os.Open(suppressions)
				if err != nil {
					return a.auditFailed(fmt.Errorf("open suppressions: %w", err))
				}
				opts.Suppressions, err = audit.LoadSuppressions(f, suppressions)
				f.Close()
				if err != nil {
					return a.auditFailed(err)
				}
			}
			var src audit.Source
			switch {
			case input == "-":
				src = audit.FromReader("standard input", a.streams.In)
			case input != "":
				src = audit.FromTarball(input, "")
			case from == "registry":
				src = audit.FromRegistry(args[0])
			case from == "engine":
				e, err := a.openEngine(ctx)
				if err != nil {
					return err
				}
				src = audit.FromEngine(e, args[0])
			default:
				return usageError{fmt.Errorf("--from %q: want engine or registry", from)}
			}
			report, err := audit.Image(ctx, src, opts)
			if err != nil {
				return a.auditFailed(err)
			}
			if err := audit.Write(a.streams.Out, report, format); err != nil {
				return err
			}
			if code := audit.ExitCode(report, min); code != audit.ExitClean {
				return &silentError{code: code}
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&input, "input", "", "read the image from a docker save tarball (or OCI layout tarball); - reads standard input")
	f.StringVar(&format, "format", audit.FormatText, "output format: text, json or sarif")
	f.StringVar(&threshold, "severity-threshold", "high", "exit 1 when a finding has this severity or more: info, low, medium, high, critical")
	f.StringVar(&suppressions, "suppressions", "", "YAML file of suppressions (rule, optional path glob, reason, optional expiry)")
	f.StringVar(&from, "from", "engine", "where REF is read from: engine or registry")
	return c
}

// auditFailed prints why an image could not be analysed and exits 2.
func (a *app) auditFailed(err error) error {
	if a.json {
		a.printJSON(map[string]any{"error": err.Error(), "exitCode": audit.ExitError})
	} else {
		fmt.Fprintln(a.streams.Err, "dockerbank: "+err.Error())
	}
	return &silentError{code: audit.ExitError}
}
