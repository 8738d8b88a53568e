package observe

import (
	"math"
	"strings"
	"testing"
	"time"
)

// The working set reported by the collector matches `docker stats` within
// 5% for a container holding ~40 MB.
func TestMemoryMatchesDockerStats(t *testing.T) {
	e := connect(t)
	in := testInstance(t)
	id := run(t, in, "mem", `head -c 40000000 /dev/urandom > /dev/shm/blob; echo ready; sleep 600`)
	ctx := t.Context()
	eventually(t, 30*time.Second, "the container to hold its memory", func() bool {
		return strings.Contains(docker(t, "logs", id), "ready")
	})
	for _, source := range []string{"cgroup", "api"} {
		t.Run(source, func(t *testing.T) {
			c := collector(e, in)
			if source == "api" {
				c.Cgroup = nil
			} else if c.Cgroup == nil {
				t.Skip("engine is not local")
			}
			if err := c.Refresh(ctx); err != nil {
				t.Fatal(err)
			}
			got, ok := find(c.Snapshot(), id)
			if !ok || !got.Sampled {
				t.Fatalf("container %s not sampled: %+v", id, got)
			}
			if got.Sample.Source != source {
				t.Errorf("source = %s, want %s", got.Sample.Source, source)
			}
			usage := strings.Fields(docker(t, "stats", "--no-stream", "--format", "{{.MemUsage}}", id))[0]
			want, err := parseDockerSize(usage)
			if err != nil {
				t.Fatal(err)
			}
			ws := float64(got.Sample.MemWorkingSet)
			t.Logf("working set %.1f MiB, docker stats %.1f MiB (%s)", ws/(1<<20), want/(1<<20), usage)
			if want < 30<<20 {
				t.Fatalf("docker stats shows %s: the container does not hold its memory", usage)
			}
			if math.Abs(ws-want)/want > 0.05 {
				t.Errorf("working set %.0f differs from docker stats %.0f by more than 5%%", ws, want)
			}
		})
	}
}

func TestCPUCounterRisesUnderLoad(t *testing.T) {
	e := connect(t)
	in := testInstance(t)
	id := run(t, in, "busy", `while :; do :; done`)
	col := collector(e, in)
	ctx := t.Context()
	if err := col.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	first, ok := find(col.Snapshot(), id)
	if !ok || !first.Sampled {
		t.Fatalf("container not sampled")
	}
	eventually(t, 20*time.Second, "CPU time to grow by 0.5 s", func() bool {
		if err := col.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		now, _ := find(col.Snapshot(), id)
		return now.Sample.CPUUsage-first.Sample.CPUUsage > 500*time.Millisecond
	})
	now, _ := find(col.Snapshot(), id)
	if now.Sample.CPUUser+now.Sample.CPUSystem == 0 {
		t.Errorf("user and system CPU are zero")
	}
	// The exposed counter carries the cAdvisor name and our labels.
	text := gather(t, col)
	if !strings.Contains(text, `container_cpu_usage_seconds_total{cpu="total",engine="local",id="/docker/`+id+`",image="`+testImage+`",instance="`+in+`",name="/`+in+`-busy",replica="",role="app",service="busy"}`) {
		t.Errorf("no container_cpu_usage_seconds_total series for the container in:\n%s", grepLines(text, id))
	}
}

func TestRestartIsCounted(t *testing.T) {
	e := connect(t)
	in := testInstance(t)
	id := run(t, in, "app", `trap 'exit 0' TERM; while :; do sleep 0.1; done`)
	col := collector(e, in)
	go col.Run(t.Context())
	eventually(t, 20*time.Second, "the container to be collected", func() bool {
		c, ok := find(col.Snapshot(), id)
		return ok && c.Sampled
	})
	docker(t, "restart", "-t", "5", id)
	eventually(t, 20*time.Second, "one restart to be counted", func() bool {
		c, _ := find(col.Snapshot(), id)
		return c.Restarts == 1
	})
	want := `dockerbank_container_restarts_total{engine="local",instance="` + in + `",name="` + in + `-app",service="app"} 1`
	if text := gather(t, col); !strings.Contains(text, want) {
		t.Errorf("metrics lack %s:\n%s", want, grepLines(text, "restarts"))
	}
}
