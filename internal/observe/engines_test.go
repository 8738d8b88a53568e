package observe

import (
	"bytes"
	"context"
	"net"
	"os/exec"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"

	"github.com/dockerbank/dockerbank/internal/engine"
	"github.com/dockerbank/dockerbank/internal/instance/label"
	"github.com/dockerbank/dockerbank/internal/testenv"
)

// TestSeveralEngines starts a second dockerd reachable over TCP with
// mutual TLS, runs a container on it and one on the main engine, and reads
// both in one collection with their engine labels; then stops the second
// engine and shows that the first is still read and engine_up is 0.
func TestSeveralEngines(t *testing.T) {
	main := connect(t)
	ctx := t.Context()
	_, err := net.InterfaceByName("docker0")
	docker0 := err == nil
	second := testenv.Engine(t, testenv.DockerdOptions{TLS: true})
	testenv.Load(t, second, testImage) // busybox, copied from the main engine

	in := testInstance(t)
	localID := run(t, in, "main", "sleep 600")
	out, err := exec.Command("docker", append(second.CLIArgs(), "run", "-d", "--network", "none", "--name", in+"-remote",
		"--label", label.Instance+"="+in, "--label", "com.docker.compose.service=remote", "--label", label.Role+"=app",
		testImage, "sleep", "600")...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker run on the second engine: %v: %s", err, out)
	}
	remoteID := strings.TrimSpace(string(out))

	local := collector(main, in)
	lab2 := &Collector{Name: "lab2", Instance: in, Connect: func(ctx context.Context) (*engine.Engine, error) {
		return engine.Connect(ctx, engine.Endpoint(second.Host, second.TLSDir))
	}}
	both := Collectors{local, lab2}
	refresh := func() (errLocal, errLab2 error) { return local.Refresh(ctx), lab2.Refresh(ctx) }

	if el, e2 := refresh(); el != nil || e2 != nil {
		t.Fatalf("collect: local %v, lab2 %v", el, e2)
	}
	text := gatherAll(t, both)
	for _, want := range []string{
		`container_last_seen{engine="local",id="/docker/` + localID + `",image="` + testImage + `",instance="` + in + `",name="/` + in + `-main",replica="",role="app",service="main"}`,
		`container_last_seen{engine="lab2",id="/docker/` + remoteID + `",image="` + testImage + `",instance="` + in + `",name="/` + in + `-remote",replica="",role="app",service="remote"}`,
		`container_memory_working_set_bytes{engine="lab2",id="/docker/` + remoteID + `"`,
		`dockerbank_engine_up{engine="local"} 1`,
		`dockerbank_engine_up{engine="lab2"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("one collection of both engines lacks %s:\n%s", want, grepLines(text, in))
		}
	}
	if s := lab2.Snapshot(); len(s.Containers) != 1 || s.Containers[0].ID != remoteID || !s.Containers[0].Sampled {
		t.Errorf("lab2 snapshot: %+v, want the remote container, sampled", s.Containers)
	}

	if err := second.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := net.InterfaceByName("docker0"); err != nil && docker0 {
		t.Errorf("the main engine's docker0 is gone after the second engine ran: %v", err)
	}
	el, e2 := refresh()
	if el != nil {
		t.Errorf("the local engine failed after the second one stopped: %v", el)
	}
	if e2 == nil {
		t.Error("collecting from the stopped engine reported no error")
	}
	text = gatherAll(t, both)
	for _, want := range []string{`dockerbank_engine_up{engine="local"} 1`, `dockerbank_engine_up{engine="lab2"} 0`, `name="/` + in + `-main"`} {
		if !strings.Contains(text, want) {
			t.Errorf("after stopping lab2, metrics lack %s:\n%s", want, grepLines(text, "engine"))
		}
	}
	if strings.Contains(text, remoteID) {
		t.Errorf("the stopped engine's container is still reported:\n%s", grepLines(text, remoteID))
	}
	t.Logf("lab2 down: %v", e2)
}

// gatherAll renders several collectors in the text exposition format.
func gatherAll(t *testing.T, c Collectors) string {
	t.Helper()
	mfs, err := Registry(c).Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}
