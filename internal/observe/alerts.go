package observe

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"
)

// Policy holds the thresholds of the built-in alert rules.
type Policy struct {
	// BackupMaxAge: an instance whose newest backup is older (or that has
	// none and is older itself) raises BackupTooOld. Default 26 h (a daily
	// backup plus slack).
	BackupMaxAge time.Duration
	// RestartLoop restarts within RestartWindow raise ContainerRestarting.
	RestartLoop   int
	RestartWindow time.Duration
	// DiskFreeRatio: a volume's file system with less free space raises
	// VolumeDiskFilling. Default 0.15.
	DiskFreeRatio float64
	// UnhealthyFor is how long an instance must stay unhealthy.
	UnhealthyFor time.Duration
}

// DefaultPolicy is used for zero fields.
var DefaultPolicy = Policy{BackupMaxAge: 26 * time.Hour, RestartLoop: 3, RestartWindow: 10 * time.Minute, DiskFreeRatio: 0.15, UnhealthyFor: 2 * time.Minute}

func (p Policy) withDefaults() Policy {
	d := DefaultPolicy
	if p.BackupMaxAge > 0 {
		d.BackupMaxAge = p.BackupMaxAge
	}
	if p.RestartLoop > 0 {
		d.RestartLoop = p.RestartLoop
	}
	if p.RestartWindow > 0 {
		d.RestartWindow = p.RestartWindow
	}
	if p.DiskFreeRatio > 0 {
		d.DiskFreeRatio = p.DiskFreeRatio
	}
	if p.UnhealthyFor > 0 {
		d.UnhealthyFor = p.UnhealthyFor
	}
	return d
}

// Alert is one rule firing (or resolved) for one subject.
type Alert struct {
	Rule     string    `json:"rule"`
	Severity string    `json:"severity"` // warning, critical
	Subject  string    `json:"subject"`  // instance, container or volume
	Instance string    `json:"instance"`
	Summary  string    `json:"summary"`
	State    string    `json:"state"` // firing, resolved
	Since    time.Time `json:"since"`
}

// Rule is a built-in alert rule: evaluated in serve on each snapshot, and
// written as the same PromQL for Prometheus.
type Rule struct {
	Name     string
	Severity string
	For      time.Duration
	Help     string
	// Expr is the PromQL expression over dockerbank's metrics.
	Expr string
	// eval returns the subjects for which the rule holds now.
	eval func(p Policy, s Snapshot, h *restartHistory) []Alert
}

