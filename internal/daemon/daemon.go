package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/dockerbank/dockerbank/internal/bank"
	"github.com/dockerbank/dockerbank/internal/deploy"
	"github.com/dockerbank/dockerbank/internal/engine"
	"github.com/dockerbank/dockerbank/internal/heal"
	"github.com/dockerbank/dockerbank/internal/observe"
	"github.com/dockerbank/dockerbank/internal/progress"
	"github.com/dockerbank/dockerbank/internal/site"
	"github.com/dockerbank/dockerbank/internal/web"
)

// Options are serve's settings, parsed and checked by the caller.
type Options struct {
	// Listen is the address of the HTTP server (host:port).
	Listen string
	// Interval is the time between two collections.
	Interval time.Duration
	// All watches every container, not only those of instances.
	All bool
	// TLSCert and TLSKey, when set, serve HTTPS.
	TLSCert, TLSKey string
	// MetricsToken, when set, is the bearer token /metrics requires.
	MetricsToken string
	// Webhook, when set, receives alert changes as JSON.
	Webhook string
	// Mail, when set, sends alert changes by e-mail.
	Mail *observe.Mail
	// Policy are the alert thresholds.
	Policy observe.Policy
	// NoCgroup always reads the engine's stats API.
	NoCgroup bool
	// NoScheduler runs no scheduled protect jobs.
	NoScheduler bool
	// ScheduleTick is the time between two checks of the schedule.
	ScheduleTick time.Duration
	// AuditEvery is the time between two audits of an image (0: none).
	AuditEvery time.Duration
	// GELF, when its Addr is set, ships the containers' logs.
	GELF GELF
	// Engines are further engines to watch.
	Engines []Engine
	// Heal is the self-healing policy (nil: no healing).
	Heal *heal.Policy
	// HealTick is the time between two looks at the instances' health.
	HealTick time.Duration
	// StopGrace is how long a running job (a scheduled backup, drill,
	// copy or retention run, a dashboard action, the healer's current
	// look) may go on once Run's context ends; then its context ends too.
	StopGrace time.Duration
}

// GELF is the input logs are shipped to.
type GELF struct {
	Protocol string // udp or tcp
	Addr     string // host:port
}

// Engine is a further engine to watch.
type Engine struct {
	Name     string
	Endpoint string // unix:///path, tcp://host:port, ssh://user@host or a docker context name
	TLSDir   string // ca.pem, cert.pem and key.pem; "" for none
}

// Daemon is one `dockerbank serve`. Site, Bank and Engine are open; the
// daemon uses them from several goroutines.
type Daemon struct {
	Site   *site.Site
	Bank   *bank.Bank
	Engine *engine.Engine
	Log    *slog.Logger
	// Report hears the few steps a user sees (where it serves).
	Report progress.Reporter
	Options
}

