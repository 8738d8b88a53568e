package stack

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/google/go-cmp/cmp"
)

func load(t *testing.T, compose string, env ...string) *types.Project {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(compose), 0o644); err != nil {
		t.Fatal(err)
	}
	opts, err := cli.NewProjectOptions([]string{filepath.Join(dir, "compose.yaml")}, cli.WithName("st"), cli.WithEnv(env))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRenderRefusesPrivileged was engine's TestServiceSpecRefusesPrivileged.
func TestRenderRefusesPrivileged(t *testing.T) {
	p := load(t, "services:\n  x:\n    image: busybox\n    privileged: true\n")
	if _, err := Render(p, Options{}); err == nil {
		t.Error("privileged service accepted; swarm cannot run it")
	}
}

// TestRefusals: each key swarm cannot run is refused with the service or
// secret it belongs to, and Render lists all of them, not only the first.
func TestRefusals(t *testing.T) {
	tests := []struct {
		name    string
		compose string
		env     []string
		// edit changes the loaded project where the loader itself would
		// refuse the input.
		edit func(p *types.Project)
		want []string
	}{
		{"privileged", "services:\n  x:\n    image: busybox\n    privileged: true\n", nil, nil,
			[]string{"service x: privileged cannot run on swarm"}},
		{"network_mode and devices", "services:\n  x:\n    image: busybox\n    network_mode: host\n    devices: [/dev/fuse]\n", nil, nil,
			[]string{"service x: network_mode, devices cannot run on swarm"}},
		{"file secret", "services:\n  x:\n    image: busybox\n    secrets: [pw]\nsecrets:\n  pw: {file: ./pw.txt}\n", nil, nil,
			[]string{"secret pw: file secrets are not supported on swarm by dockerbank; use environment"}},
		{"unset variable", "services:\n  x:\n    image: busybox\n    secrets: [pw]\nsecrets:\n  pw: {environment: PW}\n", nil, nil,
			[]string{"secret pw: variable PW is not set"}},
		{"npipe volume", "services:\n  x:\n    image: busybox\n    volumes: [{type: npipe, source: //./pipe/x, target: //./pipe/x}]\n", nil, nil,
			[]string{"service x: volume type npipe cannot run on swarm"}},
		{"unknown secret", "services:\n  x:\n    image: busybox\n", nil,
			func(p *types.Project) {
				s := p.Services["x"]
				s.Secrets = []types.ServiceSecretConfig{{Source: "nope"}}
				p.Services["x"] = s
			},
			[]string{"service x: unknown secret nope"}},
		{"unknown network", "services:\n  x:\n    image: busybox\n", nil,
			func(p *types.Project) {
				s := p.Services["x"]
				s.Networks = map[string]*types.ServiceNetworkConfig{"elsewhere": nil}
				p.Services["x"] = s
			},
			[]string{"service x: unknown network elsewhere"}},
		{"published port not a number", "services:\n  x:\n    image: busybox\n", nil,
			func(p *types.Project) {
				s := p.Services["x"]
				s.Ports = []types.ServicePortConfig{{Target: 80, Published: "8000-8001"}}
				p.Services["x"] = s
			},
			[]string{`service x: published port "8000-8001": strconv.ParseUint: parsing "8000-8001": invalid syntax`}},
		{"every refusal at once", `services:
  a:
    image: busybox
    privileged: true
    secrets: [pw, key]
  b:
    image: busybox
    network_mode: host
secrets:
  pw: {environment: PW}
  key: {file: ./key.pem}
`, nil, nil,
			[]string{
				"secret key: file secrets are not supported on swarm by dockerbank; use environment",
				"secret pw: variable PW is not set",
				"service a: privileged cannot run on swarm",
				"service b: network_mode cannot run on swarm",
			}},
		{"accepted", "services:\n  x:\n    image: busybox\n    secrets: [pw]\nsecrets:\n  pw: {environment: PW}\n", []string{"PW=x"}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := load(t, tt.compose, tt.env...)
			if tt.edit != nil {
				tt.edit(p)
			}
			plan, err := Render(p, Options{})
			var got []string
			var probs Problems
			switch {
			case err == nil:
			case errors.As(err, &probs):
				for _, pr := range probs {
					got = append(got, pr.String())
				}
				if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "dockerbank deploy") {
					t.Errorf("error %q: want ErrRefused and what to do", err)
				}
			default:
				t.Fatalf("error %v is not Problems", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("refusals (-want +got):\n%s", diff)
			}
			if plan == nil {
				t.Error("no plan: Render returns the plan with its problems")
			}
		})
	}
}

// TestPlanPolicy checks the choices the plan makes beyond a 1:1 copy of
// the compose file.
func TestPlanPolicy(t *testing.T) {
	p := load(t, `services:
  web:
    image: nginx
    ports: ["8080:80", "53:53/udp"]
  api:
    image: nginx
    ports: ["9090:80"]
    deploy: {endpoint_mode: vip, replicas: 3, labels: {team: a}}
  once:
    image: busybox
    restart: "no"
  agent:
    image: busybox
    deploy: {mode: global}
    restart: on-failure
`)
	plan, err := Render(p, Options{ExtraLabels: map[string]string{"org.example.x": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Service{}
	for _, s := range plan.Services {
		got[s.Compose] = s
	}
	if s := got["web"]; s.EndpointMode != EndpointDNSRR || s.Ports[0].Mode != PublishHost || s.Ports[1].Protocol != "udp" || s.Replicas != 1 {
		t.Errorf("web: endpoint %s, ports %+v, replicas %d; want dnsrr, host-published ports, 1 replica", s.EndpointMode, s.Ports, s.Replicas)
	}
	if s := got["api"]; s.EndpointMode != EndpointVIP || s.Ports[0].Mode != PublishIngress || s.Replicas != 3 || s.Labels["team"] != "a" || s.Labels["org.example.x"] != "1" {
		t.Errorf("api: %+v; want vip, an ingress port, 3 replicas, the deploy and extra labels", s)
	}
	if s := got["once"]; s.Restart != RestartNone {
		t.Errorf("once: restart %s, want none", s.Restart)
	}
	if s := got["agent"]; !s.Global || s.Restart != RestartOnFailure {
		t.Errorf("agent: global %v, restart %s", s.Global, s.Restart)
	}
	if n := plan.Networks; len(n) != 1 || n[0].Name != "st_default" || n[0].Driver != "overlay" {
		t.Errorf("networks %+v; want the default network as overlay st_default", n)
	}
	for _, s := range plan.Services {
		if s.Container.Labels[LabelService] != s.Compose || s.Container.Labels[LabelProject] != "st" || s.Container.Labels["org.example.x"] != "1" {
			t.Errorf("%s: container labels %v", s.Compose, s.Container.Labels)
		}
	}
}
