package cli

import (
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/dockerbank/dockerbank/internal/bank"
	"github.com/dockerbank/dockerbank/internal/site"
)

func (a *app) bankCommand() *cobra.Command {
	c := &cobra.Command{
		Use:     "bank",
		Short:   "List, show, search and check bank entries",
		GroupID: "bank",
	}
	c.AddCommand(a.bankListCommand(), a.bankShowCommand(), a.bankSearchCommand(), a.bankLintCommand(), a.bankAddCommand(), a.bankTestCommand())
	return c
}

func (a *app) printEntries(entries []*bank.Entry) error {
	if a.json {
		return a.printJSON(entries)
	}
	rows := make([][]string, 0, len(entries))
	for _, e := range entries {
		rows = append(rows, []string{e.ID, e.DefaultVersion, e.Domain, e.Licence, e.Distribution.Mode, e.Title})
	}
	a.table([]string{"ENTRY", "VERSION", "DOMAIN", "LICENCE", "DISTRIBUTION", "TITLE"}, rows)
	return nil
}

func (a *app) bankListCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the entries of every bank",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := a.openBank(cmd.Context())
			if err != nil {
				return err
			}
			entries := b.List()
			a.warnLeftOut(b)
			return a.printEntries(entries)
		},
	}
}

func (a *app) bankSearchCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "search WORDS...",
		Short: "Find entries by id, title, domain, description or licence",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := a.openBank(cmd.Context())
			if err != nil {
				return err
			}
			entries := b.Search(strings.Join(args, " "))
			a.warnLeftOut(b)
			return a.printEntries(entries)
		},
	}
}

