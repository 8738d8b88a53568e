package observe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/dockerbank/dockerbank/internal/engine"
	"github.com/dockerbank/dockerbank/internal/instance"
	"github.com/dockerbank/dockerbank/internal/instance/label"
	"github.com/dockerbank/dockerbank/internal/site"
)

// Collector samples the watched containers on a ticker (never per scrape,
// never with a stats stream per container) and keeps the latest snapshot
// plus a short history for the dashboard's charts.
type Collector struct {
	// Engine is the engine watched; when nil, Connect opens it at the
	// first collection and again after each failure (an engine that is
	// down at start is then watched once it answers).
	Engine  *engine.Engine
	Connect func(ctx context.Context) (*engine.Engine, error)
	// Name is the engine's name, the engine label of every container
	// series (default "local").
	Name string
	// Site, when set, adds the site's instances, their backups and drills
	// and their volumes; it is set on the collector of the site's engine.
	Site *site.Site
	// Audit, when set, supplies the audit findings of the containers'
	// images.
	Audit *Auditor
	Log   *slog.Logger
	// Cgroup reads counters from cgroup files; nil uses the engine's stats
	// API (one one-shot request per container per interval).
	Cgroup *Cgroup
	// All watches every container, not only those of dockerbank instances.
	All bool
	// Instance, when set, watches only that instance's containers.
	Instance string
	// Interval between collections (default 15 s).
	Interval time.Duration
	// OnSnapshot, when set, is called by Run after each collection (the
	// alert evaluator).
	OnSnapshot func(Snapshot)
	// Keep is how many collections the charts keep (default 240: one
	// hour at 15 s).
	Keep int

	connMu    sync.Mutex // one Connect at a time
	mu        sync.Mutex
	snap      Snapshot
	runtimes  map[string]*runtimeState
	history   map[string]*ring // container name -> samples
	errors    float64
	durations time.Duration
}

type runtimeState struct {
	rt       engine.Runtime
	stale    bool // inspect again at the next collection
	restarts float64
	starts   float64 // start events seen since the last inspect
}

// Snapshot is one collection.
type Snapshot struct {
	// Engine names the engine; Up says whether it answered.
	Engine     string
	Up         bool
	Time       time.Time
	Duration   time.Duration
	Containers []ContainerStat
	Instances  []InstanceStat
	Volumes    []VolumeStat
	// Findings are the cached audit results of the containers' images.
	Findings []Findings
	// HealGivenUp are the services serve's healer gave up on (serve fills
	// it in before the rules run).
	HealGivenUp []HealGivenUp
}

// HealGivenUp is a service that stays unhealthy after the healer's
// attempts.
type HealGivenUp struct {
	Instance, Service string
	Since             time.Time
	Attempts          int
	Reason            string
}

// Findings is the audit result of one image of one instance.
type Findings struct {
	Instance string
	ImageAudit
}

// ContainerStat is one container in a snapshot.
type ContainerStat struct {
	engine.Container
	Instance string
	Role     string
	Runtime  engine.Runtime
	Sample   engine.Sample
	Sampled  bool // Sample holds a reading (the container runs)
	// CPU is the cores used on average since the previous collection.
	CPU      float64
	Restarts float64
}

// InstanceStat is one instance in a snapshot.
type InstanceStat struct {
	Instance *site.Instance
	Health   string // healthy, unhealthy, starting, running, partial, stopped, missing
	// Drill is the newest restore drill result; nil when never drilled.
	Drill *site.Drill
	// Copies are the instance's off-site copies (site.yaml backup.copies).
	Copies []CopyStat
}

// CopyStat is the state of one off-site copy of an instance.
type CopyStat struct {
	Copy string
	// Verified is the time of the newest group verified on the copy;
	// zero when none is.
	Verified time.Time
	MaxAge   time.Duration
}

// VolumeStat is the file system holding one instance volume.
type VolumeStat struct {
	Name, Instance, Class string
	// FSSize and FSAvail are the bytes of the file system holding the
	// volume (read with statfs on the engine's host); 0 when unknown.
	FSSize, FSAvail uint64

	mountpoint string
}

func (c *Collector) interval() time.Duration {
	if c.Interval > 0 {
		return c.Interval
	}
	return 15 * time.Second
}

