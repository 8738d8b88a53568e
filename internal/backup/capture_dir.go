package backup

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// captureDir stores a volume read through its host mountpoint: restic
// reads the directory (skipping files unchanged since its parent
// snapshot) while the manifest's index of the volume is walked beside it.
func (j *Job) captureDir(ctx context.Context, repo *Restic, m *Manifest, mb Member, dir string, tags []string, staging string) (Member, error) {
	// The manifest's walk (digests of new and changed files) runs
	// beside restic: both read the same files, mostly from the page
	// cache, and restic leaves CPU to spare while it waits for I/O.
	idxPath := filepath.Join(staging, indexName(mb.Volume))
	iw, err := createIndex(idxPath)
	if err != nil {
		return Member{}, err
	}
	prev, closePrev := j.previousIndex(m.Instance, mb.Volume)
	defer closePrev()
	var root *FileRecord
	walked := make(chan error, 1)
	go func() {
		var err error
		root, err = walkVolume(dir, prev, iw.add)
		err = errors.Join(err, iw.close())
		crashPoint("files-walked")
		walked <- err
	}()
	sum, err := repo.BackupDir(ctx, dir, tags, j.statusOf(m.Instance, mb.Volume))
	if werr := <-walked; werr != nil {
		return Member{}, werr
	}
	if err != nil {
		return Member{}, fmt.Errorf("volume %s: %w", mb.Volume, err)
	}
	if mb.Live {
		n, err := settleIndex(dir, idxPath)
		if err != nil {
			return Member{}, err
		}
		if n > 0 {
			j.step("  %s: %d file(s) changed during the live capture; their digests are not recorded", mb.Volume, n)
		}
	}
	mb.Index, mb.Root, mb.Snapshot, mb.Added = indexName(mb.Volume), root, sum.SnapshotID, sum.DataAdded
	mb.Count, mb.Bytes = iw.count, iw.bytes
	j.step("  %s: restic read %d new, %d changed, %d unchanged files", mb.Volume, sum.FilesNew, sum.FilesChanged, sum.FilesUnchanged)
	return mb, nil
}

func dirEmpty(dir string) (bool, error) {
	f, err := os.Open(dir)
	if err != nil {
		return false, err
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	if errors.Is(err, io.EOF) {
		return true, nil
	}
	return len(names) == 0, err
}

// captureEmpty stores an empty volume as a tar stream of its root
// directory (restic refuses to save an empty snapshot).
func (j *Job) captureEmpty(ctx context.Context, repo *Restic, mb Member, dir string, tags []string) (Member, error) {
	fi, err := os.Lstat(dir)
	if err != nil {
		return Member{}, fmt.Errorf("volume %s: %w", mb.Volume, err)
	}
	root := recordOf(".", fi)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	err = tw.WriteHeader(&tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: int64(fi.Mode().Perm()), Uid: root.UID, Gid: root.GID, ModTime: root.MTime})
	if err == nil {
		err = tw.Close()
	}
	if err != nil {
		return Member{}, fmt.Errorf("volume %s: %w", mb.Volume, err)
	}
	st, sum, err := storeBytes(ctx, repo, buf.Bytes(), mb.Volume+".tar", tags)
	if err != nil {
		return Member{}, fmt.Errorf("volume %s: %w", mb.Volume, err)
	}
	mb.Mode, mb.Root, mb.Snapshot, mb.Added = ModeTar, &root, sum.SnapshotID, sum.DataAdded
	mb.Streams = []Stream{st}
	j.step("  %s: empty volume", mb.Volume)
	return mb, nil
}
