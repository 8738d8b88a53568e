package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/dockerbank/dockerbank/internal/backup"
	"github.com/dockerbank/dockerbank/internal/deploy"
	"github.com/dockerbank/dockerbank/internal/engine"
	"github.com/dockerbank/dockerbank/internal/heal"
	"github.com/dockerbank/dockerbank/internal/observe"
	"github.com/dockerbank/dockerbank/internal/site"
	"github.com/dockerbank/dockerbank/internal/web"
)

type serveOptions struct {
	listen           string
	interval         time.Duration
	all              bool
	tlsCert, tlsKey  string
	metricsTokenFile string
	gelf             string
	webhook          string
	smtpAddr         string
	smtpFrom         string
	smtpTo           []string
	smtpUser         string
	smtpPasswordFile string
	policy           observe.Policy
	noCgroup         bool
	noScheduler      bool
	auditEvery       time.Duration
	engines          []string
	engineTLSDirs    []string
	scheduleTick     time.Duration
	noHeal           bool
	heal             heal.Policy
	healTick         time.Duration
}

func (a *app) serveCommand() *cobra.Command {
	var o serveOptions
	c := &cobra.Command{
		Use:   "serve",
		Short: "Watch the instances: /metrics, alerts, GELF log shipping and the web dashboard",
		Long: `Serve runs until interrupted. Every --interval it reads the counters of each
instance container (from cgroup files on the engine's host, one stats API
request per container otherwise; never a stats stream), and serves:

  /healthz   always open
  /metrics   Prometheus metrics under cAdvisor's names (container_cpu_usage_seconds_total,
             container_memory_working_set_bytes, ...) with labels instance, service and role,
             plus dockerbank_* (instance health, restarts, last backup); open unless
             --metrics-token-file is set, then "Authorization: Bearer <token>" is required
  /          the dashboard, after login (set a password with 'dockerbank serve passwd'
             or a token with 'dockerbank serve token')

Unless --no-scheduler, serve also runs each instance's scheduled backups,
retention and restore drills, one job at a time (see 'dockerbank schedule').

Unless --no-heal, serve also heals: a container that fails --heal-failures
health checks in a row, or stays unhealthy --heal-unhealthy-for, is restarted
(its dependants after it), with backoff from --heal-backoff doubling up to
--heal-backoff-max; when a restart does not help, the instance is recreated
(heal mode recreate, the default); after --heal-attempts it gives up and
alerts. Never while a backup or an upgrade runs. Each instance's mode (off,
restart, recreate) comes from its entry and site.yaml 'heal:'.

Alert rules (see 'dockerbank alerts rules') are evaluated after each collection
and sent to --alert-webhook and/or by e-mail (--smtp-*). With --gelf, every
instance container's log is shipped to Graylog; when Graylog is down, lines are
dropped and counted (dockerbank_gelf_messages_dropped_total), never queued in
the containers or the engine.`,
		Example: `  dockerbank serve --listen 127.0.0.1:8080
  dockerbank serve --listen :8443 --tls-cert cert.pem --tls-key key.pem --gelf udp://graylog:12201 \
      --alert-webhook https://chat.example.org/hooks/ops`,
		GroupID: "watch",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.serve(cmd, o)
		},
	}
	f := c.Flags()
	f.StringVar(&o.listen, "listen", "127.0.0.1:8080", "address to listen on")
	f.DurationVar(&o.interval, "interval", 15*time.Second, "time between collections")
	f.BoolVar(&o.all, "all-containers", false, "watch every container, not only those of instances")
	f.StringVar(&o.tlsCert, "tls-cert", "", "serve HTTPS with this certificate (PEM)")
	f.StringVar(&o.tlsKey, "tls-key", "", "private key of --tls-cert (PEM)")
	f.StringVar(&o.metricsTokenFile, "metrics-token-file", "", "file holding a bearer token that /metrics requires")
	f.StringVar(&o.gelf, "gelf", "", "ship logs to this GELF input: udp://host:12201 or tcp://host:12201")
	f.StringVar(&o.webhook, "alert-webhook", "", "POST alert changes as JSON to this URL")
	f.StringVar(&o.smtpAddr, "smtp-addr", "", "send alert changes by e-mail through this SMTP relay (host:port)")
	f.StringVar(&o.smtpFrom, "smtp-from", "", "sender of alert e-mails")
	f.StringSliceVar(&o.smtpTo, "smtp-to", nil, "recipients of alert e-mails")
	f.StringVar(&o.smtpUser, "smtp-user", "", "SMTP user (PLAIN auth)")
	f.StringVar(&o.smtpPasswordFile, "smtp-password-file", "", "file holding the SMTP password")
	f.BoolVar(&o.noCgroup, "no-cgroup", false, "always use the engine's stats API, even on the engine's host")
	f.BoolVar(&o.noScheduler, "no-scheduler", false, "do not run scheduled backups and restore drills (see 'dockerbank schedule')")
	f.StringArrayVar(&o.engines, "engine", nil, "also watch this engine: NAME=ENDPOINT with ENDPOINT unix:///path, tcp://host:port, ssh://user@host or a docker context name (repeatable)")
	f.StringArrayVar(&o.engineTLSDirs, "engine-tls-dir", nil, "NAME=DIR: connect to engine NAME with TLS using DIR/ca.pem, DIR/cert.pem and DIR/key.pem (repeatable)")
	f.DurationVar(&o.auditEvery, "audit-every", 6*time.Hour, "audit the instances' images when first seen and then this often (0 turns audits off)")
	f.DurationVar(&o.scheduleTick, "schedule-check", time.Minute, "time between two checks of the protect schedule")
	f.BoolVar(&o.noHeal, "no-heal", false, "never restart or recreate unhealthy containers (see docs/watch.md, Self-healing)")
	f.IntVar(&o.heal.Failures, "heal-failures", heal.DefaultPolicy.Failures, "heal a container after this many failed health checks in a row (1-5)")
	f.DurationVar(&o.heal.UnhealthyFor, "heal-unhealthy-for", heal.DefaultPolicy.UnhealthyFor, "heal a container the engine reports unhealthy this long")
	f.DurationVar(&o.heal.Backoff, "heal-backoff", heal.DefaultPolicy.Backoff, "wait after a first healing action; doubles with each further one")
	f.DurationVar(&o.heal.MaxBackoff, "heal-backoff-max", heal.DefaultPolicy.MaxBackoff, "cap of the wait between healing actions")
	f.IntVar(&o.heal.Attempts, "heal-attempts", heal.DefaultPolicy.Attempts, "give up (and alert) after this many healing actions")
	f.DurationVar(&o.heal.Stable, "heal-stable", heal.DefaultPolicy.Stable, "a healed container healthy this long starts again at the first attempt when it fails later")
	f.DurationVar(&o.healTick, "heal-check", 10*time.Second, "time between two looks at the instances' health")
	bindPolicyFlags(c, &o.policy)
	c.AddCommand(a.servePasswdCommand(), a.serveTokenCommand())
	return c
}