func (c *Collector) log() *slog.Logger {
	if c.Log == nil {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return c.Log
}

// Run collects until ctx ends, and follows the engine's container events
// to count restarts and refresh lifecycle data between collections. It
// returns once the follower has ended too.
func (c *Collector) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.followEvents(ctx)
	}()
	defer wg.Wait()
	t := time.NewTicker(c.interval())
	defer t.Stop()
	for {
		if err := c.Refresh(ctx); err != nil && ctx.Err() == nil {
			c.log().Warn("collect", "err", err)
		}
		if c.OnSnapshot != nil && ctx.Err() == nil {
			c.OnSnapshot(c.Snapshot())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (c *Collector) followEvents(ctx context.Context) {
	backoff := time.Second
	for ctx.Err() == nil {
		o := engine.EventsOptions{Actions: []string{"start", "die"}}
		if !c.All {
			o.Label = label.Instance
		}
		if e := c.engine(); e != nil { // nil until Refresh connects
			err := e.ContainerEvents(ctx, o, c.onEvent)
			if ctx.Err() != nil {
				return
			}
			c.log().Warn("follow container events", "engine", c.name(), "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, time.Minute)
	}
}

func (c *Collector) onEvent(ev engine.ContainerEvent) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.runtimes[ev.ID]
	if st == nil {
		return
	}
	st.stale = true
	if ev.Action == "start" && !sameStart(ev.Time, st.rt.StartedAt) {
		st.starts++
	}
}

// sameStart says whether a start event is the start an inspect already saw
// (and counted): under load the event can arrive after a collection that
// found the container restarted by its new start time. The engine emits the
// event a few milliseconds after the process starts.
func sameStart(event, startedAt time.Time) bool {
	if startedAt.IsZero() || event.IsZero() {
		return false
	}
	d := event.Sub(startedAt)
	return d > -100*time.Millisecond && d < time.Second
}

func (c *Collector) name() string {
	if c.Name != "" {
		return c.Name
	}
	return "local"
}

// engine returns the connected engine, or nil.
func (c *Collector) engine() *engine.Engine {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Engine
}

// connect returns the engine, connecting when needed.
func (c *Collector) connect(ctx context.Context) (*engine.Engine, error) {
	if e := c.engine(); e != nil {
		return e, nil
	}
	if c.Connect == nil {
		return nil, errors.New("collector has no engine")
	}
	c.connMu.Lock()
	defer c.connMu.Unlock()
	if e := c.engine(); e != nil {
		return e, nil
	}
	e, err := c.Connect(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.Engine = e
	c.mu.Unlock()
	return e, nil
}

// down records a collection that could not reach the engine: its
// containers are no longer reported (their values would be stale).
func (c *Collector) down(start time.Time, err error) error {
	c.mu.Lock()
	c.snap = Snapshot{Engine: c.name(), Time: start, Duration: time.Since(start)}
	c.errors++
	c.mu.Unlock()
	return fmt.Errorf("engine %s: %w", c.name(), err)
}

// Refresh takes one snapshot.
func (c *Collector) Refresh(ctx context.Context) error {
	start := time.Now()
	eng, err := c.connect(ctx)
	if err != nil {
		return c.down(start, err)
	}
	var cs []engine.Container
	switch {
	case c.Instance != "":
		cs, err = eng.Containers(ctx, map[string]string{label.Instance: c.Instance})
	case c.All:
		cs, err = eng.Containers(ctx, nil)
	default:
		cs, err = eng.ContainersLabelled(ctx, label.Instance)
	}
	if err != nil {
		return c.down(start, err)
	}
	prev := map[string]ContainerStat{}
	for _, p := range c.Snapshot().Containers {
		prev[p.ID] = p
	}
	var errs []error
	if c.Site != nil && !c.All && c.Instance == "" {
		// Other sites may deploy instances on the same engine: watch ours.
		cs, err = siteContainers(c.Site, cs)
		if err != nil {
			errs = append(errs, err)
		}
	}
	// The stats API answers a one-shot request only at the engine's next
	// sampling tick (about 1 s on Docker 20.10): ask for all containers at
	// once, a few at a time, rather than one after the other.
	pre := c.prefetch(ctx, cs)
	stats := make([]ContainerStat, 0, len(cs))
	seen := map[string]bool{}
	for _, ct := range cs {
		seen[ct.ID] = true
		st, err := c.runtime(ctx, ct)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		cst := ContainerStat{Container: ct, Instance: ct.Labels[label.Instance], Role: ct.Labels[label.Role], Runtime: st.rt, Restarts: st.restarts}
		if ct.State == "running" {
			var s engine.Sample
			if p, ok := pre[ct.ID]; ok {
				s, err = p.s, p.err
			} else {
				s, err = c.sample(ctx, ct.ID, st.rt.Pid)
			}
			if errors.Is(err, ErrPidGone) {
				// Restarted since the last inspect: inspect again.
				c.markStale(ct.ID)
				if st, err = c.runtime(ctx, ct); err == nil {
					cst.Runtime, cst.Restarts = st.rt, st.restarts
					s, err = c.sample(ctx, ct.ID, st.rt.Pid)
				}
				if errors.Is(err, ErrNoCgroup) {
					// Still not ours: another cgroup namespace; ask the engine.
					s, err = c.Engine.StatsOnce(ctx, ct.ID)
				}
			}
			if err != nil {
				errs = append(errs, err)
			} else {
				cst.Sample, cst.Sampled = s, true
			}
			if p, ok := prev[ct.ID]; ok && p.Sampled && cst.Sampled {
				if s.CPUUsage < p.Sample.CPUUsage {
					// The counters started again: the container restarted
					// since the last collection (the event may be late).
					c.markStale(ct.ID)
					if st, err = c.runtime(ctx, ct); err == nil {
						cst.Runtime, cst.Restarts = st.rt, st.restarts
					}
				} else if dt := s.Time.Sub(p.Sample.Time); dt > 0 {
					cst.CPU = float64(s.CPUUsage-p.Sample.CPUUsage) / float64(dt)
				}
			}
		}
		stats = append(stats, cst)
	}
	c.mu.Lock()
	for id := range c.runtimes {
		if !seen[id] {
			delete(c.runtimes, id)
		}
	}
	c.mu.Unlock()
	snap := Snapshot{Engine: c.name(), Up: true, Time: start, Containers: stats}
	if c.Site != nil {
		snap.Instances, err = c.instances(stats)
		if err != nil {
			errs = append(errs, err)
		}
		snap.Volumes = c.volumes(ctx)
	}
	if c.Audit != nil {
		snap.Findings = c.findings(stats)
	}
	snap.Duration = time.Since(start)
	c.mu.Lock()
	c.snap = snap
	c.durations += snap.Duration
	c.record(snap)
	if len(errs) > 0 {
		c.errors++
	}
	c.mu.Unlock()
	return errors.Join(errs...)
}

type prefetched struct {
	s   engine.Sample
	err error
}

// apiParallel bounds the concurrent stats requests to the engine.
const apiParallel = 8

// prefetch reads the running containers' stats through the engine's API
// concurrently when cgroup files are not used.
func (c *Collector) prefetch(ctx context.Context, cs []engine.Container) map[string]prefetched {
	if c.Cgroup != nil {
		return nil
	}
	out := map[string]prefetched{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, apiParallel)
	for _, ct := range cs {
		if ct.State != "running" {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			s, err := c.Engine.StatsOnce(ctx, ct.ID)
			mu.Lock()
			out[ct.ID] = prefetched{s, err}
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

func (c *Collector) markStale(id string) {
	c.mu.Lock()
	if st := c.runtimes[id]; st != nil {
		st.stale = true
	}
	c.mu.Unlock()
}

func (c *Collector) countError() {
	c.mu.Lock()
	c.errors++
	c.mu.Unlock()
}

// runtime returns the cached inspect of a container, inspecting it again
// when it is new or an event changed it.
func (c *Collector) runtime(ctx context.Context, ct engine.Container) (*runtimeState, error) {
	c.mu.Lock()
	if c.runtimes == nil {
		c.runtimes = map[string]*runtimeState{}
	}
	st := c.runtimes[ct.ID]
	// The health in the list is fresh; a changed state needs a new inspect.
	fresh := st != nil && !st.stale && st.rt.Running == (ct.State == "running")
	c.mu.Unlock()
	if fresh {
		return st, nil
	}
	rt, err := c.Engine.Runtime(ctx, ct.ID)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if st == nil {
		st = &runtimeState{}
		c.runtimes[ct.ID] = st
	} else {
		n := st.starts
		if n == 0 && !rt.StartedAt.Equal(st.rt.StartedAt) {
			n = 1 // restarted while the event stream was down
		}
		st.restarts += n
	}
	st.rt, st.stale, st.starts = rt, false, 0
	return st, nil
}

func (c *Collector) sample(ctx context.Context, id string, pid int) (engine.Sample, error) {
	if c.Cgroup != nil {
		s, err := c.Cgroup.Read(id, pid, time.Now())
		if err == nil {
			return s, nil
		}
		if !errors.Is(err, ErrNoCgroup) || errors.Is(err, ErrPidGone) {
			return s, err
		}
		c.log().Debug("cgroup not readable, using the stats API", "container", short(id), "err", err)
	}
	return c.Engine.StatsOnce(ctx, id)
}

func (c *Collector) instances(stats []ContainerStat) ([]InstanceStat, error) {
	ins, err := c.Site.Instances()
	if err != nil {
		return nil, err
	}
	by := map[string][]engine.Container{}
	for _, s := range stats {
		by[s.Instance] = append(by[s.Instance], s.Container)
	}
	cfg, err := c.Site.Config()
	if err != nil {
		return nil, err
	}
	recs, err := c.Site.Copies()
	if err != nil {
		return nil, err
	}
	out := make([]InstanceStat, 0, len(ins))
	for _, in := range ins {
		st := instance.Status{Instance: in, Containers: by[in.Name]}
		is := InstanceStat{Instance: in, Health: st.Health()}
		d, err := c.Site.LastDrill(in.Name)
		if err != nil {
			return out, err
		}
		is.Drill = d
		for i, cc := range cfg.Backup.Copies {
			cs := CopyStat{Copy: cc.CopyName(i), MaxAge: cc.Age()}
			for _, r := range recs {
				if r.Instance == in.Name && r.Copy == cs.Copy && !r.Verified.IsZero() && r.GroupAt.After(cs.Verified) {
					cs.Verified = r.GroupAt
				}
			}
			is.Copies = append(is.Copies, cs)
		}
		out = append(out, is)
	}
	return out, nil
}

// findings joins the cached audits to the instances using each image.
func (c *Collector) findings(stats []ContainerStat) []Findings {
	seen := map[[2]string]bool{}
	var out []Findings
	for _, s := range stats {
		k := [2]string{s.Instance, s.Image}
		if s.Instance == "" || seen[k] {
			continue
		}
		seen[k] = true
		if r, ok := c.Audit.Result(s.Image); ok && r.Err == "" {
			out = append(out, Findings{Instance: s.Instance, ImageAudit: r})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Instance != out[j].Instance {
			return out[i].Instance < out[j].Instance
		}
		return out[i].Image < out[j].Image
	})
	return out
}

// volumes reads the free space of the file systems holding instance
// volumes (statfs on the engine's host; skipped for remote engines).
func (c *Collector) volumes(ctx context.Context) []VolumeStat {
	vols, err := c.Engine.Volumes(ctx, false)
	if err != nil {
		c.log().Warn("list volumes", "err", err)
		return nil
	}
	siteID, err := c.Site.ID()
	if err != nil {
		c.log().Warn("list volumes", "err", err)
		return nil
	}
	out := siteVolumes(siteID, vols)
	for i, vs := range out {
		if c.Cgroup != nil && vs.mountpoint != "" {
			var fs syscall.Statfs_t
			if syscall.Statfs(vs.mountpoint, &fs) == nil {
				out[i].FSSize = fs.Blocks * uint64(fs.Bsize)
				out[i].FSAvail = fs.Bavail * uint64(fs.Bsize)
			}
		}
	}
	return out
}

// siteVolumes keeps the instance volumes of the site siteID: other sites
// may deploy instances on the same engine, and their volumes are theirs.
func siteVolumes(siteID string, vols []engine.Volume) []VolumeStat {
	var out []VolumeStat
	for _, v := range vols {
		in := v.Labels[label.Instance]
		if in == "" || v.Labels[label.Site] != siteID {
			continue
		}
		out = append(out, VolumeStat{Name: v.Name, Instance: in, Class: v.Labels[label.Class], mountpoint: v.HostDir()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Snapshot returns the latest collection.
func (c *Collector) Snapshot() Snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.snap
}

// siteContainers keeps the containers of the site's instances.
func siteContainers(s *site.Site, cs []engine.Container) ([]engine.Container, error) {
	ins, err := s.Instances()
	if err != nil {
		return cs, err
	}
	id, err := s.ID()
	if err != nil {
		return cs, err
	}
	names := map[string]bool{}
	for _, in := range ins {
		names[in.Name] = true
	}
	out := cs[:0]
	for _, c := range cs {
		if sid := c.Labels[label.Site]; sid != "" && sid != id {
			continue // another site's instance of the same name
		}
		if names[c.Labels[label.Instance]] {
			out = append(out, c)
		}
	}
	return out, nil
}
