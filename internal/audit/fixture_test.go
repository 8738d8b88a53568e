package audit

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dockerbank/dockerbank/internal/instance/label"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// testNow is the day the tests judge end-of-life dates against.
var testNow = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// file is one entry of a test layer. Names ending in "/" are directories.
type file struct {
	name    string
	content []byte
	mode    int64
}

// layerSpec is one test layer and the history line that made it.
type layerSpec struct {
	createdBy string
	files     []file
}

// Planted secret values. The tests check that no output contains any of
// them in full.
const (
	awsKeyID     = "AKIAQ3EGZZXJ7WPLANTD"
	awsSecret    = "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"
	ghToken      = "ghp_Zq9RkT4mWx2bN7cV1pL8sD3fG6hJ0kA5yE2u"
	glToken      = "glpat-Xk29fLm3Qp7Rt8Vw1ZyA"
	azureKey     = "AccountKey=" + "Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYm" + "=="
	envPassword  = "S3cr3t-Planted-Passw0rd"
	argToken     = "planted-arg-token-9f8e7d"
	urlPassword  = "UrlPlantedPw77"
	historyToken = "ghp_H1st0ryPl4ntedT0kenAbcdefGhijklmnOpq"
)

var privateKey = []byte("-----BEGIN OPENSSH PRIVATE KEY-----\n" +
	"b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n" +
	"QyNTUxOQAAACBQbGFudGVkVGVzdEtleU5vdEFSZWFsS2V5QXRBbGwAAAA=\n" +
	"-----END OPENSSH PRIVATE KEY-----\n")

func gcpServiceAccount() []byte {
	return []byte(`{
  "type": "service_account",
  "project_id": "planted-project",
  "private_key_id": "0123456789abcdef",
  "private_key": "-----BEGIN PRIVATE KEY-----\nMIIEplanted\n-----END PRIVATE KEY-----\n",
  "client_email": "planted@planted-project.iam.gserviceaccount.com"
}`)
}

func dicom() []byte {
	b := make([]byte, 128, 256)
	b = append(b, "DICM"...)
	return append(b, 0x02, 0x00, 0x00, 0x00, 'U', 'L', 0x04, 0x00)
}

func sqlite() []byte {
	b := []byte("SQLite format 3\x00")
	return append(b, make([]byte, 84)...)
}