func (d *Daemon) log() *slog.Logger {
	if d.Log == nil {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return d.Log
}

func (d *Daemon) step(msg string) { progress.Stepf(d.Report, "", "%s", msg) }

// manager returns a deploy manager whose journal records name serve and
// what it does.
func (d *Daemon) manager(what string) *deploy.Manager {
	return &deploy.Manager{Bank: d.Bank, Site: d.Site, Engine: d.Engine, Log: d.log(),
		Command: "dockerbank serve: " + what}
}

// Run serves until ctx ends or a part fails, then stops every part (see
// the package documentation) and returns once all have ended: nil after a
// stop through ctx, the first error otherwise.
func (d *Daemon) Run(ctx context.Context) error {
	log := d.log()
	col := &observe.Collector{Engine: d.Engine, Site: d.Site, Log: log, All: d.All, Interval: d.Interval}
	if d.Engine.IsLocal() && !d.NoCgroup {
		col.Cgroup = observe.HostCgroup()
	}
	ev := &observe.Evaluator{Policy: d.Policy, Log: log}
	if d.Webhook != "" {
		ev.Notifiers = append(ev.Notifiers, &observe.Webhook{URL: d.Webhook})
	}
	if d.Mail != nil {
		ev.Notifiers = append(ev.Notifiers, d.Mail)
	}
	extra := d.extraEngines()
	healer := d.healer()

	g, gctx := errgroup.WithContext(ctx)
	// work is the context of jobs: it ends StopGrace after gctx.
	work, stopWork := afterGrace(gctx, d.StopGrace)
	defer stopWork()

	col.OnSnapshot = func(snap observe.Snapshot) {
		// The rules see the containers of every engine.
		for _, x := range extra {
			snap.Containers = append(snap.Containers, x.Snapshot().Containers...)
		}
		if healer != nil {
			for _, gu := range healer.GivenUp() {
				snap.HealGivenUp = append(snap.HealGivenUp, observe.HealGivenUp(gu))
			}
		}
		ev.Eval(gctx, snap)
	}
	reg := observe.Registry(append(observe.Collectors{col}, extra...),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewGoCollector())
	if healer != nil {
		reg.MustRegister(healer)
	}
	var shipper *observe.GELF
	if d.GELF.Addr != "" {
		shipper = &observe.GELF{Engine: d.Engine, Log: log, Addr: d.GELF.Addr, Protocol: d.GELF.Protocol, All: d.All, Site: d.Site}
		reg.MustRegister(shipper)
	}
	acts := &actions{d: d, work: work}
	srv := &web.Server{Site: d.Site, Collector: col, Engines: extra, Registry: reg, Log: log, Alerts: ev,
		Auth:    &web.Auth{Site: d.Site, Secure: d.TLSCert != ""},
		Actions: acts, MetricsToken: d.MetricsToken}
	ln, err := net.Listen("tcp", d.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", d.Listen, err)
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 5 * time.Minute, IdleTimeout: 2 * time.Minute}

	if d.AuditEvery > 0 {
		col.Audit = &observe.Auditor{Saver: d.Engine, Every: d.AuditEvery, Log: log}
		g.Go(func() error { col.Audit.Run(gctx, func() []string { return col.Snapshot().Images() }); return nil })
	}
	if healer != nil {
		g.Go(func() error { d.runHealer(gctx, healer); return nil })
	}
	if shipper != nil {
		g.Go(func() error { shipper.Run(gctx); return nil })
	}
	g.Go(func() error { col.Run(gctx); return nil })
	for _, x := range extra {
		g.Go(func() error { x.Run(gctx); return nil })
	}
	if !d.NoScheduler {
		sch := d.Scheduler()
		sch.Tick = d.ScheduleTick
		g.Go(func() error { sch.Run(gctx); return nil })
	}
	g.Go(func() error {
		var err error
		if d.TLSCert != "" {
			err = hs.ServeTLS(ln, d.TLSCert, d.TLSKey)
		} else {
			err = hs.Serve(ln)
		}
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("serve: %w", err)
	})
	g.Go(func() error {
		<-gctx.Done()
		// No new connections; requests running an action end with it
		// (within StopGrace), the others within five seconds.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(gctx), 5*time.Second)
		defer cancel()
		err := hs.Shutdown(sctx)
		acts.wait()
		hs.Close()
		if errors.Is(err, context.DeadlineExceeded) {
			return nil // the slow requests were closed
		}
		return err
	})
	scheme := "http"
	if d.TLSCert != "" {
		scheme = "https"
	}
	d.step(fmt.Sprintf("serving %s://%s (collect every %s)", scheme, ln.Addr(), d.Interval))
	err = g.Wait()
	log.Info("serve stopped", "err", err)
	return err
}

// Scheduler returns the protect scheduler of the site with the jobs serve
// runs (backup, retention, drill, off-site copies).
func (d *Daemon) Scheduler() *Scheduler {
	return &Scheduler{Site: d.Site, Jobs: protectJobs{d}, Log: d.log(), EntryPolicy: EntryPolicy(d.Bank),
		Grace: d.StopGrace}
}

// runHealer looks at the instances' health every HealTick until ctx ends,
// as Healer.Run does, except that a look already acting (a restart, or a
// recreate that removes and starts containers) when ctx ends may finish
// within StopGrace: cut short, a recreate could leave containers stopped.
func (d *Daemon) runHealer(ctx context.Context, h *heal.Healer) {
	tick := d.HealTick
	if tick <= 0 {
		tick = 10 * time.Second
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		actx, cancel := afterGrace(ctx, d.StopGrace)
		_, err := h.Once(actx)
		cancel()
		if err != nil && ctx.Err() == nil {
			d.log().Warn("heal", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// healer wires the self-healing (nil without a policy).
func (d *Daemon) healer() *heal.Healer {
	if d.Heal == nil {
		return nil
	}
	m := d.manager("heal")
	entryMode := func(_ context.Context, in *site.Instance) (string, error) {
		e, err := d.Bank.Get(in.Entry)
		if err != nil {
			return "", fmt.Errorf("entry %s of instance %s: %w (its heal mode is unknown; add the bank holding it to site.yaml banks:)", in.Entry, in.Name, err)
		}
		return e.Heal, nil
	}
	return &heal.Healer{Site: d.Site, Engine: d.Engine, Instances: m, Policy: *d.Heal, Tick: d.HealTick,
		Log: d.log(), Mode: heal.SiteModes(d.Site, entryMode)}
}

// extraEngines builds a collector per further engine. They connect
// lazily: an engine that does not answer shows as down
// (dockerbank_engine_up 0) and is tried again at every interval, without
// holding up the others.
func (d *Daemon) extraEngines() []*observe.Collector {
	var out []*observe.Collector
	for _, x := range d.Engines {
		eo := engine.Endpoint(x.Endpoint, x.TLSDir)
		eo.Logger = d.log()
		c := &observe.Collector{Name: x.Name, All: d.All, Interval: d.Interval, Log: d.log(),
			Connect: func(ctx context.Context) (*engine.Engine, error) { return engine.Connect(ctx, eo) }}
		if strings.HasPrefix(x.Endpoint, "unix://") && !d.NoCgroup {
			c.Cgroup = observe.HostCgroup() // an engine on this host
		}
		out = append(out, c)
	}
	return out
}

// actions runs the dashboard's actions through the deploy and backup
// jobs, so that they are locked and journalled like the CLI's. An action
// ends when its request ends, or StopGrace after the daemon stops; Run
// waits for the running ones.
type actions struct {
	d    *Daemon
	work context.Context

	mu      sync.Mutex
	stopped bool
	wg      sync.WaitGroup
}

// ErrStopping refuses an action that arrives while serve stops.
var ErrStopping = errors.New("serve is stopping")

func (a *actions) begin(ctx context.Context) (context.Context, func(), error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stopped {
		return nil, nil, ErrStopping
	}
	a.wg.Add(1)
	ctx, cancel := both(ctx, a.work)
	return ctx, func() { cancel(); a.wg.Done() }, nil
}

// wait refuses further actions and waits for the running ones.
func (a *actions) wait() {
	a.mu.Lock()
	a.stopped = true
	a.mu.Unlock()
	a.wg.Wait()
}

// Restart restarts an instance's containers.
func (a *actions) Restart(ctx context.Context, instance, who string) error {
	ctx, done, err := a.begin(ctx)
	if err != nil {
		return err
	}
	defer done()
	return a.d.manager("restart "+instance+" (dashboard user "+who+")").Restart(ctx, instance)
}

// Backup runs the backup job, as `dockerbank backup` does.
func (a *actions) Backup(ctx context.Context, instance, who string) error {
	ctx, done, err := a.begin(ctx)
	if err != nil {
		return err
	}
	defer done()
	_, err = a.d.backupJob("backup "+instance+" (dashboard user "+who+")").Backup(ctx, instance, backupOptions())
	return err
}

var (
	_ web.Actions  = (*actions)(nil)
	_ web.Backuper = (*actions)(nil)
)
