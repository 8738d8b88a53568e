package observe

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/dockerbank/dockerbank/internal/engine"
)

// Cgroup reads a container's counters from the host's cgroup files (v1 or
// v2) and its network counters from /proc/<pid>/net/dev, the way cAdvisor
// does, so that collecting costs the engine nothing.
type Cgroup struct {
	Root string // cgroup mount, normally /sys/fs/cgroup
	Proc string // proc mount, normally /proc
}

// HostCgroup is the reader for the host this process runs on.
func HostCgroup() *Cgroup { return &Cgroup{Root: "/sys/fs/cgroup", Proc: "/proc"} }

// ErrNoCgroup means the container's cgroup files are not readable here
// (another host, another cgroup namespace, no permission).
var ErrNoCgroup = errors.New("cgroup files not readable")

// ErrPidGone means the process is no longer the container's: the
// container restarted (or stopped) since it was inspected.
var ErrPidGone = fmt.Errorf("%w: process is not the container's", ErrNoCgroup)

// userHZ is the clock tick of cpuacct.stat; Linux fixes it at 100 for
// user space.
const userHZ = 100

// V2 says whether the unified hierarchy (cgroup v2) is mounted at Root.
func (c *Cgroup) V2() bool {
	_, err := os.Stat(filepath.Join(c.Root, "cgroup.controllers"))
	return err == nil
}

// Paths returns the cgroup path of each controller of a process, from
// /proc/<pid>/cgroup; the unified hierarchy is under key "".
func (c *Cgroup) Paths(pid int) (map[string]string, error) {
	f, err := os.Open(filepath.Join(c.Proc, strconv.Itoa(pid), "cgroup"))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoCgroup, err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[1] == "" {
			out[""] = parts[2]
			continue
		}
		for _, ctrl := range strings.Split(parts[1], ",") {
			out[ctrl] = parts[2]
		}
	}
	return out, sc.Err()
}

// Read samples the container with the given ID whose main process is pid.
func (c *Cgroup) Read(id string, pid int, now time.Time) (engine.Sample, error) {
	s := engine.Sample{ID: id, Time: now, Source: "cgroup"}
	if pid <= 0 {
		return s, fmt.Errorf("%w: container %s has no process", ErrNoCgroup, short(id))
	}
	paths, err := c.Paths(pid)
	if err != nil {
		return s, fmt.Errorf("%w (%v)", ErrPidGone, err)
	}
	owned := false
	for _, p := range paths {
		owned = owned || strings.Contains(p, id)
	}
	if !owned {
		return s, ErrPidGone
	}
	if c.V2() {
		err = c.readV2(&s, filepath.Join(c.Root, paths[""]))
	} else {
		err = c.readV1(&s, paths)
	}
	if err != nil {
		return s, err
	}
	s.Net, err = readNetDev(filepath.Join(c.Proc, strconv.Itoa(pid), "net", "dev"))
	if err != nil {
		return s, fmt.Errorf("%w: %v", ErrNoCgroup, err)
	}
	return s, nil
}

func (c *Cgroup) readV1(s *engine.Sample, paths map[string]string) error {
	dir := func(ctrl string) string { return filepath.Join(c.Root, ctrl, paths[ctrl]) }
	usage, err := readUint(filepath.Join(dir("cpuacct"), "cpuacct.usage"))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNoCgroup, err)
	}
	s.CPUUsage = time.Duration(usage)
	if kv, err := readKV(filepath.Join(dir("cpuacct"), "cpuacct.stat")); err == nil {
		s.CPUUser = time.Duration(kv["user"]) * time.Second / userHZ
		s.CPUSystem = time.Duration(kv["system"]) * time.Second / userHZ
	}
	mem := dir("memory")
	if s.MemUsage, err = readUint(filepath.Join(mem, "memory.usage_in_bytes")); err != nil {
		return fmt.Errorf("%w: %v", ErrNoCgroup, err)
	}
	stat, err := readKV(filepath.Join(mem, "memory.stat"))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNoCgroup, err)
	}
	s.MemWorkingSet = workingSet(s.MemUsage, stat["total_inactive_file"])
	s.MemRSS, s.MemCache = stat["total_rss"], stat["total_cache"]
	if limit, err := readUint(filepath.Join(mem, "memory.limit_in_bytes")); err == nil && limit < 1<<62 {
		s.MemLimit = limit
	}
	s.MemFailcnt, _ = readUint(filepath.Join(mem, "memory.failcnt"))
	blk := dir("blkio")
	for _, name := range []string{"blkio.throttle.io_service_bytes_recursive", "blkio.throttle.io_service_bytes"} {
		if r, w, err := readBlkio(filepath.Join(blk, name)); err == nil {
			s.FSReadBytes, s.FSWriteBytes = r, w
			break
		}
	}
	s.Pids, _ = readUint(filepath.Join(dir("pids"), "pids.current"))
	return nil
}