func gzipped(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

const debian11 = `PRETTY_NAME="Debian GNU/Linux 11 (bullseye)"
NAME="Debian GNU/Linux"
VERSION_ID="11"
VERSION="11 (bullseye)"
ID=debian
`

// dpkgStatus has an installed Redis 6.0 (past end of life) and a removed
// MariaDB 10.3 (not reported).
const dpkgStatus = `Package: libc6
Status: install ok installed
Version: 2.31-13

Package: redis-server
Status: install ok installed
Version: 5:6.0.16-1+deb11u2

Package: mariadb-server-10.3
Status: deinstall ok config-files
Version: 1:10.3.39-0+deb10u1
`

const debian12 = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
ID=debian
`

// want is one planted artefact the audit must find.
type want struct {
	rule      string
	layer     int
	path      string
	deletedIn int
}

// plantedImage is the leaky test image: every kind of artefact, some
// deleted in a later layer (a private key by whiteout, a directory by an
// opaque whiteout).
func plantedImage(t testing.TB) (v1.Image, []want) {
	t.Helper()
	layers, cfg, wants := plantedSpec(t)
	img := buildImage(t, layers, cfg, []v1.History{
		{CreatedBy: "ARG API_TOKEN", EmptyLayer: true},
	})
	return img, wants
}

// plantedSpec describes the planted image: its layers, config and what the
// audit must find.
func plantedSpec(t testing.TB) ([]layerSpec, v1.Config, []want) {
	layers := []layerSpec{
		{createdBy: "ADD file:0f1e2d3c4b5a in / ", files: []file{
			{name: "etc/"}, {name: "etc/os-release", content: []byte(debian11)},
			{name: "usr/bin/passwd", content: []byte("binary"), mode: 0o4755},
			{name: "usr/sbin/sshd", content: []byte("\x7fELF")},
			{name: "usr/bin/supervisord", content: []byte("#!/usr/bin/python3\n")},
			{name: "usr/lib/postgresql/13/bin/postgres", content: []byte("\x7fELF")},
			{name: "var/lib/dpkg/status", content: []byte(dpkgStatus)},
		}},
		{createdBy: "COPY dir:abc in /app", files: []file{
			{name: "root/.ssh/id_rsa", content: privateKey, mode: 0o600},
			{name: "app/.env", content: []byte("DB_HOST=db\nDB_PASSWORD=" + envPassword + "\nAWS_ACCESS_KEY_ID=" + awsKeyID + "\n")},
			{name: "app/config/settings.yml", content: []byte("aws:\n  aws_secret_access_key: " + awsSecret + "\n")},
			{name: "app/config/ci.txt", content: []byte("token: " + ghToken + "\n")},
			{name: "app/config/gitlab.txt", content: []byte("GITLAB=" + glToken + "\n")},
			{name: "app/gcp-sa.json", content: gcpServiceAccount()},
			{name: "app/config/azure.conf", content: []byte("DefaultEndpointsProtocol=https;AccountName=x;" + azureKey + ";EndpointSuffix=core.windows.net\n")},
			{name: "root/.pgpass", content: []byte("db:5432:*:postgres:" + envPassword + "\n")},
			{name: "root/.my.cnf", content: []byte("[client]\npassword=" + envPassword + "\n")},
			{name: "root/.netrc", content: []byte("machine example.org login u password " + envPassword + "\n")},
			{name: "root/.git-credentials", content: []byte("https://u:" + envPassword + "@example.org\n")},
			{name: "root/.docker/config.json", content: []byte(`{"auths":{"registry.example.org":{"auth":"dTpwbGFudGVk"}}}`)},
			{name: "app/data/patients.sqlite", content: sqlite()},
			{name: "var/lib/postgresql/data/PG_VERSION", content: []byte("13\n")},
			{name: "var/lib/postgresql/data/base/1/1259", content: make([]byte, 64)},
			{name: "var/lib/postgresql/data/global/pg_control", content: make([]byte, 64)},
			{name: "var/lib/mysql/ibdata1", content: make([]byte, 64)},
			{name: "var/lib/mysql/mysql.ibd", content: make([]byte, 64)},
			{name: "app/backup.sql", content: []byte("-- dump\nCREATE TABLE patients (id int, name text);\nINSERT INTO patients VALUES (1, 'Erika Mustermann');\n")},
			{name: "app/backup.sql.gz", content: gzipped(t, []byte("CREATE TABLE p (id int);\nCOPY public.p (id) FROM stdin;\n1\n\\.\n"))},
			{name: "app/scans/img001.dcm", content: dicom()},
			{name: "app/hl7/adt.hl7", content: []byte("MSH|^~\\&|HIS|RAD|||202401011200||ADT^A01|MSG0001|P|2.5\rPID|1||123456^^^HOSP^MR||Mustermann^Erika\r")},
			{name: "app/fhir/bundle.json", content: []byte(`{"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {"resourceType": "Patient"}}]}`)},
			{name: "app/export/patients.csv", content: []byte("MRN;Vorname;Nachname;Geburtsdatum\n0001;Erika;Mustermann;1964-08-12\n")},
			{name: "var/www/redcap_v13.1.0/"},
			{name: "var/www/redcap_v13.1.0/index.php", content: []byte("<?php // REDCap\n")},
			{name: "opt/oracle/product/21c/dbhomeXE/"},
			{name: "opt/oracle/product/21c/dbhomeXE/bin/oracle", content: []byte("\x7fELF")},
			{name: "app/tmp/"},
			{name: "app/tmp/cache.sql", content: []byte("INSERT INTO visits VALUES (1);\n")},
		}},
		{createdBy: "|2 API_TOKEN=" + argToken + " BUILD=1 /bin/sh -c make", files: []file{
			{name: "app/bin/server", content: []byte("\x7fELF\x00\x00")},
		}},
		{createdBy: "/bin/sh -c rm -rf /root/.ssh/id_rsa /app/data/patients.sqlite /app/tmp && mkdir /app/tmp", files: []file{
			{name: "root/.ssh/.wh.id_rsa"},
			{name: "app/data/.wh.patients.sqlite"},
			{name: "app/tmp/"},
			{name: "app/tmp/.wh..wh..opq"},
		}},
		{createdBy: "RUN git clone https://" + historyToken + "@github.com/example/app.git", files: []file{
			{name: "app/README.md", content: []byte("hello\n")},
		}},
	}
	cfg := v1.Config{
		User:         "0:0",
		ExposedPorts: map[string]struct{}{"22/tcp": {}, "8080/tcp": {}},
		Env: []string{
			"PATH=/usr/local/bin:/usr/bin",
			"DB_PASSWORD=" + envPassword,
			"DATABASE_URL=postgres://app:" + urlPassword + "@db:5432/app",
			"PG_MAJOR=13",
		},
		Labels: map[string]string{label.Redistributable: "false"},
	}
	wants := []want{
		{RuleCredentialFile, 1, "root/.ssh/id_rsa", 3},
		{RuleCredentialFile, 1, "app/.env", -1},
		{RuleSecret, 1, "app/.env", -1},
		{RuleSecret, 1, "app/config/settings.yml", -1},
		{RuleSecret, 1, "app/config/ci.txt", -1},
		{RuleSecret, 1, "app/config/gitlab.txt", -1},
		{RuleSecret, 1, "app/gcp-sa.json", -1},
		{RuleSecret, 1, "app/config/azure.conf", -1},
		{RuleCredentialFile, 1, "root/.pgpass", -1},
		{RuleCredentialFile, 1, "root/.my.cnf", -1},
		{RuleCredentialFile, 1, "root/.netrc", -1},
		{RuleCredentialFile, 1, "root/.git-credentials", -1},
		{RuleCredentialFile, 1, "root/.docker/config.json", -1},
		{RuleDatabaseFile, 1, "app/data/patients.sqlite", 3},
		{RuleDatabaseFile, 1, "var/lib/postgresql/data", -1},
		{RuleDatabaseFile, 1, "var/lib/mysql", -1},
		{RuleSQLDump, 1, "app/backup.sql", -1},
		{RuleSQLDump, 1, "app/backup.sql.gz", -1},
		{RuleSQLDump, 1, "app/tmp/cache.sql", 3},
		{RuleClinical, 1, "app/scans/img001.dcm", -1},
		{RuleClinical, 1, "app/hl7/adt.hl7", -1},
		{RuleClinical, 1, "app/fhir/bundle.json", -1},
		{RulePersonalData, 1, "app/export/patients.csv", -1},
		{RuleProduct, 1, "var/www/redcap_v13.1.0", -1},
		{RuleProduct, 1, "opt/oracle/product/21c/dbhomeXE", -1},
		{RuleSetuid, 0, "usr/bin/passwd", -1},
		{RuleDaemon, 0, "usr/sbin/sshd", -1},
		{RuleDaemon, 0, "usr/bin/supervisord", -1},
		{RuleOSEOL, 0, "etc/os-release", -1},
		{RuleDatabaseEOL, 0, "usr/lib/postgresql/13", -1},
		{RuleDatabaseEOL, 0, "var/lib/dpkg/status", -1}, // redis-server 6.0
		{RuleSecret, 2, "", -1},                         // ARG API_TOKEN in the RUN line
		{RuleSecret, 4, "", -1},                         // token in git clone URL
		{RuleSecret, -1, "", -1},                        // DATABASE_URL / DB_PASSWORD in ENV
		{RuleRootUser, -1, "", -1},
		{RuleExposedPort, -1, "", -1},
		{RuleNoHealthcheck, -1, "", -1},
		{RuleNotRedistrib, -1, "", -1},
		{RuleMissingLabels, -1, "", -1},
	}
	return layers, cfg, wants
}

