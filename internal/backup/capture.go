package backup

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/dockerbank/dockerbank/internal/bank"
	"github.com/dockerbank/dockerbank/internal/progress"
)

// captureFiles stores one file volume: through its host mountpoint when
// readable (capture_dir.go), else through a helper container's archive
// (capture_tar.go), unless the job forces a mode.
func (j *Job) captureFiles(ctx context.Context, repo *Restic, m *Manifest, f FileStep, staging string) (Member, error) {
	vol, err := j.engine().InspectVolume(ctx, f.Name)
	if err != nil {
		return Member{}, fmt.Errorf("volume %s: %w", f.Volume, err)
	}
	mode := j.Via
	if mode == "" {
		mode = ModeTar
		if st, err := os.Stat(vol.HostDir()); err == nil && st.IsDir() && vol.HostDir() != "" {
			mode = ModeDir
		}
	}
	mb := Member{Volume: f.Volume, Kind: KindFiles, Method: bank.BackupFiles, Mode: mode, Live: f.Live()}
	start := time.Now()
	tags := groupTags(m, f.Volume, KindFiles)
	switch mode {
	case ModeDir:
		empty, err := dirEmpty(vol.HostDir())
		if err != nil {
			return Member{}, fmt.Errorf("volume %s: %w", f.Volume, err)
		}
		if empty {
			// restic refuses to save an empty snapshot: an empty volume
			// is stored as a tar stream of its root directory.
			return j.captureEmpty(ctx, repo, mb, vol.HostDir(), tags)
		}
		mb, err = j.captureDir(ctx, repo, m, mb, vol.HostDir(), tags, staging)
		if err != nil {
			return Member{}, err
		}
	case ModeTar:
		mb, err = j.captureTar(ctx, repo, m, mb, f.Name, tags, staging)
		if err != nil {
			return Member{}, err
		}
	default:
		return Member{}, fmt.Errorf("unknown capture mode %q: use dir or tar", mode)
	}
	j.report(progress.Event{Phase: progress.Captured, Instance: m.Instance, Volume: f.Volume, Mode: mode,
		Items: mb.Count, Done: mb.Bytes, Added: mb.Added, Seconds: time.Since(start).Seconds()})
	return mb, nil
}
