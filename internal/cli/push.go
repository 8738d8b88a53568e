package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/dockerbank/dockerbank/internal/audit"
	"github.com/dockerbank/dockerbank/internal/engine"
	"github.com/dockerbank/dockerbank/internal/instance/label"
)

// errPushRefused means the licence guard refused to push an image.
var errPushRefused = errors.New("push refused")

func (a *app) pushCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "push IMAGE",
		Short: "Push an image to its registry, unless it may not be redistributed or holds data or secrets",
		Long: `push audits IMAGE first and refuses (exit 6), listing every reason, when the
image is labelled ` + label.Redistributable + `=false (built from a
licensee's own copy, such as REDCap), holds a product that may not be
redistributed, or has a data or secret finding (private keys, tokens,
database files, patient data, ...). Otherwise it pushes with the docker CLI's
registry credentials.`,
		GroupID: "audit",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			e, err := a.openEngine(ctx)
			if err != nil {
				return err
			}
			ref := args[0]
			labels, err := e.ImageLabels(ctx, ref)
			if errors.Is(err, engine.ErrNotFound) {
				return fmt.Errorf("%w: image %s is not on the engine", engine.ErrNotFound, ref)
			}
			if err != nil {
				return err
			}
			a.Step("audit " + ref + " before pushing it")
			report, err := audit.Image(ctx, audit.FromEngine(e, ref), audit.Options{})
			if err != nil {
				return fmt.Errorf("audit %s before pushing: %w", ref, err)
			}
			if ok, reasons := audit.PushVerdict(report, labels); !ok {
				if a.json {
					a.printJSON(map[string]any{"image": ref, "pushed": false, "reasons": reasons})
				}
				return fmt.Errorf("%w: %s must not leave this site:\n  %s", errPushRefused, ref, strings.Join(reasons, "\n  "))
			}
			if err := e.PushImage(ctx, ref, a); err != nil {
				return err
			}
			if a.json {
				return a.printJSON(map[string]any{"image": ref, "pushed": true})
			}
			fmt.Fprintf(a.streams.Out, "pushed %s (audit: no data, secret or licence finding)\n", ref)
			return nil
		},
	}
}

func (a *app) auditInstanceCommand() *cobra.Command {
	var threshold string
	c := &cobra.Command{
		Use:   "instance NAME",
		Short: "Audit every image of an instance; see `dockerbank lint NAME` for its running configuration",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			m, err := a.manager(cmd, args)
			if err != nil {
				return err
			}
			st, err := m.Ps(ctx, args[0])
			if err != nil {
				return err
			}
			min, err := audit.ParseSeverity(threshold)
			if err != nil {
				return usageError{fmt.Errorf("--severity-threshold: %w", err)}
			}
			seen := map[string]bool{}
			code := audit.ExitClean
			var reports []*audit.Report
			for _, c := range st.Containers {
				if seen[c.Image] {
					continue
				}
				seen[c.Image] = true
				a.Step(fmt.Sprintf("audit %s (service %s)", c.Image, c.Service))
				r, err := audit.Image(ctx, audit.FromEngine(a.engine, c.Image), audit.Options{})
				if err != nil {
					return a.auditFailed(err)
				}
				reports = append(reports, r)
				if audit.ExitCode(r, min) != audit.ExitClean {
					code = audit.ExitFindings
				}
				if !a.json {
					fmt.Fprintf(a.streams.Out, "== %s (service %s)\n", c.Image, c.Service)
					if err := audit.Write(a.streams.Out, r, audit.FormatText); err != nil {
						return err
					}
				}
			}
			if a.json {
				if err := a.printJSON(reports); err != nil {
					return err
				}
			}
			if code != audit.ExitClean {
				return &silentError{code: code}
			}
			return nil
		},
	}
	c.Flags().StringVar(&threshold, "severity-threshold", "high", "exit 1 when a finding is at least this severe: info, low, medium, high")
	return c
}
