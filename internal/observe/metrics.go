package observe

import (
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Base labels of every container series: cAdvisor's (id = cgroup path,
// name, image) plus the dockerbank instance, compose service and role.
// Prometheus renames a scraped "instance" label to exported_instance unless
// the scrape job sets honor_labels: true (see docs).
// The engine label names the Docker endpoint (serve --engine NAME=...).
// The replica label numbers the replicas of a service scaled by `dockerbank
// scale` (1, 2, ...); it is empty on every other container.
var containerLabels = []string{"id", "name", "image", "instance", "service", "replica", "role", "engine"}

func desc(name, help string, extra ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, append(append([]string{}, containerLabels...), extra...), nil)
}

var (
	descCPU        = desc("container_cpu_usage_seconds_total", "Cumulative cpu time consumed in seconds.", "cpu")
	descCPUUser    = desc("container_cpu_user_seconds_total", "Cumulative user cpu time consumed in seconds.")
	descCPUSystem  = desc("container_cpu_system_seconds_total", "Cumulative system cpu time consumed in seconds.")
	descMemUsage   = desc("container_memory_usage_bytes", "Current memory usage in bytes, including all memory regardless of when it was accessed.")
	descMemWS      = desc("container_memory_working_set_bytes", "Current working set in bytes (usage minus inactive file pages).")
	descMemRSS     = desc("container_memory_rss", "Size of RSS in bytes.")
	descMemCache   = desc("container_memory_cache", "Number of bytes of page cache memory.")
	descMemFail    = desc("container_memory_failcnt", "Number of memory usage hits limits.")
	descMemLimit   = desc("container_spec_memory_limit_bytes", "Memory limit for the container.")
	descRx         = desc("container_network_receive_bytes_total", "Cumulative count of bytes received.", "interface")
	descTx         = desc("container_network_transmit_bytes_total", "Cumulative count of bytes transmitted.", "interface")
	descRxErr      = desc("container_network_receive_errors_total", "Cumulative count of errors encountered while receiving.", "interface")
	descTxErr      = desc("container_network_transmit_errors_total", "Cumulative count of errors encountered while transmitting.", "interface")
	descFSRead     = desc("container_fs_reads_bytes_total", "Cumulative count of bytes read.")
	descFSWrite    = desc("container_fs_writes_bytes_total", "Cumulative count of bytes written.")
	descLastSeen   = desc("container_last_seen", "Last time a container was seen by the exporter.")
	descStart      = desc("container_start_time_seconds", "Start time of the container since unix epoch in seconds.")
	descHealth     = desc("container_health_state", "The result of the container's health check (1 healthy, 0 starting or unhealthy, -1 no health check).")
	descTasks      = desc("container_processes", "Number of processes running inside the container.")
	descRestarts   = prometheus.NewDesc("dockerbank_container_restarts_total", "Restarts of the container seen since serve started (its first start is not counted).", []string{"instance", "service", "name", "engine"}, nil)
	descInstHealth = prometheus.NewDesc("dockerbank_instance_health", "Health of an instance: 1 for its current state, 0 for the others.", []string{"instance", "state"}, nil)
	descInstInfo   = prometheus.NewDesc("dockerbank_instance_info", "Entry and version of an instance.", []string{"instance", "entry", "version", "desired_state"}, nil)
	descCreated    = prometheus.NewDesc("dockerbank_instance_created_timestamp_seconds", "Time the instance was deployed.", []string{"instance"}, nil)
	descBackupLast = prometheus.NewDesc("dockerbank_backup_last_success_timestamp_seconds", "Time of the instance's newest complete backup.", []string{"instance"}, nil)
	descBackupSize = prometheus.NewDesc("dockerbank_backup_last_size_bytes", "Bytes stored by the instance's newest complete backup group.", []string{"instance"}, nil)
	descBackupDur  = prometheus.NewDesc("dockerbank_backup_last_duration_seconds", "Duration of the instance's newest complete backup.", []string{"instance"}, nil)
	descDrillOK    = prometheus.NewDesc("dockerbank_drill_last_success", "1 when the instance's newest restore drill succeeded, 0 when it failed.", []string{"instance"}, nil)
	descDrillTime  = prometheus.NewDesc("dockerbank_drill_last_timestamp_seconds", "Time of the instance's newest restore drill.", []string{"instance"}, nil)
	descCopyAge    = prometheus.NewDesc("dockerbank_backup_copy_age_seconds", "Age of the newest backup group verified on an off-site copy (absent while none is).", []string{"instance", "copy"}, nil)
	descCopyMax    = prometheus.NewDesc("dockerbank_backup_copy_max_age_seconds", "How old the newest verified off-site copy may be (site.yaml backup.copies maxAge).", []string{"instance", "copy"}, nil)
	descFindings   = prometheus.NewDesc("dockerbank_audit_findings", "Audit findings of an image an instance runs, by severity (suppressed findings excluded).", []string{"instance", "image", "severity"}, nil)
	descEngineUp   = prometheus.NewDesc("dockerbank_engine_up", "1 when the engine answered the last collection, 0 otherwise.", []string{"engine"}, nil)
	descVolSize    = prometheus.NewDesc("dockerbank_volume_fs_size_bytes", "Size of the file system holding the volume.", []string{"instance", "volume", "class"}, nil)
	descVolAvail   = prometheus.NewDesc("dockerbank_volume_fs_avail_bytes", "Free bytes of the file system holding the volume.", []string{"instance", "volume", "class"}, nil)
	descCollectDur = prometheus.NewDesc("dockerbank_collector_duration_seconds", "Duration of the last collection.", []string{"engine"}, nil)
	descCollectErr = prometheus.NewDesc("dockerbank_collector_errors_total", "Collections that had an error.", []string{"engine"}, nil)
)

