package audit

import (
	"archive/tar"
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestWalkTracksWhiteouts(t *testing.T) {
	b := layerTar(t, []file{
		{name: "./app/.wh.secret.txt"},
		{name: "/data/.wh..wh..opq"},
		{name: "x/.wh..wh.plnk"},
		{name: "keep.txt", content: []byte("x")},
	})
	scan, err := newWalker(0, nil).walk(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]struct{}{"app/secret.txt": {}}, scan.whiteouts); diff != "" {
		t.Errorf("whiteouts (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]struct{}{"data": {}}, scan.opaque); diff != "" {
		t.Errorf("opaque (-want +got):\n%s", diff)
	}
	if scan.files != 4 || scan.whiteoutN != 3 {
		t.Errorf("files %d whiteouts %d, want 4 and 3", scan.files, scan.whiteoutN)
	}
}

func TestDeletedIn(t *testing.T) {
	layer := func(wh, opq []string) *layerScan {
		s := newLayerScan()
		for _, p := range wh {
			s.whiteouts[p] = struct{}{}
		}
		for _, p := range opq {
			s.opaque[p] = struct{}{}
		}
		return s
	}
	a := &analysis{d: &imageData{layers: []*layerScan{
		layer(nil, nil),
		layer([]string{"app/a.txt"}, nil),
		layer([]string{"srv"}, []string{"data"}),
		layer(nil, []string{"app"}),
	}}}
	tests := []struct {
		layer int
		path  string
		want  int
	}{
		{0, "app/a.txt", 1},
		{0, "app/b.txt", 3},        // opaque app/ in layer 3
		{0, "srv/x/y", 2},          // whole directory whited out
		{0, "data/db.sqlite", 2},   // opaque data/
		{0, "data", -1},            // the opaque directory itself stays
		{2, "data/db.sqlite", -1},  // added in the layer that made data/ opaque
		{3, "app/c.txt", -1},       // nothing after the last layer
		{0, "application.txt", -1}, // prefix of a name is not its parent
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			if got := a.deletedIn(tc.layer, tc.path); got != tc.want {
				t.Errorf("deletedIn(%d, %q) = %d, want %d", tc.layer, tc.path, got, tc.want)
			}
		})
	}
}

