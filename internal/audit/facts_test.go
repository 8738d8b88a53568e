package audit

import (
	"archive/tar"
	"bytes"
	"io"
	"slices"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// factsLayer writes a layer from tar headers (content for regular files).
func factsLayer(t *testing.T, entries []tar.Header, content map[string]string) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range entries {
		h.ModTime = testNow
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(content[h.Name]))
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			io.WriteString(tw, content[h.Name])
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestReadFacts reads the facts bank lint needs from a two-layer image:
// links, modes and owners, #! lines, the passwd file, and what a later
// layer deleted (whiteout) or replaced (opaque directory).
func TestReadFacts(t *testing.T) {
	base := factsLayer(t, []tar.Header{
		{Name: "usr/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "usr/bin/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "usr/bin/dash", Typeflag: tar.TypeReg, Mode: 0o755},
		{Name: "usr/bin/sh", Typeflag: tar.TypeSymlink, Linkname: "dash"},
		{Name: "bin", Typeflag: tar.TypeSymlink, Linkname: "usr/bin"},
		{Name: "etc/passwd", Typeflag: tar.TypeReg, Mode: 0o644},
		{Name: "etc/motd", Typeflag: tar.TypeReg, Mode: 0o644},
		{Name: "opt/app/run.sh", Typeflag: tar.TypeReg, Mode: 0o755},
		{Name: "old/tool", Typeflag: tar.TypeReg, Mode: 0o755},
		{Name: "data/", Typeflag: tar.TypeDir, Mode: 0o750, Uid: 1000, Gid: 1000},
		{Name: "data/stale", Typeflag: tar.TypeReg, Mode: 0o755},
	}, map[string]string{
		"usr/bin/dash": "\x7fELF\x00", "etc/passwd": "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/data:/bin/sh\n",
		"etc/motd": "hello", "opt/app/run.sh": "#!/bin/bash -e\necho run\n", "old/tool": "\x7fELF", "data/stale": "#!/bin/sh\n",
	})
	top := factsLayer(t, []tar.Header{
		{Name: "old/.wh.tool", Typeflag: tar.TypeReg},
		{Name: "data/", Typeflag: tar.TypeDir, Mode: 0o700, Uid: 1000, Gid: 1000},
		{Name: "data/.wh..wh..opq", Typeflag: tar.TypeReg},
		{Name: "data/fresh", Typeflag: tar.TypeReg, Mode: 0o755},
	}, map[string]string{"data/fresh": "#!/bin/sh\n"})
	img, err := mutate.AppendLayers(empty.Image, base, top)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.Config = v1.Config{User: "app", Env: []string{"LANG=C", "PATH=/usr/local/bin:/usr/bin:/bin"}, Volumes: map[string]struct{}{"/data": {}, "/cache": {}}}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	file := saveTarball(t, img, "example.org/facts:1")

	all, err := ReadArchiveFacts(t.Context(), file)
	if err != nil {
		t.Fatal(err)
	}
	f := all["example.org/facts:1"]
	if f == nil {
		t.Fatalf("archive facts lack the tag: %v", all)
	}
	if single, err := ReadFacts(t.Context(), FromTarball(file, "")); err != nil || len(single.Files) != len(f.Files) {
		t.Errorf("ReadFacts from the tarball: %v, %d files, want %d", err, len(single.Files), len(f.Files))
	}
	if f.User != "app" || !slices.Equal(f.Path, []string{"/usr/local/bin", "/usr/bin", "/bin"}) || !slices.Equal(f.Volumes, []string{"/cache", "/data"}) {
		t.Errorf("config facts: user %q path %v volumes %v", f.User, f.Path, f.Volumes)
	}
	checks := map[string]FileFact{
		"bin":            {Link: "usr/bin"},
		"usr/bin/sh":     {Link: "dash"},
		"usr/bin/dash":   {Mode: 0o755},
		"opt/app/run.sh": {Mode: 0o755, Shebang: "/bin/bash -e"},
		"data":           {Dir: true, Mode: 0o700, UID: 1000, GID: 1000},
		"data/fresh":     {Mode: 0o755, Shebang: "/bin/sh"},
	}
	for p, want := range checks {
		got, ok := f.Files[p]
		if !ok || got.Dir != want.Dir || got.Link != want.Link || got.Mode&0o7777 != want.Mode || got.UID != want.UID || got.Shebang != want.Shebang {
			t.Errorf("%s = %+v (present %v), want %+v", p, got, ok, want)
		}
	}
	for _, gone := range []string{"old/tool", "data/stale", "etc/motd"} {
		if _, ok := f.Files[gone]; ok {
			t.Errorf("%s is in the facts, but it was deleted or is not a program", gone)
		}
	}
	if !bytes.Contains([]byte(f.Passwd), []byte("app:x:1000")) {
		t.Errorf("passwd %q", f.Passwd)
	}
}
