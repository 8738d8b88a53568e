package deploy_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"

	"github.com/dockerbank/dockerbank"
	"github.com/dockerbank/dockerbank/internal/bank"
	"github.com/dockerbank/dockerbank/internal/deploy"
	"github.com/dockerbank/dockerbank/internal/engine"
	"github.com/dockerbank/dockerbank/internal/instance/label"
	"github.com/dockerbank/dockerbank/internal/site"
	"github.com/dockerbank/dockerbank/internal/testenv"
)

// makeZip writes a zip holding the given files (name -> content; a name
// ending in / is a directory) and returns its path.
func makeZip(t *testing.T, files map[string]string) string {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, content := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, content); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "redcap.zip")
	if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// installZip is the file list of a REDCap installation package.
func installZip(version string) map[string]string {
	return map[string]string{
		"redcap/index.php": "<?php echo 'fake REDCap';", "redcap/install.php": "<?php", "redcap/cron.php": "<?php",
		"redcap/database.php": "<?php", "redcap/redcap_v" + version + "/index.php": "<?php",
	}
}

func checkZipFile(t *testing.T, p string) (deploy.SourceInfo, error) {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return deploy.CheckREDCapZip(f, st.Size())
}

func TestCheckREDCapZip(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		version string
		err     string
	}{
		{"install package", installZip("15.5.3"), "15.5.3", ""},
		{"newest of several", map[string]string{
			"redcap/index.php": "", "redcap/install.php": "", "redcap/cron.php": "",
			"redcap/redcap_v14.9.10/x": "", "redcap/redcap_v15.0.2/x": "", "redcap/redcap_v15.0.10/x": ""},
			"15.0.10", ""},
		{"install package without version dir", map[string]string{"redcap/index.php": "<?php", "redcap/install.php": "", "redcap/cron.php": ""}, "", ""},
		// An upgrade package builds an image without entry page, installer
		// and cron job whose health check still passes: refused, saying what
		// is missing and which zip to use.
		{"upgrade package", map[string]string{"redcap_v15.0.0/index.php": "<?php"}, "",
			"it is a REDCap upgrade package (it holds only redcap_v15.0.0/, without redcap/index.php, redcap/install.php, redcap/cron.php): a new instance cannot be built from it; use the installation package redcapX.Y.Z.zip"},
		{"install package lacking cron.php", map[string]string{"redcap/index.php": "", "redcap/install.php": "", "redcap/redcap_v15.0.0/x": ""}, "",
			"its redcap/ lacks redcap/cron.php"},
		{"some other zip", map[string]string{"wordpress/index.php": "<?php"}, "", "neither redcap/ nor redcap_vX.Y.Z/"},
		{"escaping path", map[string]string{"redcap/../../etc/passwd": "x"}, "", "leaves the archive"},
		{"absolute path", map[string]string{"/redcap/index.php": "x"}, "", "leaves the archive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, err := checkZipFile(t, makeZip(t, tt.files))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if info.Version != tt.version {
				t.Errorf("version = %q, want %q", info.Version, tt.version)
			}
		})
	}
	t.Run("not a zip", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "redcap.zip")
		if err := os.WriteFile(p, []byte("PK but not really"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := checkZipFile(t, p); err == nil || !strings.Contains(err.Error(), "not a zip archive") {
			t.Fatalf("err = %v, want not a zip archive", err)
		}
	})
}

func FuzzCheckREDCapZip(f *testing.F) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("redcap/redcap_v15.0.0/index.php")
	io.WriteString(w, "<?php")
	zw.Close()
	f.Add(buf.Bytes())
	f.Add([]byte("PK\x03\x04"))
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := deploy.CheckREDCapZip(bytes.NewReader(data), int64(len(data)))
		if err == nil && info.Version != "" && strings.Count(info.Version, ".") != 2 {
			t.Errorf("version %q is not X.Y.Z", info.Version)
		}
	})
}

