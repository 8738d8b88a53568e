package cli

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dockerbank/dockerbank"
	"github.com/dockerbank/dockerbank/internal/audit"
	"github.com/dockerbank/dockerbank/internal/bank"
	"github.com/dockerbank/dockerbank/internal/engine"
	"github.com/dockerbank/dockerbank/internal/testenv"
)

// aliasFacts serves an image built under a test tag for the reference an
// entry names, so the test never replaces images other tests use.
type aliasFacts struct {
	src   *audit.BankFacts
	alias map[string]string
}

func (a aliasFacts) ImageFacts(ctx context.Context, ref string) (*bank.ImageFacts, error) {
	if t, ok := a.alias[ref]; ok {
		f, err := a.src.ImageFacts(ctx, t)
		if f != nil {
			c := *f
			c.Image = ref
			return &c, err
		}
		return nil, err
	}
	return a.src.ImageFacts(ctx, ref)
}

// buildDemoApp builds the demo entry's app image from the embedded bank
// under a throw-away tag.
func buildDemoApp(t *testing.T, e *engine.Engine) string {
	t.Helper()
	sub, err := fs.Sub(dockerbank.Bank, dockerbank.BankRoot+"/demo/app")
	if err != nil {
		t.Fatal(err)
	}
	var ctxTar bytes.Buffer
	tw := tar.NewWriter(&ctxTar)
	if err := tw.AddFS(sub); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	tag := "dockerbank-test/demo-app:facts-" + strings.ToLower(rand.Text()[:8])
	if err := e.BuildImage(t.Context(), &ctxTar, engine.BuildOptions{Tag: tag, Args: map[string]string{"DEMO_VERSION": "2.0"}}); err != nil {
		t.Fatalf("build demo app: %v", err)
	}
	t.Cleanup(func() {
		if err := e.RemoveImage(context.Background(), tag); err != nil {
			t.Errorf("remove %s: %v", tag, err)
		}
	})
	return tag
}

