package audit

import (
	"archive/tar"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// TestOCILayoutTarball audits the planted image written as an OCI layout
// (index.json, blobs/sha256) inside a tarball, as Docker 25+ saves images.
func TestOCILayoutTarball(t *testing.T) {
	img, wants := plantedImage(t)
	dir := t.TempDir()
	p, err := layout.Write(filepath.Join(dir, "layout"), empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	tarPath := filepath.Join(dir, "oci.tar")
	f, err := os.Create(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(f)
	if err := tw.AddFS(os.DirFS(string(p))); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	r := auditTarball(t, tarPath, Options{})
	wantDigest, _ := img.Digest()
	if r.Image.Digest != wantDigest.String() {
		t.Errorf("digest %q, want %q", r.Image.Digest, wantDigest)
	}
	for _, w := range wants {
		if f, ok := findingFor(r, w); !ok || f.DeletedInLayer != w.deletedIn {
			t.Errorf("%s layer %d %s: found %v, deleted in %d, want %d", w.rule, w.layer, w.path, ok, f.DeletedInLayer, w.deletedIn)
		}
	}
}

// TestFromImage audits a go-containerregistry image directly (the path
// registry images take).
func TestFromImage(t *testing.T) {
	img, wants := plantedImage(t)
	r, err := Image(t.Context(), FromImage("planted", img), Options{Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range wants {
		if _, ok := findingFor(r, w); !ok {
			t.Errorf("%s layer %d %s not found", w.rule, w.layer, w.path)
		}
	}
}

// TestFromRegistry pushes the planted image to an in-memory registry on
// the loopback interface and audits it from there.
func TestFromRegistry(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	img, wants := plantedImage(t)
	ref := strings.TrimPrefix(srv.URL, "http://") + "/bank/planted:1"
	tag, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img, remote.WithContext(t.Context())); err != nil {
		t.Fatal(err)
	}
	r, err := Image(t.Context(), FromRegistry(ref), Options{Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	if r.Image.Digest != want.String() || r.Image.Ref != ref {
		t.Errorf("digest %q ref %q, want %q %q", r.Image.Digest, r.Image.Ref, want, ref)
	}
	for _, w := range wants {
		if f, ok := findingFor(r, w); !ok || f.DeletedInLayer != w.deletedIn || f.ImageDigest != want.String() {
			t.Errorf("%s layer %d %s: found %v, deleted in %d (want %d), digest %q", w.rule, w.layer, w.path, ok, f.DeletedInLayer, w.deletedIn, f.ImageDigest)
		}
	}
	if _, err := Image(t.Context(), FromRegistry(strings.TrimPrefix(srv.URL, "http://")+"/bank/missing:1"), Options{}); err == nil {
		t.Error("missing image: no error")
	}
}