func TestSourceName(t *testing.T) {
	tests := map[string]string{
		"/home/me/redcap15.5.3.zip": "source.zip",
		"REDCAP.ZIP":                "source.zip",
		"oracle-xe.tar.gz":          "source.tar.gz",
		"thing.tgz":                 "source.tgz",
		"installer.bin":             "source",
	}
	for in, want := range tests {
		if got := deploy.SourceName(in); got != want {
			t.Errorf("SourceName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestWriteBuildContext checks the tar stream: the entry's build directory
// (and nothing outside it) plus the user's file under its fixed name.
func TestWriteBuildContext(t *testing.T) {
	fsys := fstest.MapFS{
		"entries/x/web/Dockerfile":     {Data: []byte("FROM scratch\n")},
		"entries/x/web/conf/site.conf": {Data: []byte("conf")},
		"entries/x/entry.yaml":         {Data: []byte("id: x")},
	}
	src := filepath.Join(t.TempDir(), "redcap16.0.1.zip")
	if err := os.WriteFile(src, []byte("zip bytes"), 0o600); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := deploy.WriteBuildContext(&buf, fsys, "entries/x/web", src); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	tr := tar.NewReader(&buf)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		got[hdr.Name] = string(data)
	}
	want := map[string]string{"Dockerfile": "FROM scratch\n", "conf/site.conf": "conf", "source.zip": "zip bytes"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("build context (-want +got):\n%s", diff)
	}

	fsys["entries/x/web/source.zip"] = &fstest.MapFile{Data: []byte("shipped by mistake")}
	if err := deploy.WriteBuildContext(io.Discard, fsys, "entries/x/web", src); err == nil || !strings.Contains(err.Error(), "reserved for your source") {
		t.Errorf("a context already holding source.zip: err = %v", err)
	}
}

func embeddedBank(t *testing.T) *bank.Bank {
	t.Helper()
	b, err := bank.Open(t.Context(), bank.Source{Name: "embedded", FS: dockerbank.Bank, Root: dockerbank.BankRoot})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBuildSourceRefuses covers the refusals that happen before any build,
// so they need no engine.
func TestBuildSourceRefuses(t *testing.T) {
	s, err := site.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	m := &deploy.Manager{Bank: embeddedBank(t), Site: s}
	good := makeZip(t, installZip("15.0.0"))
	upgrade := makeZip(t, map[string]string{"redcap_v15.0.0/index.php": "<?php"})
	tests := []struct {
		name string
		o    deploy.BuildSourceOptions
		want error
		text string
	}{
		{"redistributable entry", deploy.BuildSourceOptions{Entry: "orthanc", Source: good}, deploy.ErrNotBuildLocally, "takes its images from their registry"},
		{"missing file", deploy.BuildSourceOptions{Entry: "redcap", Version: "15", Source: filepath.Join(t.TempDir(), "nope.zip")}, deploy.ErrBadSource, "REDCap Consortium"},
		{"not a zip", deploy.BuildSourceOptions{Entry: "redcap", Version: "15", Source: "source_test.go"}, deploy.ErrBadSource, "not a zip archive"},
		{"other major version", deploy.BuildSourceOptions{Entry: "redcap", Version: "16", Source: good}, deploy.ErrBadSource, "pass --version 15"},
		{"unknown version", deploy.BuildSourceOptions{Entry: "redcap", Version: "9", Source: good}, bank.ErrNoVersion, "versions: 15, 16"},
		{"unknown entry", deploy.BuildSourceOptions{Entry: "nosuch", Source: good}, bank.ErrNoEntry, "bank list"},
		{"upgrade package", deploy.BuildSourceOptions{Entry: "redcap", Version: "15", Source: upgrade}, deploy.ErrBadSource,
			"without redcap/index.php, redcap/install.php, redcap/cron.php): a new instance cannot be built from it; use the installation package redcapX.Y.Z.zip"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := m.BuildSource(t.Context(), tt.o)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("err %q does not say %q", err, tt.text)
			}
		})
	}
	recs, err := s.Journal()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(tests) {
		t.Errorf("journal has %d records, want one per refused build (%d)", len(recs), len(tests))
	}
}

// TestBuildSourceREDCap builds the real REDCap entry from a fake REDCap zip
// on the real engine. The php base image is not available offline, so the
// base and unpack images are the local busybox image and the PHP setup step
// is skipped, through the Dockerfile's build arguments.
func TestBuildSourceREDCap(t *testing.T) {
	const busybox = "dockerbank/busybox:1.36"
	testenv.RequireImages(t, busybox)
	e, err := engine.Connect(t.Context(), engine.Options{})
	if err != nil {
		testenv.Missing(t, "engine: %v", err)
	}
	s, err := site.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	m := &deploy.Manager{Bank: embeddedBank(t), Site: s, Engine: e}
	src := makeZip(t, installZip("15.0.0"))
	tag := "dockerbank-test/redcap-build:" + strings.ToLower(rand.Text()[:10])
	t.Cleanup(func() {
		// t.Context() is already cancelled when cleanups run.
		if err := e.RemoveImage(context.Background(), tag); err != nil {
			t.Errorf("remove test image: %v", err)
		}
		e.Close()
	})

	res, err := m.BuildSource(t.Context(), deploy.BuildSourceOptions{
		Entry: "redcap", Version: "15", Source: src, Tag: tag,
		BuildArgs: map[string]string{"BASE_IMAGE": busybox, "UNPACK_IMAGE": busybox, "PHP_SETUP": "0"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Images) != 1 || res.Images[0].Image != tag {
		t.Fatalf("built %+v, want one image %s", res.Images, tag)
	}
	if diff := cmp.Diff([]string{"cron", "web"}, res.Images[0].Services); diff != "" {
		t.Errorf("services (-want +got):\n%s", diff)
	}
	if res.SourceVersion != "15.0.0" {
		t.Errorf("source version %q, want 15.0.0", res.SourceVersion)
	}

	labels, err := e.ImageLabels(t.Context(), tag)
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		label.Redistributable: "false",
		label.Entry:           "redcap",
		label.Version:         "15",
		label.Licence:         "LicenseRef-REDCap-EULA",
		label.SourceVersion:   "15.0.0",
		label.SourceSHA256:    res.SourceSHA256,
	} {
		if labels[k] != want {
			t.Errorf("label %s = %q, want %q", k, labels[k], want)
		}
	}

	// The REDCap code is in the image; the zip itself is not in any layer.
	files := imageFiles(t, e, tag)
	for _, want := range []string{"var/www/html/redcap_v15.0.0/index.php", "var/www/html/index.php", "var/www/html/cron.php", "var/www/html/database.php", "var/www/html/modules/", "usr/local/bin/redcap-cron"} {
		if !files[want] {
			t.Errorf("image lacks %s", want)
		}
	}
	for f := range files {
		if strings.HasSuffix(f, ".zip") {
			t.Errorf("image layer holds %s: the source zip must stay in the throw-away stage", f)
		}
	}
}

// imageFiles lists the paths of every layer of an image (docker save, both
// the legacy layout and OCI blobs).
func imageFiles(t *testing.T, e *engine.Engine, ref string) map[string]bool {
	t.Helper()
	rc, err := e.SaveImage(t.Context(), ref)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	files := map[string]bool{}
	outer := tar.NewReader(rc)
	for {
		hdr, err := outer.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Typeflag != tar.TypeReg || strings.HasSuffix(hdr.Name, ".json") || hdr.Name == "repositories" {
			continue
		}
		inner := tar.NewReader(outer)
		for {
			ih, err := inner.Next()
			if err != nil {
				break // end of the layer, or not a layer
			}
			files[strings.TrimPrefix(ih.Name, "./")] = true
		}
	}
	if len(files) == 0 {
		t.Fatalf("no layer files found in the saved image %s", ref)
	}
	return files
}

// TestDeployREDCapNeedsBuild: deploying a build-locally version whose image
// the user has not built stops before anything is recorded, and says how to
// build it.
func TestDeployREDCapNeedsBuild(t *testing.T) {
	testenv.RequireEngine(t)
	e, err := engine.Connect(t.Context(), engine.Options{})
	if err != nil {
		testenv.Missing(t, "engine: %v", err)
	}
	defer e.Close()
	s, err := site.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b := embeddedBank(t)
	m := &deploy.Manager{Bank: b, Site: s, Engine: e}
	ent, err := b.Get("redcap")
	if err != nil {
		t.Fatal(err)
	}
	ver, _ := ent.Version("16")
	if ok, err := e.ImageExists(t.Context(), ver.Images["web"]); err != nil || ok {
		testenv.Missing(t, "image %s exists on this engine (err %v); the test needs it absent", ver.Images["web"], err)
	}
	name := "en-rc-" + strings.ToLower(rand.Text()[:6])
	_, err = m.Deploy(t.Context(), deploy.DeployOptions{Entry: "redcap", Name: name, Version: "16"})
	if !errors.Is(err, deploy.ErrNotBuilt) {
		t.Fatalf("deploy err = %v, want ErrNotBuilt", err)
	}
	if !strings.Contains(err.Error(), "dockerbank build redcap --version 16 --source FILE") {
		t.Errorf("error does not say how to build: %v", err)
	}
	ins, err := s.Instances()
	if err != nil {
		t.Fatal(err)
	}
	if len(ins) != 0 {
		t.Errorf("a refused deploy recorded instances %v", ins)
	}
}

// TestSourceChecksKnown keeps bank's list of source checks (what bank lint
// accepts) and their implementations here equal.
func TestSourceChecksKnown(t *testing.T) {
	var impl []string
	for name := range deploy.SourceChecks {
		impl = append(impl, name)
	}
	slices.Sort(impl)
	want := slices.Sorted(slices.Values(bank.SourceChecks))
	if !slices.Equal(impl, want) {
		t.Errorf("source checks implemented %v, bank.SourceChecks %v", impl, want)
	}
}