// TestLocalImageFacts reads the facts of every local image from the engine
// with the image audit's layer reader, checks what the entries rely on, and
// lints the entries that use them against those facts.
func TestLocalImageFacts(t *testing.T) {
	const (
		busybox  = "dockerbank/busybox:1.36"
		postgres = "dockerbank/postgres:15"
		mariadb  = "dockerbank/mariadb:10.11"
	)
	if testing.Short() {
		t.Skip("reads every local image (about a minute): not with -short (make unit)")
	}
	testenv.RequireImages(t, busybox, postgres, mariadb)
	e, err := engine.Connect(t.Context(), engine.Options{})
	if err != nil {
		testenv.Missing(t, "engine: %v", err)
	}
	defer e.Close()
	demoApp := buildDemoApp(t, e)
	src, err := audit.NewBankFacts(t.Context(), "", e)
	if err != nil {
		t.Fatal(err)
	}
	facts := func(ref string) *bank.ImageFacts {
		t.Helper()
		f, err := src.ImageFacts(t.Context(), ref)
		if err != nil || f == nil || !f.FromImage {
			t.Fatalf("facts of %s: %v %v", ref, f, err)
		}
		return f
	}
	has := func(f *bank.ImageFacts, progs ...string) {
		t.Helper()
		for _, p := range progs {
			if _, ok := f.Executable(p); !ok {
				t.Errorf("%s: no program %s", f.Image, p)
			}
		}
	}
	lacks := func(f *bank.ImageFacts, progs ...string) {
		t.Helper()
		for _, p := range progs {
			if where, ok := f.Executable(p); ok {
				t.Errorf("%s: program %s found at %s, but the image has none", f.Image, p, where)
			}
		}
	}
	writable := func(f *bank.ImageFacts, user, dir string, want bool) {
		t.Helper()
		if ok, why := f.Writable(user, dir); ok != want {
			t.Errorf("%s: %s writable by %q = %v (%s), want %v", f.Image, dir, user, ok, why, want)
		}
	}

	bb := facts(busybox)
	has(bb, "sh", "test", "wget", "sleep")
	lacks(bb, "curl", "bash")
	if bb.User != "" || len(bb.Volumes) != 0 {
		t.Errorf("busybox: user %q volumes %v", bb.User, bb.Volumes)
	}

	pg := facts(postgres)
	has(pg, "pg_isready", "psql", "pg_dump", "/usr/local/bin/docker-entrypoint.sh")
	lacks(pg, "curl")
	if pg.User != "postgres" || !slices.Equal(pg.Volumes, []string{"/var/lib/postgresql/data"}) {
		t.Errorf("postgres: user %q volumes %v", pg.User, pg.Volumes)
	}
	writable(pg, "postgres", "/var/lib/postgresql/data", true)
	writable(pg, "postgres", "/srv/elsewhere", false)
	if i := pg.Interpreter("/usr/local/bin/docker-entrypoint.sh"); !strings.Contains(i, "sh") {
		t.Errorf("postgres entrypoint interpreter %q", i)
	}

	ma := facts(mariadb)
	has(ma, "mariadb-admin", "mariadb", "mariadb-dump")
	if ma.User != "mysql" || !slices.Equal(ma.Volumes, []string{"/var/lib/mysql"}) {
		t.Errorf("mariadb: user %q volumes %v", ma.User, ma.Volumes)
	}
	writable(ma, "mysql", "/var/lib/mysql", true)

	app := facts(demoApp)
	has(app, "/app/healthcheck", "/app/app.sh", "psql", "test")
	if app.User != "postgres" || !slices.Equal(app.Volumes, []string{"/audit", "/data", "/var/lib/postgresql/data"}) {
		t.Errorf("demo app: user %q volumes %v", app.User, app.Volumes)
	}
	if i := app.Interpreter("/app/healthcheck"); i != "/bin/sh" {
		t.Errorf("demo app healthcheck interpreter %q, want /bin/sh", i)
	}
	for _, d := range []string{"/data", "/audit", "/scratch", "/var/lib/postgresql/data"} {
		writable(app, "postgres", d, true)
	}

	// The entries that use these images pass, checked against the facts
	// read from the images (no record involved).
	lookup := aliasFacts{src: src, alias: map[string]string{"dockerbank/demo-app:2.0": demoApp, "dockerbank/demo-app:1.0": demoApp}}
	root := testenv.RepoRoot(t)
	for _, dir := range []string{
		filepath.Join(root, "bank", "entries", "demo"),
		filepath.Join(root, "internal", "bank", "testdata", "good", "minimal"),
		filepath.Join(root, "internal", "cli", "testdata", "drbank", "drmaria"),
		filepath.Join(root, "internal", "backup", "testdata", "bank", "bktest"),
	} {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			e, err := bank.LintDir(t.Context(), dir, bank.LintOptions{Facts: lookup})
			if err != nil {
				t.Fatalf("lint with image facts: %v", err)
			}
			if len(e.Facts) == 0 {
				t.Fatal("no image facts checked")
			}
			for _, f := range e.Facts {
				if f.From != "image" {
					t.Errorf("version %s service %s (%s): facts from %q, want the image", f.Version, f.Service, f.Image, f.From)
				}
			}
		})
	}

	// Orthanc from Debian packages, once the orthanc entry uses the local
	// image (scripts/images.sh builds it).
	orthanc, err := os.ReadFile(filepath.Join(root, "bank", "entries", "orthanc", "entry.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(orthanc), "dockerbank/orthanc:") {
		t.Log("the orthanc entry does not use a local image on this branch: not compared")
		return
	}
	testenv.RequireImages(t, "dockerbank/orthanc:1.10.1")
	ent, err := bank.LintDir(t.Context(), filepath.Join(root, "bank", "entries", "orthanc"), bank.LintOptions{Facts: src})
	if err != nil {
		t.Fatalf("lint orthanc with image facts: %v", err)
	}
	read := 0
	for _, f := range ent.Facts {
		if f.From == "image" {
			read++
		}
	}
	if read == 0 {
		t.Errorf("orthanc: no facts read from the local image: %+v", ent.Facts)
	}
}

