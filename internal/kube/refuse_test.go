package kube

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/dockerbank/dockerbank/internal/bank"
)

func loadCompose(t *testing.T, dir, file string) (*bank.ComposeModel, *Manifests, error) {
	t.Helper()
	p, err := bank.LoadProject(t.Context(), bank.LoadOptions{Dir: dir, Files: []string{file}, Name: "t"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := bank.Model(p)
	if err != nil {
		t.Fatal(err)
	}
	man, err := Convert(p, m, Options{Instance: "t", Entry: "t", Version: "1"})
	return m, man, err
}

func TestRefusesInexpressibleKeys(t *testing.T) {
	dir := t.TempDir()
	compose := `services:
  db:
    image: postgres:16
    privileged: true
    user: postgres
    network_mode: host
    logging: {driver: gelf, options: {gelf-address: "udp://graylog:12201"}}
    ulimits: {nofile: 65536}
    x-dockerbank: {role: database, engine: postgres}
  web:
    image: nginx:1.27
    cap_drop: [ALL]
    cap_add: [NET_BIND_SERVICE]
    read_only: true
    user: "101:101"
    security_opt: [no-new-privileges:true, "apparmor:unconfined"]
    ports: ["192.0.2.10:8080:80"]
    volumes: ["./site:/usr/share/nginx/html"]
    depends_on:
      db: {condition: service_completed_successfully}
`
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(compose), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "site"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, _, err := loadCompose(t, dir, "compose.yaml")
	var probs Problems
	if !errors.As(err, &probs) || !errors.Is(err, ErrLossy) {
		t.Fatalf("want Problems wrapping ErrLossy, got %v", err)
	}
	var got []string
	for _, p := range probs {
		got = append(got, p.Service+" "+p.Key)
	}
	want := []string{
		"db logging", "db network_mode", "db privileged", "db ulimits", "db user",
		"web depends_on", "web ports", "web security_opt", "web volumes",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("problems (-want +got):\n%s\n%v", diff, err)
	}
	if !strings.Contains(err.Error(), "--allow-lossy") {
		t.Errorf("error does not say what to do: %v", err)
	}
}

func TestLossyListsWarnings(t *testing.T) {
	dir := t.TempDir()
	compose := "services:\n  app:\n    image: busybox\n    privileged: true\n    cap_drop: [ALL]\n"
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(compose), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := bank.LoadProject(t.Context(), bank.LoadOptions{Dir: dir, Files: []string{"compose.yaml"}, Name: "t"})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := bank.Model(p)
	man, err := Convert(p, m, Options{Instance: "t", Entry: "t", Version: "1", Lossy: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(man.Warnings) != 1 || man.Warnings[0].Key != "privileged" {
		t.Errorf("warnings = %v, want privileged", man.Warnings)
	}
	files, err := man.Files()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.Contains(string(f.Data), "privileged: true") {
			t.Errorf("%s grants privileged", f.Path)
		}
		if f.Path == "README.md" && !strings.Contains(string(f.Data), "app: privileged") {
			t.Errorf("README.md does not list the dropped key:\n%s", f.Data)
		}
	}
}
