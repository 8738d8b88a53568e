package backup

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/dockerbank/dockerbank/internal/engine"
	"github.com/dockerbank/dockerbank/internal/instance/label"
)

// captureTar stores a volume as one tar stream from the archive API of a
// helper container that mounts it read-only (for engines on other hosts,
// or mountpoints this process cannot read).
func (j *Job) captureTar(ctx context.Context, repo *Restic, m *Manifest, mb Member, volume string, tags []string, staging string) (Member, error) {
	id, err := j.engine().CreateHelper(ctx, engine.HelperOptions{Image: j.helperImage(),
		Mounts: []engine.VolumeMount{{Volume: volume, Target: "/volume", ReadOnly: true}},
		Labels: map[string]string{label.Helper: m.Instance}})
	if err != nil {
		return Member{}, fmt.Errorf("volume %s: %w; build it with scripts/images.sh", mb.Volume, err)
	}
	defer j.engine().RemoveContainer(context.Background(), id)
	rc, err := j.engine().CopyFrom(ctx, id, "/volume/.")
	if err != nil {
		return Member{}, fmt.Errorf("volume %s: %w", mb.Volume, err)
	}
	defer rc.Close()
	d := newDigest()
	pr, pw := io.Pipe()
	idx := &tarIndex{}
	idxErr := make(chan error, 1)
	go func() {
		err := idx.index(pr, "")
		pr.CloseWithError(err)
		idxErr <- err
	}()
	src := &cancelReader{r: io.TeeReader(io.TeeReader(rc, d), pw)}
	sum, err := repo.backupStdinCancel(ctx, src, mb.Volume+".tar", tags)
	pw.Close()
	ierr := <-idxErr
	if err != nil {
		return Member{}, fmt.Errorf("volume %s: %w", mb.Volume, err)
	}
	if ierr != nil {
		return Member{}, fmt.Errorf("volume %s: %w", mb.Volume, ierr)
	}
	// The archive API gives no order to walk beside: this index is
	// built in memory.
	iw, err := createIndex(filepath.Join(staging, indexName(mb.Volume)))
	if err != nil {
		return Member{}, err
	}
	for i := range idx.files {
		if err := iw.add(&idx.files[i]); err != nil {
			iw.close()
			return Member{}, err
		}
	}
	if err := iw.close(); err != nil {
		return Member{}, err
	}
	mb.Index, mb.Root, mb.Snapshot, mb.Added = indexName(mb.Volume), idx.root, sum.SnapshotID, sum.DataAdded
	mb.Count, mb.Bytes = iw.count, iw.bytes
	mb.Streams = []Stream{{Name: mb.Volume + ".tar", Size: d.n, SHA256: d.Sum()}}
	return mb, nil
}