// TestBankLintImageArchive lints entries against a `docker save` archive,
// without the engine: a health check calling curl in the busybox image
// fails at file:line, the same check with wget passes.
func TestBankLintImageArchive(t *testing.T) {
	const busybox = "dockerbank/busybox:1.36"
	testenv.RequireImages(t, busybox)
	e, err := engine.Connect(t.Context(), engine.Options{})
	if err != nil {
		testenv.Missing(t, "engine: %v", err)
	}
	defer e.Close()
	archive := filepath.Join(t.TempDir(), "images.tar")
	rc, err := e.SaveImage(t.Context(), busybox)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(archive)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(f, rc); err != nil {
		t.Fatal(err)
	}
	rc.Close()
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	write := func(probe string) string {
		dir := filepath.Join(t.TempDir(), "probe")
		files := map[string]string{
			"entry.yaml": `apiVersion: dockerbank/v1
id: probe
title: Probe
licence: Apache-2.0
distribution: {mode: redistributable}
defaultVersion: "1.0"
versions:
  - version: "1.0"
    images: {app: dockerbank/busybox:1.36}
curation: {reviewedBy: tests, reviewedOn: 2026-12-07}
`,
			"compose.yaml": `services:
  app:
    image: dockerbank/busybox:1.36
    healthcheck:
      test: ["CMD", "` + probe + `", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"]
    x-dockerbank: {role: app}
`,
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for n, c := range files {
			if err := os.WriteFile(filepath.Join(dir, n), []byte(c), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	run := func(dir string) (int, string) {
		var out, errb bytes.Buffer
		code := Main([]string{"bank", "lint", "--no-engine", "--image-archive", archive, dir}, Streams{In: strings.NewReader(""), Out: &out, Err: &errb})
		return code, out.String() + errb.String()
	}
	code, out := run(write("curl"))
	if code != ExitInvalid || !strings.Contains(out, "probe/compose.yaml:4: version 1.0: the healthcheck of service app calls curl, which image dockerbank/busybox:1.36 does not contain (facts read from the image)") {
		t.Errorf("curl probe: exit %d\n%s", code, out)
	}
	code, out = run(write("wget"))
	if code != 0 || !strings.Contains(out, "1 read from images") {
		t.Errorf("wget probe: exit %d\n%s", code, out)
	}
}

// TestBankLintAndShowEmbedded: the embedded bank passes bank lint against
// its curation records, and bank show says where each version's facts
// come from.
func TestBankLintAndShowEmbedded(t *testing.T) {
	run := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := Main(append([]string{"--site", t.TempDir()}, args...), Streams{In: strings.NewReader(""), Out: &out, Err: &errb})
		return code, out.String() + errb.String()
	}
	code, out := run("bank", "lint", "--no-engine", filepath.Join(testenv.RepoRoot(t), "bank", "entries"))
	if code != 0 || !strings.Contains(out, "9 entries checked, 0 problems") || !strings.Contains(out, "from curation records") {
		t.Errorf("bank lint of the embedded bank: exit %d\n%s", code, out)
	}
	code, out = run("bank", "show", "ohdsi")
	if code != 0 {
		t.Fatalf("bank show: exit %d\n%s", code, out)
	}
	for _, want := range []string{"image facts (what bank lint checks the entry against):", "2.14.0   webapi     ohdsi/webapi:2.14.0",
		"recorded: OHDSI/WebAPI Dockerfile of the 2.14 line", "startup", "webapi"} {
		if !strings.Contains(out, want) {
			t.Errorf("bank show ohdsi lacks %q:\n%s", want, out)
		}
	}
}