func TestSecretName(t *testing.T) {
	tests := map[string]bool{
		"DB_PASSWORD": true, "POSTGRES_PASSWORD": true, "API_TOKEN": true, "AWS_SECRET_ACCESS_KEY": true,
		"AWS_ACCESS_KEY_ID": true, "MYSQL_ROOT_PASS": true, "SECRET_KEY": true,
		"KEY_SHA512": false, "ACCESS_LOG": false, "PATH": false, "PWD": false, "GPG_KEY": false,
		"PASSWORD_FILE": true, // handled by callers (_FILE suffix)
	}
	for name, want := range tests {
		if got := secretName(name); got != want {
			t.Errorf("secretName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestSecretsInText(t *testing.T) {
	tests := []struct {
		name, text string
		want       int
	}{
		{"env password", "DB_PASSWORD=hunter2hunter2", 1},
		{"file reference", "DB_PASSWORD_FILE=/run/secrets/db", 0},
		{"variable reference", "ARG DB_PASSWORD=$DB_PASSWORD", 0},
		{"url credentials", "DATABASE_URL=postgres://u:pw123456@db/x", 1},
		{"url without password", "URL=https://example.org/x", 0},
		{"token in RUN", "RUN curl -H 'Authorization: token ghp_Zq9RkT4mWx2bN7cV1pL8sD3fG6hJ0kA5yE2u' x", 1},
		{"harmless", "/bin/sh -c apt-get update && apt-get install -y curl", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := secretsInText(tc.text)
			if len(got) != tc.want {
				t.Errorf("secretsInText(%q) found %d, want %d: %+v", tc.text, len(got), tc.want, got)
			}
			if red := redactLine(tc.text); tc.want > 0 && red == tc.text {
				t.Errorf("redactLine left %q unchanged", tc.text)
			}
		})
	}
}

func TestSecretsInCmdAndLabels(t *testing.T) {
	d := &imageData{id: "sha256:x", config: &v1.ConfigFile{Config: v1.Config{
		Cmd:    []string{"server", "--db-password=Pl4ntedCmdPw"},
		Labels: map[string]string{"org.opencontainers.image.source": "https://u:Pl4ntedLabelPw@git.example.org/x"},
	}}}
	r := analyse(d, testNow)
	var got []string
	for _, f := range r.Findings {
		if f.Rule == RuleSecret {
			got = append(got, f.Message)
		}
	}
	if len(got) != 2 {
		t.Fatalf("secret findings %q, want one in CMD and one in the label", got)
	}
	for _, m := range got {
		if strings.Contains(m, "Pl4nted") {
			t.Errorf("secret printed: %s", m)
		}
	}
	var buf bytes.Buffer
	WriteJSON(&buf, r)
	if strings.Contains(buf.String(), "Pl4nted") {
		t.Errorf("secret printed in the JSON report:\n%s", buf.String())
	}
}

func TestPersonalColumns(t *testing.T) {
	tests := []struct {
		header string
		want   bool
	}{
		{"MRN;Vorname;Nachname;Geburtsdatum", true},
		{"patient_id,visit,score", true},
		{"first name,last name,city", true},
		{"\"Date of Birth\",\"Sex\"", true},
		{"code,name", false},
		{"id,value,unit", false},
		{"email\tphone", true},
	}
	for _, tc := range tests {
		t.Run(tc.header, func(t *testing.T) {
			got := personalColumns([]byte(tc.header+"\n1,2\n")) != nil
			if got != tc.want {
				t.Errorf("personalColumns(%q) = %v, want %v", tc.header, got, tc.want)
			}
		})
	}
}

func TestEOL(t *testing.T) {
	tests := []struct {
		product, cycle string
		want           eolStatus
	}{
		{"debian", "11", eolPast},
		{"debian", "12", eolSupported},
		{"ubuntu", "20.04", eolPast},
		{"alpine", "3.21", eolPast},
		{"postgresql", "14", eolPast},
		{"postgresql", "17", eolSupported},
		{"mysql", "8.0", eolPast},
		{"mariadb", "10.11", eolSupported},
		{"plan9", "4", eolUnknown},
	}
	for _, tc := range tests {
		t.Run(tc.product+" "+tc.cycle, func(t *testing.T) {
			if got, _ := lookupEOL(tc.product, tc.cycle, testNow); got != tc.want {
				t.Errorf("lookupEOL = %v, want %v", got, tc.want)
			}
		})
	}
	if got, _ := lookupEOL("ubuntu", "22.04", time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC)); got != eolNear {
		t.Errorf("ubuntu 22.04 two months before its end: %v, want near", got)
	}
	for v, want := range map[string]string{
		"1:10.11.6+maria~ubu2204": "10.11", "16.4-1.pgdg120+1": "16", "9.6.24": "9.6", "8.0.36-1.el8": "8.0", "7.2.4": "7.2",
	} {
		engine := "mariadb"
		if strings.Contains(v, "pgdg") || strings.HasPrefix(v, "9.6") {
			engine = "postgresql"
		}
		if got := engineCycle(engine, v); got != want {
			t.Errorf("engineCycle(%s, %q) = %q, want %q", engine, v, got, want)
		}
	}
}

func TestInstalledEngines(t *testing.T) {
	tests := []struct {
		name, text string
		apk        bool
		want       []string
	}{
		{"dpkg", dpkgStatus, false, []string{"redis 6.0"}},
		{"dpkg postgres and mysql", "Package: postgresql-15\nStatus: install ok installed\nVersion: 15.8-0+deb12u1\n\nPackage: mysql-server-8.0\nStatus: install ok installed\nVersion: 8.0.39-0ubuntu0.22.04.1\n", false, []string{"postgresql 15", "mysql 8.0"}},
		{"apk", "P:musl\nV:1.2.4-r2\n\nP:mariadb\nV:10.6.16-r0\n\nP:postgresql16\nV:16.3-r0\n", true, []string{"mariadb 10.6", "postgresql 16"}},
		{"mongodb", "Package: mongodb-org-server\nStatus: install ok installed\nVersion: 4.4.29\n", false, []string{"mongodb 4.4"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := installedEngines(strings.NewReader(tc.text), tc.apk)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestLicenceRules(t *testing.T) {
	rules := DefaultLicenceRules()
	if len(rules) < 2 {
		t.Fatalf("embedded knowledge base has %d rules", len(rules))
	}
	extra, err := ParseLicenceRules(strings.NewReader(`version: 1
rules:
  - id: sas
    product: SAS
    reason: proprietary
    paths: ["usr/local/SASHome/**"]
`))
	if err != nil {
		t.Fatal(err)
	}
	w := newWalker(0, append(rules, extra...))
	b := layerTar(t, []file{
		{name: "usr/local/SASHome/SASFoundation/9.4/sas", content: []byte("\x7fELF\x00")},
		{name: "var/www/html/redcap_connect.php", content: []byte("<?php\n")},
		{name: "srv/app/Config.php", content: []byte("<?php // REDCap (c) Vanderbilt University\n")},
	})
	scan, err := w.walk(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range scan.candidates {
		if c.rule == RuleProduct {
			got = append(got, c.path)
		}
	}
	want := []string{"usr/local/SASHome/SASFoundation/9.4/sas", "var/www/html/redcap_connect.php"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("licence hits (-want +got):\n%s", diff)
	}
	if _, err := ParseLicenceRules(strings.NewReader("version: 1\nrules:\n  - id: x\n")); err == nil {
		t.Error("rule without product and patterns accepted")
	}
}

func TestSuppressions(t *testing.T) {
	img, _ := plantedImage(t)
	p := saveTarball(t, img, "planted:test")
	sups, err := LoadSuppressions(strings.NewReader(`version: 1
suppressions:
  - rule: DBK-HARD-002
    reason: passwd needs setuid
  - rule: DBK-DATA-005
    path: "app/scans/**"
    reason: synthetic phantom images
    expires: 2027-01-31
  - rule: DBK-DATA-006
    path: app/export/*.csv
    reason: was a test export
    expires: 2026-01-31
`), "audit-suppressions.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r := auditTarball(t, p, Options{Suppressions: sups})
	var suppressed []string
	for _, f := range r.Suppressed {
		suppressed = append(suppressed, f.Rule+" "+f.Path+" ("+f.Suppression.Reason+")")
	}
	want := []string{
		"DBK-DATA-005 app/scans/img001.dcm (synthetic phantom images)",
		"DBK-HARD-002 usr/bin/passwd (passwd needs setuid)",
	}
	if diff := cmp.Diff(want, suppressed); diff != "" {
		t.Errorf("suppressed (-want +got):\n%s", diff)
	}
	var expired, csv bool
	for _, f := range r.Findings {
		if f.Rule == RuleSuppression && strings.Contains(f.Message, "audit-suppressions.yaml:9") && strings.Contains(f.Message, "2026-01-31") {
			expired = true
		}
		if f.Rule == RulePersonalData {
			csv = true
		}
	}
	if !expired || !csv {
		t.Errorf("expired suppression: warning %v, finding back %v\n%s", expired, csv, listFindings(r))
	}
}

func TestLoadSuppressionsReportsEveryProblem(t *testing.T) {
	_, err := LoadSuppressions(strings.NewReader(`version: 1
suppressions:
  - rule: DBK-DATA-001
  - reason: no rule
  - rule: DBK-DATA-002
    reason: ok
    expires: next week
  - rule: X
    reason: y
    colour: red
`), "s.yaml")
	if err == nil {
		t.Fatal("no error")
	}
	for _, s := range []string{"s.yaml:3: reason is required", "s.yaml:4: rule is required", "s.yaml:5: expires", "s.yaml:10: unknown field \"colour\""} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error lacks %q:\n%v", s, err)
		}
	}
}

// TestWalkMemoryIsBoundedByCandidates checks the walker keeps nothing per
// ordinary file.
func TestWalkMemoryIsBoundedByCandidates(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i := range 20000 {
		content := []byte("ordinary file content\n")
		tw.WriteHeader(&tar.Header{Name: "srv/files/" + strings.Repeat("d", i%7) + "/f" + string(rune('a'+i%26)) + "-" + strconv.Itoa(i), Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg})
		tw.Write(content)
	}
	tw.Close()
	scan, err := newWalker(0, DefaultLicenceRules()).walk(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if scan.files != 20000 || len(scan.candidates) != 0 || len(scan.seen) != 0 {
		t.Errorf("files %d candidates %d seen %d, want 20000, 0, 0", scan.files, len(scan.candidates), len(scan.seen))
	}
}
