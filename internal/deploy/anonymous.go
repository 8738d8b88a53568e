package deploy

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/dockerbank/dockerbank/internal/engine"
)

// Anonymous volumes left by earlier versions of dockerbank (which removed
// containers without their anonymous volumes) carry no labels and no trace
// of the container that created them. gc removes one only when that loses
// nothing and it provably comes from us: no container mounts it, and its
// content is exactly what one of the bank's images puts at a VOLUME path
// (Docker copies that into a new anonymous volume), so nothing was ever
// written into it. Any other anonymous volume is listed by `volumes
// --orphaned` and left alone.

// pristineAnonymous returns the names of the unattached anonymous volumes
// of vols whose content is a pristine copy of a VOLUME path of one of the
// images. Volumes whose mountpoint is not readable here (a remote engine)
// are skipped.
func (m *Manager) pristineAnonymous(ctx context.Context, vols []VolumeInfo, images []string) ([]string, error) {
	var cands []VolumeInfo
	for _, v := range vols {
		if v.Orphaned != "anonymous" || v.RefCount != 0 || v.Mountpoint == "" {
			continue
		}
		if st, err := os.Stat(v.Mountpoint); err != nil || !st.IsDir() {
			continue
		}
		cands = append(cands, v)
	}
	if len(cands) == 0 {
		return nil, nil
	}
	var pristine [][]string // content signatures of the images' VOLUME paths
	for _, img := range images {
		paths, err := m.Engine.ImageVolumes(ctx, img)
		if errors.Is(err, engine.ErrNotFound) {
			continue // not on this engine
		}
		if err != nil {
			return nil, err
		}
		for _, p := range paths {
			sig, err := m.imagePathSignature(ctx, img, p)
			if err != nil {
				return nil, err
			}
			pristine = append(pristine, sig)
		}
	}
	var out []string
	for _, v := range cands {
		sig, err := dirSignature(v.Mountpoint)
		if err != nil {
			continue
		}
		for _, p := range pristine {
			if slices.Equal(sig, p) {
				out = append(out, v.Name)
				break
			}
		}
	}
	return out, nil
}

// imagePathSignature reads what image holds at path, through a helper
// container that is created, never started, and removed with its
// anonymous volumes.
func (m *Manager) imagePathSignature(ctx context.Context, image, path string) ([]string, error) {
	id, err := m.Engine.CreateHelper(ctx, engine.HelperOptions{Image: image})
	if err != nil {
		return nil, err
	}
	defer m.Engine.RemoveContainer(context.WithoutCancel(ctx), id)
	rc, err := m.Engine.CopyFrom(ctx, id, strings.TrimSuffix(path, "/")+"/.")
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return tarSignature(rc)
}

// A signature lists every entry below a directory's root (the root itself
// is left out) as "path type mode uid:gid size sha256", sorted.
func tarSignature(r io.Reader) ([]string, error) {
	tr := tar.NewReader(r)
	var out []string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read image content: %w", err)
		}
		// The engine names the members of an archive of "DIR/." "./...".
		name := strings.Trim(strings.TrimPrefix(h.Name, "./"), "/")
		if name == "" || name == "." {
			continue
		}
		typ, sum := "other", ""
		switch h.Typeflag {
		case tar.TypeReg:
			typ = "file"
			hh := sha256.New()
			io.Copy(hh, tr)
			sum = hex.EncodeToString(hh.Sum(nil))
		case tar.TypeDir:
			typ = "dir"
		case tar.TypeSymlink:
			typ, sum = "symlink", h.Linkname
		}
		out = append(out, fmt.Sprintf("%s %s %o %d:%d %d %s", name, typ, h.Mode&0o7777, h.Uid, h.Gid, sizeOf(typ, h.Size), sum))
	}
	slices.Sort(out)
	return out, nil
}

func dirSignature(root string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		typ, sum := "other", ""
		switch {
		case fi.Mode().IsRegular():
			typ = "file"
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			hh := sha256.New()
			io.Copy(hh, f)
			f.Close()
			sum = hex.EncodeToString(hh.Sum(nil))
		case fi.IsDir():
			typ = "dir"
		case fi.Mode()&fs.ModeSymlink != 0:
			typ = "symlink"
			sum, _ = os.Readlink(p)
		}
		uid, gid := 0, 0
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			uid, gid = int(st.Uid), int(st.Gid)
		}
		mode := int64(fi.Mode().Perm())
		if fi.Mode()&fs.ModeSetuid != 0 {
			mode |= 0o4000
		}
		if fi.Mode()&fs.ModeSetgid != 0 {
			mode |= 0o2000
		}
		if fi.Mode()&fs.ModeSticky != 0 {
			mode |= 0o1000
		}
		out = append(out, fmt.Sprintf("%s %s %o %d:%d %d %s", filepath.ToSlash(rel), typ, mode, uid, gid, sizeOf(typ, fi.Size()), sum))
		return nil
	})
	slices.Sort(out)
	return out, err
}

func sizeOf(typ string, n int64) int64 {
	if typ != "file" {
		return 0
	}
	return n
}