func bindPolicyFlags(c *cobra.Command, p *observe.Policy) {
	f := c.Flags()
	f.DurationVar(&p.BackupMaxAge, "backup-max-age", observe.DefaultPolicy.BackupMaxAge, "alert when an instance's newest backup is older")
	f.IntVar(&p.RestartLoop, "restart-loop", observe.DefaultPolicy.RestartLoop, "alert when a container restarts this often within --restart-window")
	f.DurationVar(&p.RestartWindow, "restart-window", observe.DefaultPolicy.RestartWindow, "window of --restart-loop")
	f.Float64Var(&p.DiskFreeRatio, "disk-free-ratio", observe.DefaultPolicy.DiskFreeRatio, "alert when a volume's file system has less free space (0-1)")
	f.DurationVar(&p.UnhealthyFor, "unhealthy-for", observe.DefaultPolicy.UnhealthyFor, "alert when an instance stays unhealthy this long")
}

func readSecretFile(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read secret file: %w", err)
	}
	return strings.TrimSpace(string(data)), nil
}

func (a *app) serve(cmd *cobra.Command, o serveOptions) error {
	ctx := cmd.Context()
	var metricsToken string
	if o.metricsTokenFile != "" {
		// Read before anything starts: an empty file must not quietly
		// turn the authentication of /metrics off.
		var err error
		if metricsToken, err = readSecretFile(o.metricsTokenFile); err != nil {
			return usageError{fmt.Errorf("--metrics-token-file: %w", err)}
		}
		if metricsToken == "" {
			return usageError{fmt.Errorf("--metrics-token-file %s is empty: put a token in it (e.g. `openssl rand -hex 32 > %s`), or leave the flag out to serve /metrics without authentication", o.metricsTokenFile, o.metricsTokenFile)}
		}
	}
	s, err := a.openSite()
	if err != nil {
		return err
	}
	e, err := a.openEngine(ctx)
	if err != nil {
		return err
	}
	log := a.logger()
	// Open the bank now: the scheduler and the dashboard's actions use it
	// from several goroutines.
	if _, err := a.openBank(ctx); err != nil {
		return err
	}
	a.resumeInterrupted(cmd) // once, before the goroutines that run jobs
	col := &observe.Collector{Engine: e, Site: s, Log: log, All: o.all, Interval: o.interval}
	if e.IsLocal() && !o.noCgroup {
		col.Cgroup = observe.HostCgroup()
	}
	ev := &observe.Evaluator{Policy: o.policy, Log: log}
	if o.webhook != "" {
		ev.Notifiers = append(ev.Notifiers, &observe.Webhook{URL: o.webhook})
	}
	if o.smtpAddr != "" {
		if o.smtpFrom == "" || len(o.smtpTo) == 0 {
			return usageError{errors.New("--smtp-addr needs --smtp-from and --smtp-to")}
		}
		m := &observe.Mail{Addr: o.smtpAddr, From: o.smtpFrom, To: o.smtpTo, User: o.smtpUser}
		if o.smtpPasswordFile != "" {
			if m.Password, err = readSecretFile(o.smtpPasswordFile); err != nil {
				return err
			}
		}
		m.Hostname, _ = os.Hostname()
		ev.Notifiers = append(ev.Notifiers, m)
	}
	extra, err := a.extraEngines(o)
	if err != nil {
		return err
	}
	healer, err := a.healer(ctx, o)
	if err != nil {
		return err
	}
	col.OnSnapshot = func(snap observe.Snapshot) {
		// The rules see the containers of every engine.
		for _, x := range extra {
			snap.Containers = append(snap.Containers, x.Snapshot().Containers...)
		}
		if healer != nil {
			for _, g := range healer.GivenUp() {
				snap.HealGivenUp = append(snap.HealGivenUp, observe.HealGivenUp(g))
			}
		}
		ev.Eval(ctx, snap)
	}
	if o.auditEvery > 0 {
		col.Audit = &observe.Auditor{Saver: e, Every: o.auditEvery, Log: log}
		go col.Audit.Run(ctx, func() []string { return col.Snapshot().Images() })
	}
	reg := observe.Registry(append(observe.Collectors{col}, extra...),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewGoCollector())
	if healer != nil {
		reg.MustRegister(healer)
		go healer.Run(ctx)
	}
	if o.gelf != "" {
		u, err := url.Parse(o.gelf)
		if err != nil || (u.Scheme != "udp" && u.Scheme != "tcp") || u.Host == "" {
			return usageError{fmt.Errorf("--gelf %q: write udp://host:port or tcp://host:port", o.gelf)}
		}
		g := &observe.GELF{Engine: e, Log: log, Addr: u.Host, Protocol: u.Scheme, All: o.all, Site: s}
		reg.MustRegister(g)
		go g.Run(ctx)
	}
	srv := &web.Server{Site: s, Collector: col, Engines: extra, Registry: reg, Log: log, Alerts: ev,
		Auth:    &web.Auth{Site: s, Secure: o.tlsCert != ""},
		Actions: &serveActions{a: a}}
	srv.MetricsToken = metricsToken
	if !srv.Auth.Configured() {
		fmt.Fprintln(a.streams.Err, "warning: no dashboard password or token is set; only /healthz and /metrics answer until you run `dockerbank serve passwd` or `dockerbank serve token`")
	}
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return usageError{errors.New("--tls-cert and --tls-key go together")}
	}
	if host, _, _ := net.SplitHostPort(o.listen); !isLoopback(host) {
		if o.tlsCert == "" {
			fmt.Fprintf(a.streams.Err, "warning: serving plain HTTP on %s: passwords and sessions cross the network unencrypted; use --tls-cert/--tls-key\n", o.listen)
		}
		if srv.MetricsToken == "" {
			fmt.Fprintf(a.streams.Err, "warning: /metrics answers anyone who reaches %s; set --metrics-token-file\n", o.listen)
		}
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", o.listen, err)
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 5 * time.Minute, IdleTimeout: 2 * time.Minute}
	go col.Run(ctx)
	for _, x := range extra {
		go x.Run(ctx)
	}
	if !o.noScheduler {
		sch, err := a.scheduler(ctx, protectJobs{&serveActions{a: a}})
		if err != nil {
			return err
		}
		sch.Tick = o.scheduleTick
		go sch.Run(ctx)
	}
	scheme := "http"
	if o.tlsCert != "" {
		scheme = "https"
	}
	a.Step(fmt.Sprintf("serving %s://%s (collect every %s)", scheme, ln.Addr(), o.interval))
	errc := make(chan error, 1)
	go func() {
		if o.tlsCert != "" {
			errc <- hs.ServeTLS(ln, o.tlsCert, o.tlsKey)
		} else {
			errc <- hs.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return hs.Shutdown(sctx)
}

// healer wires serve's self-healing (nil with --no-heal).
func (a *app) healer(ctx context.Context, o serveOptions) (*heal.Healer, error) {
	if o.noHeal {
		return nil, nil
	}
	if err := o.heal.Validate(); err != nil {
		return nil, usageError{err}
	}
	m, err := (&serveActions{a: a}).manager(ctx, "heal")
	if err != nil {
		return nil, err
	}
	entryMode := func(_ context.Context, in *site.Instance) (string, error) {
		e, err := m.Bank.Get(in.Entry)
		if err != nil {
			return "", fmt.Errorf("entry %s of instance %s: %w (its heal mode is unknown; add the bank holding it to site.yaml banks:)", in.Entry, in.Name, err)
		}
		return e.Heal, nil
	}
	return &heal.Healer{Site: m.Site, Engine: a.engine, Instances: m, Policy: o.heal, Tick: o.healTick,
		Log: a.logger(), Mode: heal.SiteModes(m.Site, entryMode)}, nil
}

var engineNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,62}$`)

// extraEngines builds a collector per --engine. They connect lazily: an
// engine that does not answer shows as down (dockerbank_engine_up 0) and
// is tried again at every interval, without holding up the others.
func (a *app) extraEngines(o serveOptions) ([]*observe.Collector, error) {
	tlsDirs := map[string]string{}
	for _, kv := range o.engineTLSDirs {
		name, dir, ok := strings.Cut(kv, "=")
		if !ok || dir == "" {
			return nil, usageError{fmt.Errorf("--engine-tls-dir %q: write NAME=DIR", kv)}
		}
		tlsDirs[name] = dir
	}
	seen := map[string]bool{"local": true}
	var out []*observe.Collector
	for _, kv := range o.engines {
		name, endpoint, ok := strings.Cut(kv, "=")
		if !ok || endpoint == "" || !engineNameRE.MatchString(name) {
			return nil, usageError{fmt.Errorf("--engine %q: write NAME=ENDPOINT, NAME in lower-case letters, digits, '.', '_' and '-', e.g. --engine lab2=tcp://lab2:2376", kv)}
		}
		if seen[name] {
			return nil, usageError{fmt.Errorf("--engine %q: the name %s is taken (local is the site's own engine)", kv, name)}
		}
		seen[name] = true
		eo := engine.Endpoint(endpoint, tlsDirs[name])
		delete(tlsDirs, name)
		eo.Logger = a.logger()
		c := &observe.Collector{Name: name, All: o.all, Interval: o.interval, Log: a.logger(),
			Connect: func(ctx context.Context) (*engine.Engine, error) { return engine.Connect(ctx, eo) }}
		if strings.HasPrefix(endpoint, "unix://") && !o.noCgroup {
			c.Cgroup = observe.HostCgroup() // an engine on this host
		}
		out = append(out, c)
	}
	for name := range tlsDirs {
		return nil, usageError{fmt.Errorf("--engine-tls-dir %s=...: no --engine %s=ENDPOINT", name, name)}
	}
	return out, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// serveActions runs the dashboard's actions through the deploy job, so
// that they are locked and journalled like the CLI's.
type serveActions struct{ a *app }

func (s *serveActions) Restart(ctx context.Context, instance, who string) error {
	m, err := s.manager(ctx, "restart "+instance+" (dashboard user "+who+")")
	if err != nil {
		return err
	}
	return m.Restart(ctx, instance)
}

// Backup runs the backup job, as `dockerbank backup` does.
func (s *serveActions) Backup(ctx context.Context, instance, who string) error {
	m, err := s.manager(ctx, "backup "+instance+" (dashboard user "+who+")")
	if err != nil {
		return err
	}
	_, err = (&backup.Job{M: m}).Backup(ctx, instance, backup.BackupOptions{})
	return err
}

// manager opens a deploy manager whose journal records name the dashboard.
func (s *serveActions) manager(ctx context.Context, what string) (*deploy.Manager, error) {
	cmd := &cobra.Command{Use: "serve"}
	cmd.SetContext(ctx)
	m, err := s.a.manager(cmd, nil)
	if err != nil {
		return nil, err
	}
	mm := *m
	mm.Command = "dockerbank serve: " + what
	mm.Report = nil // the dashboard shows results, not progress
	return &mm, nil
}

func (a *app) servePasswdCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "passwd",
		Short: "Set the dashboard password (read from standard input)",
		Long: `Passwd reads the password from the first line of standard input and stores its
