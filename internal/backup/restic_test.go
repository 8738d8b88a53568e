package backup

import "testing"

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
