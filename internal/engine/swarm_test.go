package engine

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/dockerbank/dockerbank/internal/instance/label"
	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/swarm"
)

func TestServiceSpec(t *testing.T) {
	dir := t.TempDir()
	compose := `services:
  db:
    image: postgres:16
    environment: {POSTGRES_PASSWORD_FILE: /run/secrets/pw}
    secrets: [pw]
    volumes: [pgdata:/var/lib/postgresql/data]
    healthcheck: {test: [CMD, pg_isready], interval: 2s, timeout: 5s, retries: 30, start_period: 60s}
    deploy: {resources: {limits: {memory: 512m, cpus: "0.5"}}}
    labels: {` + label.Role + `: database}
  web:
    image: nginx:1.27
    ports: ["8080:80"]
    networks: {front: {aliases: [www]}, default: {}}
    read_only: true
    cap_drop: [ALL]
networks:
  front: {}
volumes:
  pgdata:
    labels: {` + label.Class + `: userdata}
secrets:
  pw: {environment: PW}
`
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(compose), 0o644); err != nil {
		t.Fatal(err)
	}
	opts, err := cli.NewProjectOptions([]string{filepath.Join(dir, "compose.yaml")}, cli.WithName("st"), cli.WithEnv([]string{"PW=x"}))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	nets := map[string]string{"default": "net-default", "front": "net-front"}
	secrets := map[string]string{"pw": "sec-pw"}

	db, err := ServiceSpec(p, "db", nets, secrets, map[string]string{label.Instance: "st"})
	if err != nil {
		t.Fatal(err)
	}
	cs := db.TaskTemplate.ContainerSpec
	if db.Name != "st_db" || db.Labels[LabelStack] != "st" || db.Labels[label.Instance] != "st" {
		t.Errorf("service annotations = %+v", db.Annotations)
	}
	for k, want := range map[string]string{LabelStack: "st", LabelProject: "st", LabelService: "db", label.Role: "database"} {
		if cs.Labels[k] != want {
			t.Errorf("container label %s = %q, want %q", k, cs.Labels[k], want)
		}
	}
	wantMount := mount.Mount{Type: mount.TypeVolume, Source: "st_pgdata", Target: "/var/lib/postgresql/data", VolumeOptions: &mount.VolumeOptions{
		Labels: map[string]string{LabelStack: "st", LabelProject: "st", LabelVolume: "pgdata", label.Class: "userdata"}}}
	if diff := cmp.Diff([]mount.Mount{wantMount}, cs.Mounts); diff != "" {
		t.Errorf("mounts (-want +got):\n%s", diff)
	}
	wantSecret := &swarm.SecretReference{SecretID: "sec-pw", SecretName: "st_pw", File: &swarm.SecretReferenceFileTarget{Name: "pw", UID: "0", GID: "0", Mode: 0o444}}
	if diff := cmp.Diff([]*swarm.SecretReference{wantSecret}, cs.Secrets); diff != "" {
		t.Errorf("secrets (-want +got):\n%s", diff)
	}
	hc := cs.Healthcheck
	if hc == nil || hc.Interval != 2*time.Second || hc.Timeout != 5*time.Second || hc.Retries != 30 || hc.StartPeriod != time.Minute {
		t.Errorf("healthcheck = %+v", hc)
	}
	if l := db.TaskTemplate.Resources.Limits; l == nil || l.MemoryBytes != 512<<20 || l.NanoCPUs != 5e8 {
		t.Errorf("limits = %+v", l)
	}
	if db.EndpointSpec.Mode != swarm.ResolutionModeDNSRR {
		t.Errorf("endpoint mode = %s, want dnsrr (compose-like name resolution)", db.EndpointSpec.Mode)
	}

	web, err := ServiceSpec(p, "web", nets, secrets, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantNets := []swarm.NetworkAttachmentConfig{{Target: "net-default", Aliases: []string{"web"}}, {Target: "net-front", Aliases: []string{"web", "www"}}}
	if diff := cmp.Diff(wantNets, web.TaskTemplate.Networks); diff != "" {
		t.Errorf("networks (-want +got):\n%s", diff)
	}
	wantPorts := []swarm.PortConfig{{Protocol: "tcp", TargetPort: 80, PublishedPort: 8080, PublishMode: swarm.PortConfigPublishModeHost}}
	if diff := cmp.Diff(wantPorts, web.EndpointSpec.Ports); diff != "" {
		t.Errorf("ports (-want +got):\n%s", diff)
	}
	if c := web.TaskTemplate.ContainerSpec; !c.ReadOnly || len(c.CapabilityDrop) != 1 {
		t.Errorf("read_only/cap_drop lost: %+v", c)
	}
}

func TestServiceSpecRefusesPrivileged(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte("services:\n  x:\n    image: busybox\n    privileged: true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	opts, _ := cli.NewProjectOptions([]string{filepath.Join(dir, "compose.yaml")}, cli.WithName("st"))
	p, err := opts.LoadProject(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ServiceSpec(p, "x", map[string]string{"default": "n"}, nil, nil); err == nil {
		t.Error("privileged service accepted; swarm cannot run it")
	}
}
