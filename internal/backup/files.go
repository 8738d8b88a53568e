package backup

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// fileKey identifies an unchanged file between two backups, so its digest
// is reused instead of read again.
type fileKey struct {
	path  string
	size  int64
	mtime int64
	ctime int64
	ino   uint64
}

// walkVolume passes every entry below root, in WalkDir order, to emit,
// with owner, mode, mtime, link target and, for regular files, sha256;
// it returns the record of root itself. Digests of files unchanged since
// the index prev (same size, mtime, ctime and inode) are reused.
func walkVolume(root string, prev *indexReader, emit func(*FileRecord) error) (rootRec *FileRecord, err error) {
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, werr error) error {
		if werr != nil {
			return werr
		}
		rel, _ := filepath.Rel(root, path)
		fi, err := os.Lstat(path)
		if err != nil {
			return err
		}
		rec := recordOf(filepath.ToSlash(rel), fi)
		if fi.Mode().Type() == fs.ModeSymlink {
			rec.Link, _ = os.Readlink(path)
		}
		if fi.Mode().IsRegular() {
			k := keyOf(rec.Path, fi)
			if rec.SHA256 = prev.digest(rec.Path, k); rec.SHA256 == "" {
				if rec.SHA256, err = hashFile(path); err != nil {
					return err
				}
			}
			rec.Ino, rec.CTime = k.ino, k.ctime
		}
		if rel == "." {
			rootRec = &rec
			return nil
		}
		return emit(&rec)
	})
	if err != nil {
		return nil, fmt.Errorf("read volume files at %s: %w", root, err)
	}
	return rootRec, nil
}

// walkDir is walkVolume into memory, for drills.
func walkDir(root string) (files []FileRecord, rootRec *FileRecord, err error) {
	rootRec, err = walkVolume(root, nil, func(r *FileRecord) error {
		files = append(files, *r)
		return nil
	})
	return files, rootRec, err
}

func keyOf(path string, fi fs.FileInfo) fileKey {
	k := fileKey{path: path, size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		k.ctime = st.Ctim.Nano()
		k.ino = st.Ino
	}
	return k
}

func recordOf(rel string, fi fs.FileInfo) FileRecord {
	rec := FileRecord{Path: rel, Mode: uint32(fi.Mode().Perm() | fi.Mode()&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)), MTime: fi.ModTime().UTC()}
	switch {
	case fi.Mode().IsRegular():
		rec.Type, rec.Size = "file", fi.Size()
	case fi.IsDir():
		rec.Type = "dir"
	case fi.Mode().Type() == fs.ModeSymlink:
		rec.Type = "symlink"
	default:
		rec.Type = "other"
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		rec.UID, rec.GID = int(st.Uid), int(st.Gid)
	}
	return rec
}

func hashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// tarIndex reads a tar stream (as written by the engine's archive API or
// restic dump) and records its entries relative to the top directory.
type tarIndex struct {
	files  []FileRecord
	root   *FileRecord
	byName map[string]int
}

// index consumes r completely.
func (t *tarIndex) index(r io.Reader, top string) error {
	tr := tar.NewReader(r)
	t.byName = map[string]int{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			io.Copy(io.Discard, r)
			return nil
		}
		if err != nil {
			return fmt.Errorf("read tar stream: %w", err)
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(h.Name, "./"), top)
		rel = strings.Trim(rel, "/")
		if rel == "" {
			rel = "."
		}
		rec := FileRecord{Path: rel, Mode: uint32(h.FileInfo().Mode().Perm() | h.FileInfo().Mode()&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)),
			UID: h.Uid, GID: h.Gid, MTime: h.ModTime.UTC()}
		switch h.Typeflag {
		case tar.TypeReg:
			rec.Type, rec.Size = "file", h.Size
			hh := sha256.New()
			if _, err := io.Copy(hh, tr); err != nil {
				return fmt.Errorf("read tar member %s: %w", h.Name, err)
			}
			rec.SHA256 = hex.EncodeToString(hh.Sum(nil))
		case tar.TypeDir:
			rec.Type = "dir"
		case tar.TypeSymlink:
			rec.Type, rec.Link = "symlink", h.Linkname
		case tar.TypeLink:
			// A hard link: same content as the member it names.
			target := strings.Trim(strings.TrimPrefix(strings.TrimPrefix(h.Linkname, "./"), top), "/")
			i, ok := t.byName[target]
			if !ok {
				return fmt.Errorf("read tar stream: hard link %s to unknown %s", h.Name, h.Linkname)
			}
			rec.Type, rec.Size, rec.SHA256 = "file", t.files[i].Size, t.files[i].SHA256
		default:
			rec.Type = "other"
		}
		if rel == "." {
			t.root = &rec
			continue
		}
		t.byName[rel] = len(t.files)
		t.files = append(t.files, rec)
	}
}

// compareFiles lists the differences between the manifest's records and
// what a restored volume holds. Digests absent in want (files that changed
// during a live capture) are not compared. mtimes compare to the second
// (cut down or rounded) when either side came from a tar header without
// sub-second times.
func compareFiles(want, got []FileRecord) []string {
	byPath := map[string]FileRecord{}
	for _, g := range got {
		byPath[g.Path] = g
	}
	var diffs []string
	for _, w := range want {
		g, ok := byPath[w.Path]
		if !ok {
			diffs = append(diffs, "missing "+w.Path)
			continue
		}
		delete(byPath, w.Path)
		switch {
		case g.Type != w.Type:
			diffs = append(diffs, fmt.Sprintf("%s: type %s, want %s", w.Path, g.Type, w.Type))
		case w.SHA256 != "" && g.SHA256 != w.SHA256:
			diffs = append(diffs, fmt.Sprintf("%s: sha256 differs", w.Path))
		case g.UID != w.UID || g.GID != w.GID:
			diffs = append(diffs, fmt.Sprintf("%s: owner %d:%d, want %d:%d", w.Path, g.UID, g.GID, w.UID, w.GID))
		case g.Mode != w.Mode:
			diffs = append(diffs, fmt.Sprintf("%s: mode %o, want %o", w.Path, g.Mode, w.Mode))
		case g.Link != w.Link:
			diffs = append(diffs, fmt.Sprintf("%s: link %q, want %q", w.Path, g.Link, w.Link))
		case w.Type == "file" && w.SHA256 == "":
			// Changed while a live capture read it (settleIndex): the
			// group holds whatever restic read, at whatever time.
		case w.Type != "symlink" && w.Type != "dir" && !sameTime(g.MTime, w.MTime):
			diffs = append(diffs, fmt.Sprintf("%s: mtime %s, want %s", w.Path, g.MTime.Format(time.RFC3339Nano), w.MTime.Format(time.RFC3339Nano)))
		}
	}
	var extra []string
	for p := range byPath {
		extra = append(extra, p)
	}
	sort.Strings(extra)
	for _, p := range extra {
		diffs = append(diffs, "unexpected "+p)
	}
	return diffs
}

// sameTime compares mtimes. A side without sub-second time came from a
// tar header: the engine's archive API cuts the fraction off, restic
// 0.14's dump rounds it to the nearest second; both are the same time.
func sameTime(a, b time.Time) bool {
	if a.Equal(b) {
		return true
	}
	if b.Nanosecond() == 0 {
		a, b = b, a
	}
	if a.Nanosecond() == 0 {
		return a.Equal(b.Truncate(time.Second)) || a.Equal(b.Round(time.Second))
	}
	return false
}
