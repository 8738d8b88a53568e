package observe

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/dockerbank/dockerbank/internal/engine"
)

// writeTree creates files under root.
func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

const netDev = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0
  eth0:    5000      40    1    0    0     0          0         0     3000      30    2    0    0     0       0          0
`

func TestCgroupRead(t *testing.T) {
	const id = "abc123"
	tests := []struct {
		name  string
		files map[string]string
		want  engine.Sample
	}{
		{
			name: "v1",
			files: map[string]string{
				"proc/42/cgroup":                                         "12:memory:/docker/abc123\n4:cpu,cpuacct:/docker/abc123\n7:blkio:/docker/abc123\n8:pids:/docker/abc123\n1:name=systemd:/docker/abc123\n",
				"proc/42/net/dev":                                        netDev,
				"cg/cpuacct/docker/abc123/cpuacct.usage":                 "2500000000\n",
				"cg/cpuacct/docker/abc123/cpuacct.stat":                  "user 150\nsystem 80\n",
				"cg/memory/docker/abc123/memory.usage_in_bytes":          "104857600\n",
				"cg/memory/docker/abc123/memory.stat":                    "cache 1\nrss 2\ntotal_cache 62914560\ntotal_rss 41943040\ntotal_inactive_file 20971520\n",
				"cg/memory/docker/abc123/memory.limit_in_bytes":          "9223372036854771712\n",
				"cg/memory/docker/abc123/memory.failcnt":                 "0\n",
				"cg/blkio/docker/abc123/blkio.throttle.io_service_bytes": "8:0 Read 4096\n8:0 Write 8192\n8:0 Total 12288\n8:16 Read 1000\nTotal 13288\n",
				"cg/pids/docker/abc123/pids.current":                     "7\n",
			},
			want: engine.Sample{ID: id, Source: "cgroup", CPUUsage: 2500 * time.Millisecond, CPUUser: 1500 * time.Millisecond, CPUSystem: 800 * time.Millisecond,
				MemUsage: 100 << 20, MemWorkingSet: 80 << 20, MemRSS: 40 << 20, MemCache: 60 << 20,
				Net:         map[string]engine.NetCounters{"eth0": {RxBytes: 5000, RxPackets: 40, RxErrors: 1, TxBytes: 3000, TxPackets: 30, TxErrors: 2}},
				FSReadBytes: 5096, FSWriteBytes: 8192, Pids: 7},
		},
		{
			name: "v2",
			files: map[string]string{
				"proc/42/cgroup":                                     "0::/system.slice/docker-abc123.scope\n",
				"proc/42/net/dev":                                    netDev,
				"cg/cgroup.controllers":                              "cpu io memory pids\n",
				"cg/system.slice/docker-abc123.scope/cpu.stat":       "usage_usec 2500000\nuser_usec 1500000\nsystem_usec 1000000\n",
				"cg/system.slice/docker-abc123.scope/memory.current": "104857600\n",
				"cg/system.slice/docker-abc123.scope/memory.stat":    "anon 41943040\nfile 62914560\ninactive_file 20971520\n",
				"cg/system.slice/docker-abc123.scope/memory.max":     "268435456\n",
				"cg/system.slice/docker-abc123.scope/memory.events":  "low 0\nhigh 0\nmax 3\noom 0\n",
				"cg/system.slice/docker-abc123.scope/io.stat":        "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2\n",
				"cg/system.slice/docker-abc123.scope/pids.current":   "7\n",
			},
			want: engine.Sample{ID: id, Source: "cgroup", CPUUsage: 2500 * time.Millisecond, CPUUser: 1500 * time.Millisecond, CPUSystem: time.Second,
				MemUsage: 100 << 20, MemWorkingSet: 80 << 20, MemRSS: 40 << 20, MemCache: 60 << 20, MemLimit: 256 << 20, MemFailcnt: 3,
				Net:         map[string]engine.NetCounters{"eth0": {RxBytes: 5000, RxPackets: 40, RxErrors: 1, TxBytes: 3000, TxPackets: 30, TxErrors: 2}},
				FSReadBytes: 4096, FSWriteBytes: 8192, Pids: 7},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			writeTree(t, root, tt.files)
			c := &Cgroup{Root: filepath.Join(root, "cg"), Proc: filepath.Join(root, "proc")}
			got, err := c.Read(id, 42, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Read (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("missing process", func(t *testing.T) {
		c := &Cgroup{Root: t.TempDir(), Proc: t.TempDir()}
		if _, err := c.Read(id, 42, time.Time{}); err == nil {
			t.Fatal("want ErrNoCgroup")
		}
	})
}
