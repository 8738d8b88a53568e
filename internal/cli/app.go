package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/dockerbank/dockerbank"
	"github.com/dockerbank/dockerbank/internal/bank"
	"github.com/dockerbank/dockerbank/internal/deploy"
	"github.com/dockerbank/dockerbank/internal/engine"
	"github.com/dockerbank/dockerbank/internal/site"
)

// app holds the global flags and lazily opened site, bank and engine of
// one run.
type app struct {
	streams Streams
	argv    []string

	siteDir     string
	host        string
	contextName string
	banks       []string
	json        bool
	quiet       bool
	debug       bool

	// limitUpload and limitDownload (KiB/s) override site.yaml's restic
	// traffic limits for this run (backup, copy, restore, verify).
	limitUpload, limitDownload int

	progress *renderer // progress.go
	resumed  bool      // containers of interrupted backups were checked

	site   *site.Site
	bank   *bank.Bank
	engine *engine.Engine
	log    *slog.Logger
}

func (a *app) bindGlobalFlags(root *cobra.Command) {
	f := root.PersistentFlags()
	f.StringVar(&a.siteDir, "site", envOr("DOCKERBANK_HOME", site.DefaultDir), "site directory (env DOCKERBANK_HOME)")
	f.StringVarP(&a.host, "host", "H", "", "engine endpoint, e.g. unix:///var/run/docker.sock, ssh://user@host (default: DOCKER_HOST or the docker context)")
	f.StringVar(&a.contextName, "context", os.Getenv("DOCKER_CONTEXT"), "docker context to use (env DOCKER_CONTEXT)")
	f.StringSliceVar(&a.banks, "bank", splitList(os.Getenv("DOCKERBANK_BANKS")), "extra bank directory, searched before the site's banks and the embedded bank (env DOCKERBANK_BANKS, ':'-separated)")
	f.BoolVar(&a.json, "json", false, "print results as JSON")
	f.BoolVarP(&a.quiet, "quiet", "q", false, "print no progress")
	f.BoolVar(&a.debug, "debug", false, "log debug information to standard error")
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ":")
}

func (a *app) logger() *slog.Logger {
	if a.log == nil {
		level := slog.LevelWarn
		if a.debug {
			level = slog.LevelDebug
		}
		a.log = slog.New(slog.NewTextHandler(a.streams.Err, &slog.HandlerOptions{Level: level}))
	}
	return a.log
}

func (a *app) openSite() (*site.Site, error) {
	if a.site == nil {
		s, err := site.Open(a.siteDir)
		if err != nil {
			return nil, fmt.Errorf("%w; set --site or DOCKERBANK_HOME to a writable directory", err)
		}
		a.site = s
	}
	return a.site, nil
}

// openBank loads the banks: --bank directories, the site's banks, then the
// embedded bank.
func (a *app) openBank(ctx context.Context) (*bank.Bank, error) {
	if a.bank != nil {
		return a.bank, nil
	}
	var sources []bank.Source
	dirs := append([]string{}, a.banks...)
	if s, err := a.openSite(); err == nil {
		if c, err := s.Config(); err == nil {
			dirs = append(dirs, c.Banks...)
		} else {
			return nil, err
		}
	}
	for _, d := range dirs {
		abs, err := filepath.Abs(d)
		if err != nil {
			return nil, err
		}
		sources = append(sources, bank.Source{Name: d, FS: os.DirFS(abs), Root: "."})
	}
	sources = append(sources, bank.Source{Name: "embedded", FS: dockerbank.Bank, Root: dockerbank.BankRoot})
	b, err := bank.Open(ctx, sources...)
	if err != nil {
		return nil, err
	}
	a.bank = b
	return b, nil
}

// warnLeftOut names the invalid entries a listing of the bank left out
// (the bank loads entries when they are first asked for).
func (a *app) warnLeftOut(b *bank.Bank) {
	for _, p := range b.Problems {
		fmt.Fprintf(a.streams.Err, "warning: entry left out: %s\n", p)
	}
}

func (a *app) openEngine(ctx context.Context) (*engine.Engine, error) {
	if a.engine == nil {
		e, err := engine.Connect(ctx, engine.Options{Host: a.host, Context: a.contextName, Logger: a.logger(), Report: a})
		if err != nil {
			return nil, err
		}
		a.engine = e
	}
	return a.engine, nil
}

// manager opens everything the lifecycle commands need.
func (a *app) manager(cmd *cobra.Command, args []string) (*deploy.Manager, error) {
	ctx := cmd.Context()
	s, err := a.openSite()
	if err != nil {
		return nil, err
	}
	b, err := a.openBank(ctx)
	if err != nil {
		return nil, err
	}
	e, err := a.openEngine(ctx)
	if err != nil {
		return nil, err
	}
	a.resumeInterrupted(cmd)
	return &deploy.Manager{Bank: b, Site: s, Engine: e, Report: a, Log: a.logger(), Command: a.commandLine()}, nil
}

func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.streams.Out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table writes aligned columns.
func (a *app) table(header []string, rows [][]string) {
	tw := tabwriter.NewWriter(a.streams.Out, 0, 4, 2, ' ', 0)
	writeRow(tw, header)
	for _, r := range rows {
		writeRow(tw, r)
	}
	tw.Flush()
}

func writeRow(w io.Writer, cols []string) {
	fmt.Fprintln(w, strings.Join(cols, "\t"))
}
