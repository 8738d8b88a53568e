package bank

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadDirGood(t *testing.T) {
	e, err := LoadDir(t.Context(), filepath.Join("testdata", "good", "minimal"))
	if err != nil {
		t.Fatal(err)
	}
	if got := e.Model.Volumes["data"].Mounts["db"]; got != "/var/lib/postgresql/data" {
		t.Errorf("volume data mounted at %q in db", got)
	}
	if svc, ok := e.Model.DatabaseFor("data"); !ok || svc != "db" {
		t.Errorf("DatabaseFor(data) = %q, %v", svc, ok)
	}
}

// Every bad entry is reported at file:line with a fix, and nothing loads.
func TestLoadDirBad(t *testing.T) {
	tests := []struct {
		dir  string
		want []string // "file:line" and message fragments
	}{
		{"yaml-error", []string{"yaml-error/entry.yaml:", "YAML error", "fix: correct the YAML syntax"}},
		{"unknown-key", []string{"unknown-key/entry.yaml:5:", "field maintainer not found", "fix: remove or rename the key"}},
		{"untagged-image", []string{
			"untagged-image/entry.yaml:10:", `image "dockerbank/busybox" of service app has no tag`,
			"untagged-image/compose.yaml:7:", `service app: image "dockerbank/busybox" has no tag`, "pin the image"}},
		{"bad-schedule", []string{
			"bad-schedule/entry.yaml:13:", `schedule "fortnightly": unknown kind`, "fix: write protect.drill",
			"bad-schedule/entry.yaml:15:", "keep.daily is -2",
			"bad-schedule/entry.yaml:16:", `heal "sometimes": write off, restart or recreate`}},
		{"userdata-no-backup", []string{"userdata-no-backup/compose.yaml:10:", "userdata volume data has no backup method", "add backup: postgres-dump"}},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			e, err := LoadDir(t.Context(), filepath.Join("testdata", "bad", tt.dir))
			if e != nil {
				t.Fatalf("a bad entry loaded")
			}
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("error is %T %v, want Problems", err, err)
			}
			msg := ps.Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("problems do not contain %q:\n%s", w, msg)
				}
			}
		})
	}
}

func TestHasTag(t *testing.T) {
	tests := map[string]bool{
		"postgres:16.4":                         true,
		"postgres":                              false,
		"postgres:latest":                       false,
		"registry:5000/team/app":                false,
		"registry:5000/team/app:1.2":            true,
		"app@sha256:" + strings.Repeat("a", 64): true,
		"app:${TAG}":                            false,
	}
	for ref, want := range tests {
		if got := HasTag(ref); got != want {
			t.Errorf("HasTag(%q) = %v, want %v", ref, got, want)
		}
	}
}
