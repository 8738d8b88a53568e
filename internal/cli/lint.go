package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"

	"github.com/dockerbank/dockerbank/internal/instance"
	"github.com/dockerbank/dockerbank/internal/lint"
	"github.com/dockerbank/dockerbank/internal/site"
)

func (a *app) lintCommand() *cobra.Command {
	var (
		format, threshold, suppressions string
		envFiles, profiles              []string
		listRules, separate             bool
	)
	cmd := &cobra.Command{
		Use:     "lint [FILES... | DIR | INSTANCE]",
		GroupID: "audit",
		Short:   "Check compose files against operating and security rules",
		Long: `Check compose files against operating practice and security rules: user
data outside named volumes, floating image tags, literal secrets, published
database and debug ports, privileged containers, missing health checks,
restart policies, log rotation, limits and backup policies (x-dockerbank).

The files are read the way compose reads them: .env in the project directory
(or --env-file), override files, extends, profiles and interpolation. The
shell environment is not used, so results do not depend on who runs lint.
Without arguments lint checks the compose file of the current directory.
FILES are loaded in order like docker compose -f; DIR is searched for
compose.yaml or docker-compose.yml and its override file; INSTANCE names an
instance of the site and checks its rendered compose file. With --separate
every FILE or DIR is a project of its own, all linted in one run.

Every finding has a rule ID (see --rules), a severity, file:line:col, the
service, a message and a fix. A suppressions file accepts findings:

  suppressions:
    - rule: DB003            # required
      service: db            # optional
      file: compose.yaml     # optional, a path, base name or glob
      reason: one instance per host by design   # required
      expires: 2027-01-31    # optional; afterwards the findings return
                             # together with a DB099 warning

Exit codes:
  0  no finding at or above --severity-threshold
  1  findings at or above the threshold
  2  an input could not be analysed (broken YAML, unreadable file)
  3  wrong usage (bad flag, bad suppressions file)`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			out := a.streams.Out
			if listRules {
				return a.printRules(out, format)
			}
			if !cmd.Flags().Changed("format") && a.json {
				format = "json"
			}
			if format != "text" && format != "json" && format != "sarif" {
				return usageError{fmt.Errorf("--format %q: want text, json or sarif", format)}
			}
			th, err := lint.ParseSeverity(threshold)
			if err != nil {
				return usageError{fmt.Errorf("--severity-threshold: %w", err)}
			}
			opts := lint.Options{EnvFiles: envFiles, Profiles: profiles}
			var sup *lint.Suppressions
			if suppressions != "" {
				if sup, err = lint.LoadSuppressions(suppressions); err != nil {
					return usageError{err}
				}
			}
			// compose-go warns through logrus (obsolete version); lint
			// reports that itself as DB022.
			logrus.SetOutput(io.Discard)
			var report *lint.Report
			invalid := false
			if separate {
				if len(args) == 0 {
					return usageError{errors.New("--separate needs the files or directories to lint")}
				}
				if report, invalid, err = a.lintSeparately(cmd.Context(), args, opts); err != nil {
					return err
				}
				if sup != nil {
					sup.Apply(report, time.Now())
				}
			} else {
				opts.Suppressions = sup
				if err := a.lintTargets(args, &opts); err != nil {
					return err
				}
				report, err = lint.Check(cmd.Context(), opts)
				if err != nil {
					var ue *lint.UsageError
					if errors.As(err, &ue) {
						return usageError{err}
					}
					if format == "json" {
						a.printJSON(map[string]any{"error": err.Error(), "exitCode": ExitInvalid})
					} else {
						fmt.Fprintln(a.streams.Err, "dockerbank: "+err.Error())
					}
					return &silentError{code: lint.ExitCodeFor(nil, err, th)}
				}
			}
			switch format {
			case "json":
				err = lint.WriteJSON(out, report)
			case "sarif":
				err = lint.WriteSARIF(out, report, lint.SARIFOptions{ToolVersion: Version})
			default:
				err = lint.WriteText(out, report)
			}
			if err != nil {
				return err
			}
			if invalid {
				return &silentError{code: lint.ExitCouldNotLoad}
			}
			if code := lint.ExitCode(report, th); code != lint.ExitClean {
				return &silentError{code: code}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&format, "format", "text", "output format: text, json or sarif")
	f.StringVar(&threshold, "severity-threshold", "high", "lowest severity that makes lint exit 1: high, medium, low or info")
	f.StringVar(&suppressions, "suppressions", "", "YAML file of accepted findings, each with a reason and an optional expiry")
	f.StringSliceVar(&envFiles, "env-file", nil, "env file to interpolate with, instead of the project's .env (repeatable)")
	f.StringSliceVar(&profiles, "profile", nil, "profile to enable (repeatable; default: all, so every service is checked)")
	f.BoolVar(&separate, "separate", false, "lint each FILE or DIR as a project of its own, in one run (for auditing many compose files)")
	f.BoolVar(&listRules, "rules", false, "list the rules and exit")
	return cmd
}

// lintSeparately lints each argument as its own project and merges the
// reports; files that cannot be analysed are named on stderr and make
// invalid true. Finding paths are shown as given on the command line.
func (a *app) lintSeparately(ctx context.Context, args []string, base lint.Options) (*lint.Report, bool, error) {
	var reports []*lint.Report
	invalid := false
	for _, arg := range args {
		opts := base
		st, err := os.Stat(arg)
		if err != nil {
			return nil, false, usageError{fmt.Errorf("lint %s: no such file or directory", arg)}
		}
		prefix := arg
		if st.IsDir() {
			opts.ProjectDir = arg
		} else {
			opts.Files = []string{arg}
			opts.ProjectDir = filepath.Dir(arg)
			prefix = filepath.Dir(arg)
		}
		r, err := lint.Check(ctx, opts)
		if err != nil {
			var ue *lint.UsageError
			if errors.As(err, &ue) {
				return nil, false, usageError{err}
			}
			fmt.Fprintf(a.streams.Err, "dockerbank: %s: %v\n", arg, err)
			invalid = true
			continue
		}
		show := func(p string) string {
			if filepath.IsAbs(p) {
				return p
			}
			return filepath.ToSlash(filepath.Join(prefix, p))
		}
		for i := range r.Files {
			r.Files[i] = show(r.Files[i])
		}
		for i := range r.Findings {
			r.Findings[i].File = show(r.Findings[i].File)
		}
		reports = append(reports, r)
	}
	return lint.Merge(reports...), invalid, nil
}

// lintTargets turns the arguments into files, a project directory or an
// instance's rendered compose file.
func (a *app) lintTargets(args []string, opts *lint.Options) error {
	if len(args) == 0 {
		opts.ProjectDir = "."
		return nil
	}
	var files []string
	for _, arg := range args {
		st, err := os.Stat(arg)
		switch {
		case err == nil && st.IsDir():
			if len(args) > 1 {
				return usageError{fmt.Errorf("%s is a directory: give one directory, or compose files", arg)}
			}
			opts.ProjectDir = arg
			return nil
		case err == nil:
			files = append(files, arg)
		case len(args) == 1 && errors.Is(err, os.ErrNotExist) && site.ValidName(arg) == nil:
			return a.lintInstance(arg, opts)
		default:
			return usageError{fmt.Errorf("lint %s: no such file, directory or instance", arg)}
		}
	}
	opts.Files = files
	opts.ProjectDir = filepath.Dir(files[0])
	return nil
}

// lintInstance points lint at an instance's rendered compose file, with the
// instance's secrets as environment (they never appear in findings).
func (a *app) lintInstance(name string, opts *lint.Options) error {
	s, err := a.openSite()
	if err != nil {
		return err
	}
	if _, err := s.Instance(name); err != nil {
		return err
	}
	r, err := instance.Rendered(s, name)
	if err != nil {
		return err
	}
	opts.ProjectDir, opts.Files, opts.Environment = r.Dir, []string{r.File}, r.Env
	return nil
}

func (a *app) printRules(out io.Writer, format string) error {
	rules := lint.Rules()
	if format == "json" || a.json {
		return a.printJSON(rules)
	}
	rows := make([][]string, 0, len(rules))
	for _, r := range rules {
		rows = append(rows, []string{r.ID, r.Severity.String(), r.Name, strings.TrimSuffix(r.Summary, ".")})
	}
	a.table([]string{"RULE", "SEVERITY", "NAME", "CHECKS"}, rows)
	return nil
}
