package backup

import (
	"testing"
	"time"
)

// TestCompareFilesAcceptsDumpRounding: restic 0.14's dump writes file
// times rounded to the nearest second (not cut down), so a file restored
// from an archive or through restic dump carries the next second when the
// original's fraction was .5 or more. Sub-second differences on the other
// side of whole-second times are not a difference; a whole second is.
func TestCompareFilesAcceptsDumpRounding(t *testing.T) {
	orig := time.Date(2020, 1, 2, 3, 4, 5, 623456789, time.UTC)
	tests := []struct {
		name string
		got  time.Time
		same bool
	}{
		{"identical", orig, true},
		{"cut down", orig.Truncate(time.Second), true},
		{"rounded up", orig.Round(time.Second), true},
		{"one second later", orig.Truncate(time.Second).Add(2 * time.Second), false},
		{"one second earlier", orig.Truncate(time.Second).Add(-time.Second), false},
		{"other nanoseconds", orig.Add(time.Millisecond), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := []FileRecord{{Path: "f", Type: "file", MTime: orig, SHA256: "x"}}
			got := []FileRecord{{Path: "f", Type: "file", MTime: tc.got, SHA256: "x"}}
			diffs := compareFiles(want, got)
			if tc.same && len(diffs) > 0 {
				t.Errorf("mtime %s vs %s: %v", tc.got.Format(time.RFC3339Nano), orig.Format(time.RFC3339Nano), diffs)
			}
			if !tc.same && len(diffs) == 0 {
				t.Errorf("mtime %s vs %s: no difference reported", tc.got.Format(time.RFC3339Nano), orig.Format(time.RFC3339Nano))
			}
		})
	}
}