// Rules returns the built-in rules for a policy.
func Rules(p Policy) []Rule {
	p = p.withDefaults()
	secs := func(d time.Duration) string { return fmt.Sprintf("%d", int(d.Seconds())) }
	return []Rule{
		{Name: "ContainerRestarting", Severity: "warning",
			Help: fmt.Sprintf("a container restarted %d times or more within %s, or the engine is restarting it", p.RestartLoop, p.RestartWindow),
			Expr: fmt.Sprintf("increase(dockerbank_container_restarts_total[%s]) >= %d", promDuration(p.RestartWindow), p.RestartLoop),
			eval: func(p Policy, s Snapshot, h *restartHistory) []Alert {
				var out []Alert
				for _, c := range s.Containers {
					n := h.increase(c.ID, s.Time.Add(-p.RestartWindow))
					if c.State == "restarting" || n >= float64(p.RestartLoop) {
						out = append(out, Alert{Subject: c.Name, Instance: c.Instance, Summary: fmt.Sprintf("%s restarted %.0f times in %s (state %s)", c.Name, n, p.RestartWindow, c.State)})
					}
				}
				return out
			}},
		{Name: "InstanceUnhealthy", Severity: "critical", For: p.UnhealthyFor,
			Help: "a container of the instance fails its health check",
			Expr: `dockerbank_instance_health{state="unhealthy"} == 1`,
			eval: func(p Policy, s Snapshot, _ *restartHistory) []Alert {
				var out []Alert
				for _, in := range s.Instances {
					if in.Health == "unhealthy" {
						out = append(out, Alert{Subject: in.Instance.Name, Instance: in.Instance.Name, Summary: "instance " + in.Instance.Name + " is unhealthy"})
					}
				}
				return out
			}},
		{Name: "ContainerHealGivenUp", Severity: "critical",
			Help: "serve restarted (or recreated) a container that stays unhealthy as often as its policy allows, and gave up",
			Expr: "dockerbank_container_heal_given_up == 1",
			eval: func(_ Policy, s Snapshot, _ *restartHistory) []Alert {
				var out []Alert
				for _, g := range s.HealGivenUp {
					out = append(out, Alert{Subject: g.Instance + "/" + g.Service, Instance: g.Instance,
						Summary: fmt.Sprintf("healing of %s/%s given up after %d attempts (%s): see `dockerbank logs %s` and `dockerbank journal`", g.Instance, g.Service, g.Attempts, g.Reason, g.Instance)})
				}
				return out
			}},
		{Name: "BackupTooOld", Severity: "critical",
			Help: "the newest backup of the instance is older than " + p.BackupMaxAge.String() + " (or it has none)",
			Expr: fmt.Sprintf("time() - dockerbank_backup_last_success_timestamp_seconds > %s or ((time() - dockerbank_instance_created_timestamp_seconds > %s) unless on(instance) dockerbank_backup_last_success_timestamp_seconds)", secs(p.BackupMaxAge), secs(p.BackupMaxAge)),
			eval: func(p Policy, s Snapshot, _ *restartHistory) []Alert {
				var out []Alert
				for _, in := range s.Instances {
					i := in.Instance
					switch {
					case !i.LastBackup.IsZero() && s.Time.Sub(i.LastBackup) > p.BackupMaxAge:
						out = append(out, Alert{Subject: i.Name, Instance: i.Name, Summary: fmt.Sprintf("last backup of %s is %s old", i.Name, s.Time.Sub(i.LastBackup).Round(time.Minute))})
					case i.LastBackup.IsZero() && s.Time.Sub(i.Created) > p.BackupMaxAge:
						out = append(out, Alert{Subject: i.Name, Instance: i.Name, Summary: fmt.Sprintf("%s has never been backed up (created %s ago)", i.Name, s.Time.Sub(i.Created).Round(time.Minute))})
					}
				}
				return out
			}},
		{Name: "OffsiteCopyTooOld", Severity: "critical",
			Help: "the newest backup group verified on an off-site copy is older than that copy's maxAge (or none is, though the instance has a backup older than that)",
			Expr: "dockerbank_backup_copy_age_seconds > dockerbank_backup_copy_max_age_seconds",
			eval: func(_ Policy, s Snapshot, _ *restartHistory) []Alert {
				var out []Alert
				for _, in := range s.Instances {
					i := in.Instance
					for _, cs := range in.Copies {
						subject := i.Name + "/" + cs.Copy
						switch {
						case !cs.Verified.IsZero() && s.Time.Sub(cs.Verified) > cs.MaxAge:
							out = append(out, Alert{Subject: subject, Instance: i.Name, Summary: fmt.Sprintf("off-site copy %s of %s lags: its newest verified group is %s old (at most %s); run `dockerbank backup copy %s`", cs.Copy, i.Name, s.Time.Sub(cs.Verified).Round(time.Minute), cs.MaxAge, i.Name)})
						case cs.Verified.IsZero() && !i.LastBackup.IsZero() && s.Time.Sub(i.LastBackup) > cs.MaxAge:
							out = append(out, Alert{Subject: subject, Instance: i.Name, Summary: fmt.Sprintf("%s has no verified group on off-site copy %s, and its last backup is %s old; run `dockerbank backup copy %s`", i.Name, cs.Copy, s.Time.Sub(i.LastBackup).Round(time.Minute), i.Name)})
						}
					}
				}
				return out
			}},
		{Name: "RestoreDrillFailed", Severity: "critical",
			Help: "the newest restore drill of the instance failed (its backups are not proven restorable)",
			Expr: "dockerbank_drill_last_success == 0",
			eval: func(_ Policy, s Snapshot, _ *restartHistory) []Alert {
				var out []Alert
				for _, in := range s.Instances {
					if d := in.Drill; d != nil && !d.OK {
						out = append(out, Alert{Subject: in.Instance.Name, Instance: in.Instance.Name,
							Summary: fmt.Sprintf("restore drill of %s failed at %s: %s", in.Instance.Name, d.Time.UTC().Format("2006-01-02 15:04Z"), d.Detail)})
					}
				}
				return out
			}},
		{Name: "VolumeDiskFilling", Severity: "warning", For: 5 * time.Minute,
			Help: fmt.Sprintf("the file system holding an instance volume has less than %.0f%% free", p.DiskFreeRatio*100),
			Expr: fmt.Sprintf("dockerbank_volume_fs_avail_bytes / dockerbank_volume_fs_size_bytes < %g", p.DiskFreeRatio),
			eval: func(p Policy, s Snapshot, _ *restartHistory) []Alert {
				var out []Alert
				for _, v := range s.Volumes {
					if v.FSSize > 0 && float64(v.FSAvail)/float64(v.FSSize) < p.DiskFreeRatio {
						out = append(out, Alert{Subject: v.Name, Instance: v.Instance, Summary: fmt.Sprintf("volume %s: %.1f%% free on its file system", v.Name, 100*float64(v.FSAvail)/float64(v.FSSize))})
					}
				}
				return out
			}},
		{Name: "ImageHighFindings", Severity: "warning",
			Help: "an image the instance runs has high or critical audit findings (see `dockerbank audit IMAGE`)",
			Expr: `dockerbank_audit_findings{severity=~"high|critical"} > 0`,
			eval: func(_ Policy, s Snapshot, _ *restartHistory) []Alert {
				var out []Alert
				for _, f := range s.Findings {
					if n := f.High(); n > 0 {
						out = append(out, Alert{Subject: f.Image + "@" + f.Instance, Instance: f.Instance,
							Summary: fmt.Sprintf("image %s of %s has %d high or critical audit findings (dockerbank audit %s)", f.Image, f.Instance, n, f.Image)})
					}
				}
				return out
			}},
	}
}

