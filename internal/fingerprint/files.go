package fingerprint

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/dockerbank/dockerbank/internal/bank"
	"github.com/dockerbank/dockerbank/internal/engine"
)

// fileItems fingerprints every regular file and symlink of a volume: from
// its host mountpoint where dockerbank runs on the engine's host, else
// through the archive API of a helper container.
func fileItems(ctx context.Context, e Engine, t Target, s bank.FingerprintSpec, ref *Part) ([]Item, error) {
	refs := map[string]Item{}
	if ref != nil && s.AppendOnly {
		for _, it := range ref.Items {
			refs[it.ID] = it
		}
	}
	vname := t.volume(s.Volume)
	vol, err := e.InspectVolume(ctx, vname)
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(vol.HostDir()); err == nil && st.IsDir() && vol.HostDir() != "" {
		return walkItems(vol.HostDir(), refs)
	}
	rc, err := volumeTar(ctx, e, t, vname)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return tarItems(rc, refs)
}

// volumeTar streams a volume as a tar archive through the archive API of
// a read-only helper container (when its mountpoint is not readable here:
// a remote engine); Close ends the stream and removes the helper.
func volumeTar(ctx context.Context, e Engine, t Target, vname string) (io.ReadCloser, error) {
	img := t.HelperImage
	if img == "" {
		img = "dockerbank/busybox:1.36"
	}
	id, err := e.CreateHelper(ctx, engine.HelperOptions{Image: img, Mounts: []engine.VolumeMount{{Volume: vname, Target: "/volume", ReadOnly: true}}})
	if err != nil {
		return nil, err
	}
	rc, err := e.CopyFrom(ctx, id, "/volume/.")
	if err != nil {
		e.RemoveContainer(context.WithoutCancel(ctx), id)
		return nil, err
	}
	return helperStream{ReadCloser: rc, remove: func() { e.RemoveContainer(context.WithoutCancel(ctx), id) }}, nil
}

// helperStream removes its helper container once closed.
type helperStream struct {
	io.ReadCloser
	remove func()
}

func (h helperStream) Close() error {
	err := h.ReadCloser.Close()
	h.remove()
	return err
}

func walkItems(root string, refs map[string]Item) ([]Item, error) {
	var items []Item
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			items = append(items, Item{ID: rel, Digest: "symlink:" + target})
		case d.Type().IsRegular():
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			it, err := fileItem(rel, f, refs)
			f.Close()
			if err != nil {
				return err
			}
			items = append(items, it)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read volume: %w", err)
	}
	return items, nil
}

func tarItems(r io.Reader, refs map[string]Item) ([]Item, error) {
	tr := tar.NewReader(r)
	var items []Item
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return items, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read volume archive: %w", err)
		}
		name := strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		if name == "" || name == "." {
			continue
		}
		switch h.Typeflag {
		case tar.TypeSymlink:
			items = append(items, Item{ID: name, Digest: "symlink:" + h.Linkname})
		case tar.TypeReg:
			it, err := fileItem(name, tr, refs)
			if err != nil {
				return nil, err
			}
			items = append(items, it)
		}
	}
}

// fileItem hashes a file; a file of an append-only volume that grew since
// the reference is fingerprinted over the reference's length.
func fileItem(id string, r io.Reader, refs map[string]Item) (Item, error) {
	full := sha256.New()
	var prefix hash.Hash
	var limit int64 = -1
	if ref, ok := refs[id]; ok {
		prefix, limit = sha256.New(), ref.Size
	}
	w := &splitHash{full: full, prefix: prefix, limit: limit}
	n, err := io.Copy(w, r)
	if err != nil {
		return Item{}, fmt.Errorf("read %s: %w", id, err)
	}
	if prefix != nil && n > limit {
		return Item{ID: id, Size: limit, Digest: "sha256:" + hex.EncodeToString(prefix.Sum(nil)), Later: n - limit}, nil
	}
	return Item{ID: id, Size: n, Digest: "sha256:" + hex.EncodeToString(full.Sum(nil))}, nil
}

// splitHash feeds everything to full and the first limit bytes to prefix.
type splitHash struct {
	full, prefix hash.Hash
	limit, n     int64
}

func (s *splitHash) Write(p []byte) (int, error) {
	s.full.Write(p)
	if s.prefix != nil && s.n < s.limit {
		k := min(int64(len(p)), s.limit-s.n)
		s.prefix.Write(p[:k])
	}
	s.n += int64(len(p))
	return len(p), nil
}