// cleanImage is a small image that should pass: supported OS, non-root
// user, healthcheck, provenance labels, no data.
func cleanImage(t testing.TB) v1.Image {
	t.Helper()
	layers := []layerSpec{
		{createdBy: "ADD file:1a2b3c in / ", files: []file{
			{name: "etc/"}, {name: "etc/os-release", content: []byte(debian12)},
			{name: "usr/bin/sh", content: []byte("\x7fELF\x00")},
		}},
		{createdBy: "COPY dir:def in /app", files: []file{
			{name: "app/bin/server", content: []byte("\x7fELF\x00\x00")},
			{name: "app/README.md", content: []byte("# server\nSet DB_PASSWORD_FILE to a secret file.\n")},
			{name: "app/config.yml", content: []byte("listen: :8080\nlog: info\n")},
			{name: "app/schema/001_init.sql", content: []byte("CREATE TABLE visits (id int);\n")},
			{name: "app/locales.csv", content: []byte("code,name\nde,Deutsch\n")},
		}},
	}
	labels := map[string]string{}
	for _, l := range ociLabels {
		labels["org.opencontainers.image."+l] = "x"
	}
	return buildImage(t, layers, v1.Config{
		User:         "1000:1000",
		ExposedPorts: map[string]struct{}{"8080/tcp": {}},
		Env:          []string{"PATH=/usr/bin", "DB_PASSWORD_FILE=/run/secrets/db"},
		Healthcheck:  &v1.HealthConfig{Test: []string{"CMD", "/app/bin/server", "-health"}},
		Labels:       labels,
	}, nil)
}

func layerTar(t testing.TB, files []file) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		hdr := &tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.content)), Typeflag: tar.TypeReg, ModTime: testNow}
		if f.mode != 0 {
			hdr.Mode = f.mode
		}
		if strings.HasSuffix(f.name, "/") {
			hdr.Typeflag, hdr.Mode, hdr.Size = tar.TypeDir, 0o755, 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(f.content); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// buildImage assembles an image from layers; extra history entries (empty
// layers) come first.
func buildImage(t testing.TB, layers []layerSpec, cfg v1.Config, extra []v1.History) v1.Image {
	t.Helper()
	img := empty.Image
	var err error
	created := v1.Time{Time: testNow.Add(-24 * time.Hour)}
	if len(extra) > 0 {
		cf, _ := img.ConfigFile()
		cf = cf.DeepCopy()
		for _, h := range extra {
			h.Created = created
			cf.History = append(cf.History, h)
		}
		if img, err = mutate.ConfigFile(img, cf); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range layers {
		b := layerTar(t, l.files)
		layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
		if err != nil {
			t.Fatal(err)
		}
		img, err = mutate.Append(img, mutate.Addendum{Layer: layer, History: v1.History{CreatedBy: l.createdBy, Created: created}})
		if err != nil {
			t.Fatal(err)
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.Config = cfg
	cf.Created = created
	cf.OS, cf.Architecture = "linux", "amd64"
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	return img
}

// saveTarball writes img as a docker save tarball (as go-containerregistry
// writes it: config, gzip layers, manifest.json last) and returns its path.
func saveTarball(t testing.TB, img v1.Image, tag string) string {
	t.Helper()
	ref, err := name.NewTag(tag)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "image.tar")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := tarball.Write(ref, img, f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}