func promDuration(d time.Duration) string {
	if d%time.Hour == 0 {
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	if d%time.Minute == 0 {
		return fmt.Sprintf("%dm", int(d.Minutes()))
	}
	return fmt.Sprintf("%ds", int(d.Seconds()))
}

// PrometheusRules writes the built-in rules as a Prometheus rules file.
func PrometheusRules(p Policy) string {
	var b strings.Builder
	b.WriteString("# Generated by `dockerbank alerts rules --prometheus`: the rules dockerbank serve\n# evaluates itself, over the metrics of its /metrics endpoint.\ngroups:\n  - name: dockerbank\n    rules:\n")
	for _, r := range Rules(p) {
		fmt.Fprintf(&b, "      - alert: %s\n        expr: %s\n", r.Name, yamlQuote(r.Expr))
		if r.For > 0 {
			fmt.Fprintf(&b, "        for: %s\n", promDuration(r.For))
		}
		fmt.Fprintf(&b, "        labels:\n          severity: %s\n        annotations:\n          summary: %s\n", r.Severity, yamlQuote(r.Help))
	}
	return b.String()
}

func yamlQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// restartHistory remembers each container's restart counter over time.
type restartHistory struct {
	pts map[string][]restartPoint
}

type restartPoint struct {
	t time.Time
	n float64
}

func (h *restartHistory) add(s Snapshot, keep time.Duration) {
	if h.pts == nil {
		h.pts = map[string][]restartPoint{}
	}
	seen := map[string]bool{}
	for _, c := range s.Containers {
		seen[c.ID] = true
		pts := append(h.pts[c.ID], restartPoint{s.Time, c.Restarts})
		for len(pts) > 1 && pts[1].t.Before(s.Time.Add(-keep)) {
			pts = pts[1:]
		}
		h.pts[c.ID] = pts
	}
	for id := range h.pts {
		if !seen[id] {
			delete(h.pts, id)
		}
	}
}

// increase is the counter's growth since the newest point at or before from
// (or its first point).
func (h *restartHistory) increase(id string, from time.Time) float64 {
	pts := h.pts[id]
	if len(pts) == 0 {
		return 0
	}
	base := pts[0]
	for _, p := range pts {
		if p.t.After(from) {
			break
		}
		base = p
	}
	return pts[len(pts)-1].n - base.n
}

// Notifier sends alert changes somewhere (a webhook, e-mail).
type Notifier interface {
	Notify(ctx context.Context, alerts []Alert) error
}

// Evaluator runs the rules on each snapshot and notifies on changes.
type Evaluator struct {
	Policy    Policy
	Notifiers []Notifier
	Log       *slog.Logger

	mu      sync.Mutex
	pending map[string]*Alert // key rule/subject: condition true since Since
	firing  map[string]*Alert
	hist    restartHistory
}

// Eval evaluates every rule on a snapshot and sends the alerts that
// started firing or resolved. It returns those changes.
func (e *Evaluator) Eval(ctx context.Context, s Snapshot) []Alert {
	p := e.Policy.withDefaults()
	e.mu.Lock()
	if e.pending == nil {
		e.pending, e.firing = map[string]*Alert{}, map[string]*Alert{}
	}
	e.hist.add(s, p.RestartWindow+time.Minute)
	var changes []Alert
	holds := map[string]bool{}
	for _, r := range Rules(p) {
		for _, a := range r.eval(p, s, &e.hist) {
			a.Rule, a.Severity = r.Name, r.Severity
			key := r.Name + "/" + a.Subject
			holds[key] = true
			if f := e.firing[key]; f != nil {
				f.Summary = a.Summary
				continue
			}
			pa := e.pending[key]
			if pa == nil {
				a.Since = s.Time
				pa = &a
				e.pending[key] = pa
			}
			pa.Summary = a.Summary
			if s.Time.Sub(pa.Since) >= r.For {
				pa.State = "firing"
				e.firing[key] = pa
				delete(e.pending, key)
				changes = append(changes, *pa)
			}
		}
	}
	for key, a := range e.firing {
		if !holds[key] {
			a.State = "resolved"
			changes = append(changes, *a)
			delete(e.firing, key)
		}
	}
	for key := range e.pending {
		if !holds[key] {
			delete(e.pending, key)
		}
	}
	e.mu.Unlock()
	if len(changes) > 0 {
		for _, n := range e.Notifiers {
			if err := n.Notify(ctx, changes); err != nil && e.Log != nil {
				e.Log.Warn("send alerts", "err", err)
			}
		}
	}
	return changes
}

// Firing returns the alerts firing now, sorted.
func (e *Evaluator) Firing() []Alert {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Alert, 0, len(e.firing))
	for _, a := range e.firing {
		out = append(out, *a)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Rule != out[j].Rule {
			return out[i].Rule < out[j].Rule
		}
		return out[i].Subject < out[j].Subject
	})
	return out
}