bcrypt hash in <site>/serve/passwd (mode 0600).`,
		Example: `  read -rs PW && printf '%s\n' "$PW" | dockerbank serve passwd`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := a.openSite()
			if err != nil {
				return err
			}
			line, err := bufio.NewReader(a.streams.In).ReadString('\n')
			if err != nil && line == "" {
				return usageError{errors.New("write the password on standard input")}
			}
			if err := web.SetPassword(s, strings.TrimRight(line, "\r\n")); err != nil {
				return usageError{err}
			}
			fmt.Fprintln(a.streams.Err, "dashboard password set")
			return nil
		},
	}
}

func (a *app) serveTokenCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "token",
		Short: "Create a new dashboard login token (printed once; replaces the previous one)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := a.openSite()
			if err != nil {
				return err
			}
			tok, err := web.NewToken(s)
			if err != nil {
				return err
			}
			fmt.Fprintln(a.streams.Out, tok)
			return nil
		},
	}
}

func (a *app) alertsCommand() *cobra.Command {
	c := &cobra.Command{
		Use:     "alerts",
		Short:   "Show the built-in alert rules",
		GroupID: "watch",
	}
	var p observe.Policy
	var prom bool
	rules := &cobra.Command{
		Use:   "rules",
		Short: "List the built-in alert rules, or write them as a Prometheus rules file",
		Example: `  dockerbank alerts rules
  dockerbank alerts rules --prometheus > /etc/prometheus/rules/dockerbank.yml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if prom {
				fmt.Fprint(a.streams.Out, observe.PrometheusRules(p))
				return nil
			}
			var rows [][]string
			for _, r := range observe.Rules(p) {
				rows = append(rows, []string{r.Name, r.Severity, orDash(durationOrEmpty(r.For)), r.Help})
			}
			a.table([]string{"RULE", "SEVERITY", "FOR", "FIRES WHEN"}, rows)
			return nil
		},
	}
	rules.Flags().BoolVar(&prom, "prometheus", false, "write a Prometheus rules file")
	bindPolicyFlags(rules, &p)
	c.AddCommand(rules)
	return c
}

func durationOrEmpty(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}