func (a *app) bankShowCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "show ENTRY",
		Short: "Show an entry: versions, services, volumes with their backup methods, licence, curation",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := a.openBank(cmd.Context())
			if err != nil {
				return err
			}
			e, err := b.Get(args[0])
			if err != nil {
				return err
			}
			// The newest `bank test` result of each version on this site.
			var runs []site.Conformance
			if s, err := a.openSite(); err == nil {
				if runs, err = s.Conformance(e.ID); err != nil {
					return err
				}
			}
			if a.json {
				return a.printJSON(struct {
					*bank.Entry
					Conformance []site.Conformance `json:"conformance"`
				}{e, runs})
			}
			out := a.streams.Out
			fmt.Fprintf(out, "%s: %s\n", e.ID, e.Title)
			fmt.Fprintf(out, "domain:       %s\nupstream:     %s\nlicence:      %s\ndistribution: %s", e.Domain, e.Upstream, e.Licence, e.Distribution.Mode)
			if e.Distribution.Source != "" {
				fmt.Fprintf(out, " (you supply: %s)", e.Distribution.Source)
			}
			fmt.Fprintf(out, "\nsource:       %s\n", e.Source)
			if e.IsInfrastructure() {
				fmt.Fprintf(out, "kind:         infrastructure (other instances use it: deploy ENTRY --use SERVICE=INSTANCE, docs/shared.md)\n")
			}
			for _, sh := range e.Shareable {
				fmt.Fprintf(out, "shareable:    %s (a shared %s server: --use %s=INSTANCE)\n", sh.Service, sh.Engine, sh.Service)
			}
			fmt.Fprintf(out, "\n%s\n", strings.TrimSpace(e.Description))
			fmt.Fprintln(out, "\nversions:")
			for _, v := range e.Versions {
				def := ""
				if v.Version == e.DefaultVersion {
					def = " (default)"
				}
				fmt.Fprintf(out, "  %s%s\n", v.Version, def)
				for _, s := range slices.Sorted(maps.Keys(v.Images)) {
					fmt.Fprintf(out, "    %-10s %s\n", s, v.Images[s])
				}
				tested := false
				for _, r := range runs {
					if r.Version == v.Version {
						fmt.Fprintf(out, "    bank test on this site: %s\n", conformanceLine(r))
						tested = true
					}
				}
				if !tested {
					fmt.Fprintf(out, "    bank test on this site: never run (`dockerbank bank test %s --version %s`)\n", e.ID, v.Version)
				}
			}
			if len(e.Startup) > 0 {
				fmt.Fprintln(out, "\nstartup (the longest a first start may take; deploy waits for it):")
				for _, v := range e.Versions {
					budgets := e.StartupBudgets(v)
					for _, svc := range slices.Sorted(maps.Keys(budgets)) {
						fmt.Fprintf(out, "  %-8s %-10s %s\n", v.Version, svc, budgets[svc])
					}
				}
			}
			fmt.Fprintln(out, "\nimage facts (what bank lint checks the entry against):")
			src, err := a.factSource(cmd.Context(), "", false)
			if err != nil {
				return err
			}
			for _, v := range e.Versions {
				for _, svc := range slices.Sorted(maps.Keys(v.Images)) {
					img := v.Images[svc]
					from := "unknown: not available here and not recorded (checks skipped)"
					if f, err := src.ImageFacts(cmd.Context(), img); err == nil && f != nil {
						from = "read from the image (" + f.Origin + ")"
					} else if r, ok := e.Record(img); ok {
						from = "recorded: " + strings.Join(strings.Fields(r.Source), " ")
					}
					fmt.Fprintf(out, "  %-8s %-10s %s\n    %s\n", v.Version, svc, img, from)
				}
			}
			if len(e.Variants) > 0 {
				fmt.Fprintln(out, "\nvariants:")
				for _, v := range e.Variants {
					fmt.Fprintf(out, "  %-12s %s\n", v.Name, v.Description)
				}
			}
			fmt.Fprintln(out, "\nservices:")
			for _, s := range slices.Sorted(maps.Keys(e.Model.Services)) {
				m := e.Model.Services[s]
				fmt.Fprintf(out, "  %-14s %-9s %s\n", s, m.Role, m.Engine)
			}
			fmt.Fprintln(out, "\nvolumes:")
			for _, v := range slices.Sorted(maps.Keys(e.Model.Volumes)) {
				m := e.Model.Volumes[v]
				fmt.Fprintf(out, "  %-14s %-9s backup=%s quiesce=%s\n", v, m.Class, orDash(m.Backup), orDash(m.Quiesce))
			}
			if len(e.Parameters) > 0 {
				fmt.Fprintln(out, "\nparameters (--set NAME=VALUE):")
				for _, p := range e.Parameters {
					fmt.Fprintf(out, "  %-18s default %-12q %s\n", p.Name, p.Default, p.Description)
				}
			}
			if len(e.Fingerprint) > 0 {
				fmt.Fprintln(out, "\nfingerprint (compared after restores, drills and upgrades):")
				for _, f := range e.Fingerprint {
					extra := ""
					if f.RestoreOnly {
						extra = " (restores only)"
					}
					fmt.Fprintf(out, "  %s%s\n", f.Name(), extra)
				}
			}
			fmt.Fprintf(out, "\ncurated by %s on %s", e.Curation.ReviewedBy, e.Curation.ReviewedOn.Format("2006-01-02"))
			if e.Curation.Notes != "" {
				fmt.Fprintf(out, ": %s", strings.TrimSpace(e.Curation.Notes))
			}
			fmt.Fprintln(out)
			for _, t := range e.Curation.Tested {
				v := t.Version
				if t.Variant != "" {
					v += " (variant " + t.Variant + ")"
				}
				fmt.Fprintf(out, "  bank test of %s: %s on %s, %s\n", v, t.Result, t.Date.Format("2006-01-02"), t.Where)
			}
			return nil
		},
	}
}

