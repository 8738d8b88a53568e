package cli

import (
	"testing"

	"github.com/dockerbank/dockerbank/internal/backup"
)

func TestProgressLine(t *testing.T) {
	got := progressLine("data", backup.Status{BytesDone: 512 << 20, TotalBytes: 1024 << 20, Seconds: 4})
	want := "  data [============>           ]  50% 512.0 MiB/1.0 GiB 128.0 MiB/s ETA 4s"
	if got != want {
		t.Errorf("progressLine:\n got %q\nwant %q", got, want)
	}
	if got := progressLine("x", backup.Status{}); got != "  x [>                       ]   0% 0 B/0 B - ETA -" {
		t.Errorf("progressLine before the first bytes: %q", got)
	}
}
