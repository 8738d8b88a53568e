package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// Sample is one reading of a container's resource counters. Counters are
// cumulative since the container started.
type Sample struct {
	ID   string    `json:"id"`
	Time time.Time `json:"time"`
	// Source is "cgroup" (read from the host's cgroup files) or "api" (the
	// engine's stats endpoint).
	Source string `json:"source"`

	CPUUsage  time.Duration `json:"cpuUsage"` // user + system
	CPUUser   time.Duration `json:"cpuUser"`
	CPUSystem time.Duration `json:"cpuSystem"`

	MemUsage      uint64 `json:"memUsage"`      // includes page cache
	MemWorkingSet uint64 `json:"memWorkingSet"` // usage - inactive_file, as cAdvisor and docker stats
	MemRSS        uint64 `json:"memRSS"`
	MemCache      uint64 `json:"memCache"`
	MemLimit      uint64 `json:"memLimit"` // 0: no limit
	MemFailcnt    uint64 `json:"memFailcnt"`

	// Net holds the counters of each network interface but lo.
	Net          map[string]NetCounters `json:"net,omitempty"`
	FSReadBytes  uint64                 `json:"fsReadBytes"`
	FSWriteBytes uint64                 `json:"fsWriteBytes"`
	Pids         uint64                 `json:"pids"`
}

// NetCounters are one interface's cumulative counters.
type NetCounters struct {
	RxBytes, TxBytes, RxErrors, TxErrors, RxPackets, TxPackets uint64
}

// RxTx sums the received and transmitted bytes of every interface.
func (s Sample) RxTx() (rx, tx uint64) {
	for _, n := range s.Net {
		rx += n.RxBytes
		tx += n.TxBytes
	}
	return rx, tx
}

// StatsOnce asks the engine for one reading of a container's counters
// (one-shot: the engine does not wait for a second sample).
func (e *Engine) StatsOnce(ctx context.Context, id string) (Sample, error) {
	res, err := e.api.ContainerStats(ctx, id, client.ContainerStatsOptions{Stream: false})
	if err != nil {
		return Sample{}, fmt.Errorf("read stats of %s: %w", id, mapErr(err))
	}
	defer res.Body.Close()
	var s container.StatsResponse
	if err := json.NewDecoder(res.Body).Decode(&s); err != nil {
		return Sample{}, fmt.Errorf("decode stats of %s: %w", id, err)
	}
	return sampleFromAPI(id, s), nil
}

// sampleFromAPI converts the stats endpoint's reading; its CPU times are
// nanoseconds.
func sampleFromAPI(id string, s container.StatsResponse) Sample {
	out := Sample{ID: id, Time: s.Read, Source: "api"}
	if out.Time.IsZero() {
		out.Time = time.Now()
	}
	out.CPUUsage = time.Duration(s.CPUStats.CPUUsage.TotalUsage)
	out.CPUUser = time.Duration(s.CPUStats.CPUUsage.UsageInUsermode)
	out.CPUSystem = time.Duration(s.CPUStats.CPUUsage.UsageInKernelmode)
	m := s.MemoryStats
	out.MemUsage = m.Usage
	out.MemLimit = m.Limit
	out.MemFailcnt = m.Failcnt
	// cgroup v1 names the hierarchical values total_*; v2 has no prefix.
	inactive, ok := m.Stats["total_inactive_file"]
	if !ok {
		inactive = m.Stats["inactive_file"]
	}
	if inactive < m.Usage {
		out.MemWorkingSet = m.Usage - inactive
	}
	out.MemRSS = firstOf(m.Stats, "total_rss", "anon")
	out.MemCache = firstOf(m.Stats, "total_cache", "file")
	for name, n := range s.Networks {
		if name == "lo" {
			continue
		}
		if out.Net == nil {
			out.Net = map[string]NetCounters{}
		}
		out.Net[name] = NetCounters{RxBytes: n.RxBytes, TxBytes: n.TxBytes, RxErrors: n.RxErrors, TxErrors: n.TxErrors, RxPackets: n.RxPackets, TxPackets: n.TxPackets}
	}
	for _, b := range s.BlkioStats.IoServiceBytesRecursive {
		switch strings.ToLower(b.Op) {
		case "read":
			out.FSReadBytes += b.Value
		case "write":
			out.FSWriteBytes += b.Value
		}
	}
	out.Pids = s.PidsStats.Current
	return out
}

func firstOf(m map[string]uint64, keys ...string) uint64 {
	for _, k := range keys {
		if v, ok := m[k]; ok {
			return v
		}
	}
	return 0
}

// Runtime is what the metrics collector needs from a container's inspect:
// where its cgroup and network namespace are, and its lifecycle.
type Runtime struct {
	ID           string
	Pid          int
	StartedAt    time.Time
	RestartCount int
	Running      bool
	Health       string // healthy, unhealthy, starting, or ""
	MemLimit     int64
	CPUQuota     int64
	CPUPeriod    int64
	CgroupParent string
}

// Runtime inspects a container for the collector.
func (e *Engine) Runtime(ctx context.Context, id string) (Runtime, error) {
	c, err := e.Inspect(ctx, id)
	if err != nil {
		return Runtime{}, err
	}
	r := Runtime{ID: c.ID, RestartCount: c.RestartCount}
	if c.State != nil {
		r.Pid = c.State.Pid
		r.Running = c.State.Running
		r.StartedAt, _ = time.Parse(time.RFC3339Nano, c.State.StartedAt)
		if c.State.Health != nil {
			r.Health = string(c.State.Health.Status)
		}
	}
	if c.HostConfig != nil {
		r.MemLimit = c.HostConfig.Memory
		r.CPUQuota = c.HostConfig.CPUQuota
		r.CPUPeriod = c.HostConfig.CPUPeriod
		r.CgroupParent = c.HostConfig.CgroupParent
	}
	return r, nil
}

// IsLocal says whether the engine runs on this host (a unix socket), so
// that its containers' cgroup and /proc files can be read directly.
func (e *Engine) IsLocal() bool {
	return strings.HasPrefix(e.Endpoint, "unix://") || strings.HasPrefix(e.Endpoint, "/")
}

// Rx is the bytes received on every interface.
func (s Sample) Rx() uint64 { rx, _ := s.RxTx(); return rx }

// Tx is the bytes transmitted on every interface.
func (s Sample) Tx() uint64 { _, tx := s.RxTx(); return tx }
