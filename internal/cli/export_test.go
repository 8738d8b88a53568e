package cli

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dockerbank/dockerbank/internal/instance"
	"github.com/dockerbank/dockerbank/internal/site"
)

func runExport(t *testing.T, bank string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	all := []string{"--site", t.TempDir()}
	if bank != "" {
		all = append(all, "--bank", bank)
	}
	all = append(append(all, "export", "k8s"), args...)
	code := Main(all, Streams{In: strings.NewReader(""), Out: &out, Err: &errb})
	return result{out.String(), errb.String(), code}
}

func TestExportK8s(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	r := runExport(t, "", "demo", "--out", dir, "--namespace", "research")
	if r.code != ExitOK {
		t.Fatalf("exit %d: %s", r.code, r.err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "50-statefulset-demo-db.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "namespace: research") || !strings.Contains(string(data), "volumeClaimTemplates:") {
		t.Errorf("statefulset:\n%s", data)
	}
	if st, err := os.Stat(filepath.Join(dir, "10-secret-demo-db-password.yaml")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("secret file: %v %v", st, err)
	}

	r = runExport(t, "", "demo", "--helm", "--out", filepath.Join(t.TempDir(), "chart"))
	if r.code != ExitOK {
		t.Fatalf("helm: exit %d: %s", r.code, r.err)
	}

	r = runExport(t, "", "demo", "--out", "-")
	if r.code != ExitOK || strings.Count(r.out, "\n---\n")+1 < 10 || !strings.Contains(r.out, "kind: CronJob") {
		t.Errorf("stream export: exit %d, %d documents", r.code, strings.Count(r.out, "---"))
	}

	if r := runExport(t, "", "demo", "--include-secrets"); r.code != ExitUsage {
		t.Errorf("--include-secrets on an entry: exit %d, want %d", r.code, ExitUsage)
	}
	if r := runExport(t, "", "nope"); r.code != ExitNotFound {
		t.Errorf("unknown entry: exit %d, want %d", r.code, ExitNotFound)
	}
	if r := runExport(t, "", "demo", "--version", "9.9"); r.code != ExitNotFound {
		t.Errorf("unknown version: exit %d, want %d: %s", r.code, ExitNotFound, r.err)
	}
}

// TestExportRefusesLossy exports an entry whose compose file uses keys
// Kubernetes cannot express: exit 6 naming service and key, unless
// --allow-lossy. (A privileged service served here before; bank
// validation now refuses such an entry outright, as `dockerbank lint` does.)
func TestExportRefusesLossy(t *testing.T) {
	bankDir := t.TempDir()
	entry := filepath.Join(bankDir, "lossy")
	if err := os.MkdirAll(entry, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, entry, "entry.yaml", `apiVersion: dockerbank/v1
id: lossy
title: An entry with a restart policy Kubernetes has no form for
domain: test
description: test entry
upstream: https://example.org
licence: MIT
distribution: {mode: redistributable}
compose: [compose.yaml]
defaultVersion: "1"
versions:
  - version: "1"
    images: {app: "busybox:1.36"}
curation: {reviewedBy: test, reviewedOn: 2026-11-26}
`)
	writeFile(t, entry, "compose.yaml", `services:
  app:
    image: busybox:1.36
    restart: on-failure
    command: [sleep, infinity]
    x-dockerbank: {role: app}
`)
	r := runExport(t, bankDir, "lossy", "--out", filepath.Join(t.TempDir(), "o"))
	if r.code != ExitRefused || !strings.Contains(r.err, "app: restart") {
		t.Fatalf("exit %d, want %d naming app: restart:\n%s", r.code, ExitRefused, r.err)
	}
	r = runExport(t, bankDir, "lossy", "--allow-lossy", "--out", filepath.Join(t.TempDir(), "o"))
	if r.code != ExitOK || !strings.Contains(r.err, "warning: not exported: app: restart") {
		t.Errorf("--allow-lossy: exit %d:\n%s", r.code, r.err)
	}
}

// TestExportInstance exports an instance of a site (its rendered compose
// file): Secrets are referenced, not written, unless --include-secrets
// writes the site's values.
func TestExportInstance(t *testing.T) {
	siteDir := t.TempDir()
	s, err := site.Open(siteDir)
	if err != nil {
		t.Fatal(err)
	}
	in := &site.Instance{Name: "k8-inst", Entry: "demo", Version: "2.0", State: site.StateUp}
	if err := s.Save(in); err != nil {
		t.Fatal(err)
	}
	value, err := s.Secret(in.Name, "db_password", 32)
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join("..", "..", "bank", "entries", "demo", "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, s.InstanceDir(in.Name), instance.RenderedFile, strings.ReplaceAll(string(src), "${DEMO_INTERVAL", "${DEMO_INTERVAL:-30"))

	run := func(args ...string) result {
		var out, errb bytes.Buffer
		code := Main(append([]string{"--site", siteDir, "export", "k8s", "k8-inst"}, args...), Streams{In: strings.NewReader(""), Out: &out, Err: &errb})
		return result{out.String(), errb.String(), code}
	}
	dir := filepath.Join(t.TempDir(), "plain")
	if r := run("--out", dir); r.code != ExitOK {
		t.Fatalf("exit %d: %s", r.code, r.err)
	} else if !strings.Contains(r.out, "create secret generic k8-inst-db-password") {
		t.Errorf("no instructions to create the secret:\n%s", r.out)
	}
	if _, err := os.Stat(filepath.Join(dir, "10-secret-k8-inst-db-password.yaml")); err == nil {
		t.Error("a Secret was written without --include-secrets")
	}
	dir = filepath.Join(t.TempDir(), "with")
	if r := run("--out", dir, "--include-secrets"); r.code != ExitOK {
		t.Fatalf("exit %d: %s", r.code, r.err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "10-secret-k8-inst-db-password.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), base64.StdEncoding.EncodeToString([]byte(value))) {
		t.Errorf("the Secret does not hold the site's value:\n%s", data)
	}
}