// HealthStates are the values of dockerbank_instance_health's state label.
var HealthStates = []string{"healthy", "unhealthy", "starting", "running", "partial", "stopped", "missing"}

func describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descCPU, descCPUUser, descCPUSystem, descMemUsage, descMemWS, descMemRSS,
		descMemCache, descMemFail, descMemLimit, descRx, descTx, descRxErr, descTxErr, descFSRead, descFSWrite,
		descLastSeen, descStart, descHealth, descTasks, descRestarts, descInstHealth, descInstInfo, descCreated, descBackupLast,
		descBackupSize, descBackupDur, descDrillOK, descDrillTime, descCopyAge, descCopyMax, descFindings, descEngineUp,
		descVolSize, descVolAvail, descCollectDur, descCollectErr} {
		ch <- d
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) { describe(ch) }

// Collectors are the collectors of several engines, registered as one
// (their series share names and differ by the engine label).
type Collectors []*Collector

// Describe implements prometheus.Collector.
func (cs Collectors) Describe(ch chan<- *prometheus.Desc) { describe(ch) }

// Collect implements prometheus.Collector.
func (cs Collectors) Collect(ch chan<- prometheus.Metric) {
	for _, c := range cs {
		c.Collect(ch)
	}
}

// Collect implements prometheus.Collector: it reports the latest snapshot
// and does no I/O, so a scrape costs the engine nothing.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	snap := c.Snapshot()
	c.mu.Lock()
	errs := c.errors
	c.mu.Unlock()
	gauge, counter := prometheus.GaugeValue, prometheus.CounterValue
	eng := c.name()
	up := 0.0
	if snap.Up {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(descEngineUp, gauge, up, eng)
	for _, ct := range snap.Containers {
		lv := []string{cgroupID(ct), "/" + ct.Name, ct.Image, ct.Instance, ct.Service, replicaLabel(ct.Replica), ct.Role, eng}
		m := func(d *prometheus.Desc, t prometheus.ValueType, v float64, extra ...string) {
			ch <- prometheus.MustNewConstMetric(d, t, v, append(append([]string{}, lv...), extra...)...)
		}
		m(descLastSeen, gauge, float64(snap.Time.Unix()))
		if !ct.Runtime.StartedAt.IsZero() {
			m(descStart, gauge, float64(ct.Runtime.StartedAt.Unix()))
		}
		m(descHealth, gauge, healthValue(ct.Health))
		ch <- prometheus.MustNewConstMetric(descRestarts, counter, ct.Restarts, ct.Instance, ct.Service, ct.Name, eng)
		if ct.Runtime.MemLimit > 0 {
			m(descMemLimit, gauge, float64(ct.Runtime.MemLimit))
		}
		if !ct.Sampled {
			continue
		}
		s := ct.Sample
		m(descCPU, counter, s.CPUUsage.Seconds(), "total")
		m(descCPUUser, counter, s.CPUUser.Seconds())
		m(descCPUSystem, counter, s.CPUSystem.Seconds())
		m(descMemUsage, gauge, float64(s.MemUsage))
		m(descMemWS, gauge, float64(s.MemWorkingSet))
		m(descMemRSS, gauge, float64(s.MemRSS))
		m(descMemCache, gauge, float64(s.MemCache))
		m(descMemFail, counter, float64(s.MemFailcnt))
		ifaces := make([]string, 0, len(s.Net))
		for name := range s.Net {
			ifaces = append(ifaces, name)
		}
		sort.Strings(ifaces)
		for _, name := range ifaces {
			n := s.Net[name]
			m(descRx, counter, float64(n.RxBytes), name)
			m(descTx, counter, float64(n.TxBytes), name)
			m(descRxErr, counter, float64(n.RxErrors), name)
			m(descTxErr, counter, float64(n.TxErrors), name)
		}
		m(descFSRead, counter, float64(s.FSReadBytes))
		m(descFSWrite, counter, float64(s.FSWriteBytes))
		m(descTasks, gauge, float64(s.Pids))
	}
	for _, in := range snap.Instances {
		for _, st := range HealthStates {
			v := 0.0
			if st == in.Health {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(descInstHealth, gauge, v, in.Instance.Name, st)
		}
		ch <- prometheus.MustNewConstMetric(descInstInfo, gauge, 1, in.Instance.Name, in.Instance.Entry, in.Instance.Version, in.Instance.State)
		ch <- prometheus.MustNewConstMetric(descCreated, gauge, float64(in.Instance.Created.Unix()), in.Instance.Name)
		if !in.Instance.LastBackup.IsZero() {
			ch <- prometheus.MustNewConstMetric(descBackupLast, gauge, float64(in.Instance.LastBackup.Unix()), in.Instance.Name)
			if in.Instance.LastBackupSeconds > 0 { // recorded since dockerbank records them
				ch <- prometheus.MustNewConstMetric(descBackupSize, gauge, float64(in.Instance.LastBackupBytes), in.Instance.Name)
				ch <- prometheus.MustNewConstMetric(descBackupDur, gauge, in.Instance.LastBackupSeconds, in.Instance.Name)
			}
		}
		if d := in.Drill; d != nil {
			ok := 0.0
			if d.OK {
				ok = 1
			}
			ch <- prometheus.MustNewConstMetric(descDrillOK, gauge, ok, in.Instance.Name)
			ch <- prometheus.MustNewConstMetric(descDrillTime, gauge, float64(d.Time.Unix()), in.Instance.Name)
		}
		for _, cs := range in.Copies {
			ch <- prometheus.MustNewConstMetric(descCopyMax, gauge, cs.MaxAge.Seconds(), in.Instance.Name, cs.Copy)
			if !cs.Verified.IsZero() {
				ch <- prometheus.MustNewConstMetric(descCopyAge, gauge, snap.Time.Sub(cs.Verified).Seconds(), in.Instance.Name, cs.Copy)
			}
		}
	}
	for _, f := range snap.Findings {
		for _, sev := range Severities {
			ch <- prometheus.MustNewConstMetric(descFindings, gauge, float64(f.Counts[sev]), f.Instance, f.Image, sev)
		}
	}
	for _, v := range snap.Volumes {
		if v.FSSize == 0 {
			continue
		}
		ch <- prometheus.MustNewConstMetric(descVolSize, gauge, float64(v.FSSize), v.Instance, v.Name, v.Class)
		ch <- prometheus.MustNewConstMetric(descVolAvail, gauge, float64(v.FSAvail), v.Instance, v.Name, v.Class)
	}
	ch <- prometheus.MustNewConstMetric(descCollectDur, gauge, snap.Duration.Seconds(), eng)
	ch <- prometheus.MustNewConstMetric(descCollectErr, counter, errs, eng)
}

// cgroupID is cAdvisor's id label: the container's cgroup path.
func cgroupID(ct ContainerStat) string {
	parent := ct.Runtime.CgroupParent
	if parent == "" {
		parent = "/docker"
	}
	return strings.TrimSuffix(parent, "/") + "/" + ct.ID
}

func healthValue(h string) float64 {
	switch h {
	case "healthy":
		return 1
	case "":
		return -1
	}
	return 0
}

// Registry returns a registry of its own (not the global default) holding
// the collector and the given extra collectors.
func Registry(cs ...prometheus.Collector) *prometheus.Registry {
	r := prometheus.NewRegistry()
	for _, c := range cs {
		r.MustRegister(c)
	}
	return r
}

// MetricsHandler serves a registry in the Prometheus exposition format.
func MetricsHandler(r *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(r, promhttp.HandlerOpts{Registry: r})
}

// replicaLabel is the value of the replica label: the number, or "".
func replicaLabel(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}
