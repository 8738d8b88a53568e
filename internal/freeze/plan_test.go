package freeze

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/dockerbank/dockerbank/internal/engine"
	"github.com/dockerbank/dockerbank/internal/instance/label"
	"github.com/dockerbank/dockerbank/internal/site"
)

func TestValidate(t *testing.T) {
	ok := Options{Instance: "demo", Service: "app", To: "x.tar"}
	tests := []struct {
		name string
		mod  func(*Options)
		want []string // substrings of the error; nil means valid
	}{
		{"valid", func(*Options) {}, nil},
		{"allow data with a reason", func(o *Options) { o.AllowData, o.Reason = true, "ticket 42" }, nil},
		{"no file", func(o *Options) { o.To = " " }, []string{"--to FILE is required"}},
		{"allow data without reason", func(o *Options) { o.AllowData = true }, []string{"--allow-data needs --reason"}},
		{"blank reason", func(o *Options) { o.AllowData, o.Reason = true, "  " }, []string{"--allow-data needs --reason"}},
		{"reason without allow data", func(o *Options) { o.Reason = "why" }, []string{"--reason is only for --allow-data"}},
		{"every problem at once", func(o *Options) { o.To, o.AllowData = "", true }, []string{"--to FILE", "--allow-data needs --reason"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := ok
			tc.mod(&o)
			err := o.Validate()
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate passed, want %v", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestLabelsBlankTheDeploymentsAndSayWhereFrom(t *testing.T) {
	at := time.Date(2026, 12, 7, 9, 30, 0, 0, time.FixedZone("CET", 3600))
	src := Source{
		ContainerID: "c0ffee", Image: "dockerbank/demo-app:2.0", ImageID: "sha256:abc",
		Labels: map[string]string{
			"com.docker.compose.project": "demo", label.Instance: "demo", "org.opencontainers.image.title": "demo-app",
			"maintainer": "changed by compose",
		},
		ImageLabels: map[string]string{"org.opencontainers.image.title": "demo-app", "maintainer": "dockerbank"},
	}
	got := Labels(src, Options{Instance: "demo", Service: "app", AllowData: true, Reason: "ticket 42"}, at)
	want := map[string]string{
		"com.docker.compose.project":     "",
		label.Instance:                   "",
		"org.opencontainers.image.title": "demo-app",
		"maintainer":                     "dockerbank",
		label.FrozenInstance:             "demo",
		label.FrozenService:              "app",
		label.FrozenImage:                "dockerbank/demo-app:2.0",
		label.FrozenImageID:              "sha256:abc",
		label.FrozenContainer:            "c0ffee",
		label.FrozenAt:                   "2026-12-07T08:30:00Z",
		label.FrozenAllowData:            "ticket 42",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	if _, ok := Labels(src, Options{Instance: "demo", Service: "app"}, at)[label.FrozenAllowData]; ok {
		t.Errorf("a clean freeze carries %s", label.FrozenAllowData)
	}
	if tag := Tag("Demo", "app", at); tag != "dockerbank-frozen/demo-app:20261207T083000Z" {
		t.Errorf("Tag = %s", tag)
	}
}

// fakeEngine commits nothing: its "committed image" is a save tarball
// built in memory.
type fakeEngine struct {
	save    []byte
	removed []string
	ref     string
}

func (f *fakeEngine) CommitContainer(_ context.Context, id string, o engine.CommitOptions) (string, error) {
	f.ref = o.Ref
	return "sha256:fake", nil
}

func (f *fakeEngine) SaveImage(context.Context, string) (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(f.save)), nil
}

func (f *fakeEngine) RemoveImage(_ context.Context, ref string) error {
	f.removed = append(f.removed, ref)
	return nil
}

type memJournal struct{ recs []site.Record }

func (m *memJournal) Append(r site.Record) error { m.recs = append(m.recs, r); return nil }

// saveWithTop is a docker save tarball whose top layer holds files.
func saveWithTop(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var lb bytes.Buffer
	tw := tar.NewWriter(&lb)
	for n, c := range files {
		tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(c)), Typeflag: tar.TypeReg})
		tw.Write([]byte(c))
	}
	tw.Close()
	b := lb.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := tarball.Write(name.MustParseReference("dockerbank-frozen/demo-app:1"), img, &out); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func TestRunRefusesDataAndLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	to := filepath.Join(dir, "app.tar")
	e := &fakeEngine{save: saveWithTop(t, map[string]string{"tmp/export/patients.csv": "patient_id,name,birth_date,diagnosis\n1,A B,1970-01-01,J45\n"})}
	j := &memJournal{}
	o := Options{Instance: "demo", Service: "app", To: to}
	res, err := Run(t.Context(), e, j, nil, Source{ContainerID: "c1"}, o)
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "/tmp/export/patients.csv") {
		t.Fatalf("Run = %v, want a refusal naming /tmp/export/patients.csv", err)
	}
	if res == nil || len(res.Findings) != 1 {
		t.Fatalf("result %+v, want one blocking finding", res)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Errorf("files left behind: %v", entries)
	}
	if len(e.removed) != 1 {
		t.Errorf("refused image not removed (removed %v)", e.removed)
	}
	if len(j.recs) != 1 || j.recs[0].Outcome != "refused" || !strings.Contains(j.recs[0].Detail, "tmp/export/patients.csv") {
		t.Errorf("journal %+v, want one refused record naming the path", j.recs)
	}

	// Allowed: the archive is written, the image kept, the reason journaled.
	o.AllowData, o.Reason = true, "ticket 42"
	e.removed = nil
	res, err = Run(t.Context(), e, j, nil, Source{ContainerID: "c1"}, o)
	if err != nil {
		t.Fatal(err)
	}
	if res.AllowedBy != "ticket 42" || res.File != to || len(e.removed) != 0 {
		t.Errorf("result %+v removed %v", res, e.removed)
	}
	if st, err := os.Stat(to); err != nil || st.Size() != int64(len(e.save)) || res.Size != st.Size() {
		t.Errorf("archive %v %v, want %d bytes (the whole save stream)", st, err, len(e.save))
	}
	if _, err := os.Stat(to + ".partial"); !os.IsNotExist(err) {
		t.Errorf("partial file left: %v", err)
	}
	last := j.recs[len(j.recs)-1]
	if last.Outcome != "ok" || !strings.Contains(last.Detail, `"ticket 42"`) || !strings.Contains(last.Detail, "patients.csv") {
		t.Errorf("journal %+v", last)
	}

	// The file exists now: refused without --force.
	if _, err := Run(t.Context(), e, j, nil, Source{ContainerID: "c1"}, o); !errors.Is(err, ErrFileExists) {
		t.Errorf("second run = %v, want ErrFileExists", err)
	}
	o.Force = true
	if _, err := Run(t.Context(), e, j, nil, Source{ContainerID: "c1"}, o); err != nil {
		t.Errorf("--force: %v", err)
	}
}

func TestRunWritesACleanLayer(t *testing.T) {
	to := filepath.Join(t.TempDir(), "app.tar")
	e := &fakeEngine{save: saveWithTop(t, map[string]string{"tmp/run.log": "started\n", "tmp/.wh.patients.csv": ""})}
	j := &memJournal{}
	res, err := Run(t.Context(), e, j, nil, Source{ContainerID: "c1"}, Options{Instance: "demo", Service: "app", To: to})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Findings) != 0 || res.AllowedBy != "" || res.Layer.Whiteouts != 1 {
		t.Errorf("result %+v layer %+v", res, res.Layer)
	}
	if len(j.recs) != 1 || j.recs[0].Outcome != "ok" {
		t.Errorf("journal %+v", j.recs)
	}
}