func conformanceLine(r site.Conformance) string {
	verdict := "passed"
	if !r.OK {
		verdict = "FAILED"
	}
	s := fmt.Sprintf("%s %s in %.0fs", verdict, r.Time.UTC().Format("2006-01-02 15:04Z"), r.Seconds)
	if r.Variant != "" {
		s += " (variant " + r.Variant + ")"
	}
	if !r.OK {
		s += ": " + firstLine(r.Detail)
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (a *app) bankLintCommand() *cobra.Command {
	var archive string
	var noEngine bool
	c := &cobra.Command{
		Use:   "lint DIR...",
		Short: "Validate entries: a bank directory (one entry per subdirectory) or entry directories",
		Long: `Validate bank entries and report every problem at file:line with how to fix it.
DIR may be an entry directory (it holds entry.yaml) or a bank directory whose
subdirectories are entries. Every version and variant is rendered as deploy
renders it and checked for what compose would refuse, checks that always
pass, and health budgets shorter than the declared start-up. Images the
engine has, or that --image-archive holds (a docker save archive), are read
to check that the programs the checks call exist, that volumes are writable
by the image user and that every image VOLUME is mapped; other images are
checked against the entry's curation.images record. Exit code 2 when a
problem is found.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			src, err := a.factSource(cmd.Context(), archive, noEngine)
			if err != nil {
				return err
			}
			var all bank.Problems
			var facts []bank.FactOrigin
			checked := 0
			var dirs []string
			for _, dir := range args {
				ds, err := entryDirs(dir)
				if err != nil {
					return err
				}
				dirs = append(dirs, ds...)
			}
			if err := src.Prefetch(cmd.Context(), bank.ImagesOf(dirs)); err != nil {
				return err
			}
			for _, d := range dirs {
				checked++
				e, err := bank.LintDir(cmd.Context(), d, bank.LintOptions{Facts: src})
				var ps bank.Problems
				if errors.As(err, &ps) {
					all = append(all, ps...)
				} else if err != nil {
					return err
				} else {
					for _, f := range e.Facts {
						f.Service = e.ID + "/" + f.Service
						facts = append(facts, f)
					}
				}
			}
			if a.json {
				if err := a.printJSON(map[string]any{"entries": checked, "problems": all, "facts": facts}); err != nil {
					return err
				}
			} else {
				for _, p := range all {
					fmt.Fprintln(a.streams.Out, p)
				}
				n := map[string]int{}
				for _, f := range facts {
					n[f.From]++
				}
				fmt.Fprintf(a.streams.Out, "%d entries checked, %d problems; image facts: %d read from images, %d from curation records, %d unknown\n",
					checked, len(all), n["image"], n["record"], n["none"])
			}
			if len(all) > 0 {
				return &silentError{code: ExitInvalid}
			}
			return nil
		},
	}
	c.Flags().StringVar(&archive, "image-archive", "", "a `docker save` archive holding images of the entries, read for their facts")
	c.Flags().BoolVar(&noEngine, "no-engine", false, "do not read images from the container engine")
	return c
}

// entryDirs returns dir itself when it holds entry.yaml, else its
// subdirectories that do.
func entryDirs(dir string) ([]string, error) {
	if ok, _ := filepath.Glob(filepath.Join(dir, bank.EntryFile)); len(ok) > 0 {
		return []string{dir}, nil
	}
	matches, err := filepath.Glob(filepath.Join(dir, "*", bank.EntryFile))
	if err != nil {
		return nil, err
	}
	if len(matches) == 0 {
		return nil, usageError{fmt.Errorf("%s holds no entry.yaml, nor do its subdirectories", dir)}
	}
	out := make([]string, len(matches))
	for i, m := range matches {
		out[i] = filepath.Dir(m)
	}
	return out, nil
}

func (a *app) bankAddCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "add DIR",
		Short: "Add a bank directory to the site (searched before the embedded bank)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := a.openSite()
			if err != nil {
				return err
			}
			abs, err := filepath.Abs(args[0])
			if err != nil {
				return err
			}
			if _, err := entryDirs(abs); err != nil {
				return err
			}
			c, err := s.Config()
			if err != nil {
				return err
			}
			for _, b := range c.Banks {
				if b == abs {
					return nil
				}
			}
			c.Banks = append(c.Banks, abs)
			if err := s.SaveConfig(c); err != nil {
				return err
			}
			fmt.Fprintf(a.streams.Out, "bank %s added to site %s\n", abs, s.Dir)
			return nil
		},
	}
}