func (c *Cgroup) readV2(s *engine.Sample, dir string) error {
	cpu, err := readKV(filepath.Join(dir, "cpu.stat"))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNoCgroup, err)
	}
	s.CPUUsage = time.Duration(cpu["usage_usec"]) * time.Microsecond
	s.CPUUser = time.Duration(cpu["user_usec"]) * time.Microsecond
	s.CPUSystem = time.Duration(cpu["system_usec"]) * time.Microsecond
	if s.MemUsage, err = readUint(filepath.Join(dir, "memory.current")); err != nil {
		return fmt.Errorf("%w: %v", ErrNoCgroup, err)
	}
	stat, err := readKV(filepath.Join(dir, "memory.stat"))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNoCgroup, err)
	}
	s.MemWorkingSet = workingSet(s.MemUsage, stat["inactive_file"])
	s.MemRSS, s.MemCache = stat["anon"], stat["file"]
	if limit, err := readUint(filepath.Join(dir, "memory.max")); err == nil {
		s.MemLimit = limit // "max" does not parse: no limit
	}
	if ev, err := readKV(filepath.Join(dir, "memory.events")); err == nil {
		s.MemFailcnt = ev["max"]
	}
	if data, err := os.ReadFile(filepath.Join(dir, "io.stat")); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			for _, f := range strings.Fields(line) {
				k, v, _ := strings.Cut(f, "=")
				n, _ := strconv.ParseUint(v, 10, 64)
				switch k {
				case "rbytes":
					s.FSReadBytes += n
				case "wbytes":
					s.FSWriteBytes += n
				}
			}
		}
	}
	s.Pids, _ = readUint(filepath.Join(dir, "pids.current"))
	return nil
}

// workingSet is usage minus inactive file pages, as cAdvisor
// (google/cadvisor#2582) and `docker stats` compute it.
func workingSet(usage, inactiveFile uint64) uint64 {
	if inactiveFile < usage {
		return usage - inactiveFile
	}
	return 0
}

func readUint(path string) (uint64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64)
}

// readKV reads "key value" lines.
func readKV(path string) (map[string]uint64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]uint64{}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64); err == nil {
			out[k] = n
		}
	}
	return out, nil
}

// readBlkio sums the Read and Write lines ("8:0 Read 4096") of a v1 blkio file.
func readBlkio(path string) (r, w uint64, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		n, _ := strconv.ParseUint(f[2], 10, 64)
		switch f[1] {
		case "Read":
			r += n
		case "Write":
			w += n
		}
	}
	return r, w, nil
}

// readNetDev reads /proc/<pid>/net/dev: the counters of the container's
// network namespace, without lo.
func readNetDev(path string) (map[string]engine.NetCounters, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]engine.NetCounters{}
	for _, line := range strings.Split(string(data), "\n") {
		name, rest, ok := strings.Cut(line, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "lo" {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 16 {
			continue
		}
		n := func(i int) uint64 { v, _ := strconv.ParseUint(f[i], 10, 64); return v }
		out[name] = engine.NetCounters{RxBytes: n(0), RxPackets: n(1), RxErrors: n(2), TxBytes: n(8), TxPackets: n(9), TxErrors: n(10)}
	}
	return out, nil
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
