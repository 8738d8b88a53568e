package audit

import (
	"context"
	"os"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// patientsCSV is what a user might export inside a container.
var patientsCSV = []byte("patient_id,name,birth_date,diagnosis\nP-001,Erika Mustermann,1964-08-12,C50.9\n")

// TestTopLayerDecision is the layer-finding decision of freeze: only what
// the last layer holds counts, a whiteout there (the container deleted a
// file) is no data, and data in a lower layer is the source image's.
func TestTopLayerDecision(t *testing.T) {
	base := layerSpec{createdBy: "base", files: []file{{name: "etc/os-release", content: []byte("ID=debian\nVERSION_ID=\"12\"\n")}, {name: "app/run", content: []byte("#!/bin/sh\n")}}}
	tests := []struct {
		name       string
		layers     []layerSpec
		wantPaths  []string // blocking findings of the top layer
		whiteouts  int
		allFinding bool // the full audit has a data finding (in a lower layer)
	}{
		{
			name:      "patient CSV written in the container",
			layers:    []layerSpec{base, {createdBy: "commit", files: []file{{name: "tmp/export/", content: nil}, {name: "tmp/export/patients.csv", content: patientsCSV}}}},
			wantPaths: []string{"tmp/export/patients.csv"},
		},
		{
			name:      "the CSV written, then deleted in the container: nothing in the layer",
			layers:    []layerSpec{base, {createdBy: "commit", files: []file{{name: "tmp/export/", content: nil}, {name: "tmp/x.log", content: []byte("started\n")}}}},
			wantPaths: nil,
		},
		{
			name: "the container deleted a CSV the image shipped: only a whiteout on top",
			layers: []layerSpec{
				{createdBy: "base", files: []file{{name: "seed/patients.csv", content: patientsCSV}}},
				{createdBy: "commit", files: []file{{name: "seed/.wh.patients.csv"}}},
			},
			wantPaths:  nil,
			whiteouts:  1,
			allFinding: true,
		},
		{
			name:       "data only in a lower layer",
			layers:     []layerSpec{{createdBy: "base", files: []file{{name: "seed/patients.csv", content: patientsCSV}}}, {createdBy: "commit", files: []file{{name: "tmp/ok.txt", content: []byte("ok\n")}}}},
			wantPaths:  nil,
			allFinding: true,
		},
		{
			name:      "a private key and a SQL dump with rows",
			layers:    []layerSpec{base, {createdBy: "commit", files: []file{{name: "root/.ssh/id_ed25519", content: privateKey}, {name: "tmp/db.sql", content: []byte("-- PostgreSQL database dump\nINSERT INTO patients VALUES (1);\n")}}}},
			wantPaths: []string{"root/.ssh/id_ed25519", "tmp/db.sql"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img := buildImage(t, tc.layers, v1.Config{User: "app"}, nil)
			p := saveTarball(t, img, "test/frozen:1")
			f, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			top, err := TopLayer(context.Background(), FromReader("frozen", f), Options{Now: testNow})
			if err != nil {
				t.Fatal(err)
			}
			if top.Layer != len(tc.layers)-1 {
				t.Errorf("top layer %d, want %d", top.Layer, len(tc.layers)-1)
			}
			var got []string
			for _, b := range Blocking(top.Findings) {
				got = append(got, b.Path)
				if b.Layer != top.Layer {
					t.Errorf("finding %s in layer %d, not the top layer", b.Path, b.Layer)
				}
			}
			if len(got) != len(tc.wantPaths) {
				t.Fatalf("blocking paths %v, want %v (findings %+v)", got, tc.wantPaths, top.Findings)
			}
			for i := range got {
				if got[i] != tc.wantPaths[i] {
					t.Errorf("blocking path %d = %s, want %s", i, got[i], tc.wantPaths[i])
				}
			}
			if top.Whiteouts != tc.whiteouts {
				t.Errorf("whiteouts %d, want %d", top.Whiteouts, tc.whiteouts)
			}
			if tc.allFinding {
				// The full audit still sees the lower layer's data: push
				// judges the whole image, freeze only what it added.
				r := auditTarball(t, p, Options{Now: testNow})
				if len(Blocking(r.Findings)) == 0 {
					t.Errorf("full audit found no data in the lower layer")
				}
			}
		})
	}
}

// TestTopLayerKeepsConfigSecrets: a commit writes the container's
// environment into the image config, so a password there counts too.
func TestTopLayerKeepsConfigSecrets(t *testing.T) {
	img := buildImage(t, []layerSpec{{createdBy: "commit", files: []file{{name: "tmp/ok.txt", content: []byte("ok\n")}}}},
		v1.Config{User: "app", Env: []string{"DB_PASSWORD=" + envPassword, "PGHOST=db"}}, nil)
	f, err := os.Open(saveTarball(t, img, "test/frozen:1"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	top, err := TopLayer(context.Background(), FromReader("frozen", f), Options{Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	b := Blocking(top.Findings)
	if len(b) != 1 || b[0].Layer != -1 || b[0].Rule != RuleSecret {
		t.Fatalf("blocking %+v, want the password in ENV", b)
	}
	if strings.Contains(b[0].Message, envPassword) {
		t.Errorf("message shows the password: %s", b[0].Message)
	}
}

func TestBlockingThreshold(t *testing.T) {
	fs := []Finding{
		{Rule: RuleSQLDump, Severity: SeverityLow, Path: "usr/share/schema.sql"},
		{Rule: RuleCredentialFile, Severity: SeverityMedium, Path: "etc/ssl/private/ssl-cert-snakeoil.key"},
		{Rule: RulePersonalData, Severity: SeverityHigh, Path: "tmp/p.csv"},
		{Rule: RuleRootUser, Severity: SeverityHigh},
	}
	got := Blocking(fs)
	if len(got) != 2 || got[0].Path != "etc/ssl/private/ssl-cert-snakeoil.key" || got[1].Path != "tmp/p.csv" {
		t.Errorf("Blocking = %+v, want the medium key and the high CSV", got)
	}
}
