package backup

import (
	"errors"
	"strings"
	"testing"
)

func TestLastLinesSkipsStackTrace(t *testing.T) {
	// restic 0.14 ending a copy to a full sftp disk (shortened).
	stderr := `Save(<data/4f1c2a9d0b>) returned error, retrying after 720.254544ms: OpenFile: sftp: "Failure" (SSH_FX_FAILURE)
Fatal: unable to save snapshot: sftp: "Failure" (SSH_FX_FAILURE)
github.com/restic/restic/internal/repository.newPackerUploader.func1
	github.com/restic/restic/internal/repository/packer_uploader.go:37
golang.org/x/sync/errgroup.(*Group).Go.func1
	golang.org/x/sync/errgroup/errgroup.go:75
runtime.goexit
	runtime/asm_amd64.s:1594`
	want := `Save(<data/4f1c2a9d0b>) returned error, retrying after 720.254544ms: OpenFile: sftp: "Failure" (SSH_FX_FAILURE); Fatal: unable to save snapshot: sftp: "Failure" (SSH_FX_FAILURE)`
	if got := lastLines(stderr, 6); got != want {
		t.Errorf("lastLines:\n%s\nwant\n%s", got, want)
	}
}

// TestWrapDamagedSnapshot: restic check's report of a snapshot file whose
// bytes do not match its name (as rclone serve restic leaves one when it
// is killed while writing it, seen in CI) becomes an error that names the
// file and what to do.
func TestWrapDamagedSnapshot(t *testing.T) {
	r := &Restic{Repository: "rest:https://clinic@127.0.0.1:38399/clinic"}
	stderr := "error: load <snapshot/0ecbc2a4b7>: invalid data returned\nFatal: repository contains errors"
	err := r.wrap("check", errors.New("exit status 1"), stderr)
	for _, want := range []string{"restic check on rest:https://clinic@127.0.0.1:38399/clinic", "snapshot file 0ecbc2a4b7... on it is damaged",
		"delete snapshots/0ecbc2a4b7* on the server, then run the command again"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if !errors.Is(err, ErrRepository) {
		t.Errorf("error %v is not ErrRepository", err)
	}
}
