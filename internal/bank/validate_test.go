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
		{"bad-fingerprint", []string{
			"bad-fingerprint/entry.yaml:13:", `fingerprint postgres: service "app" is not a database service`,
			"bad-fingerprint/entry.yaml:16:", `fingerprint table "Records" is not schema.table`, "key id is not one of its columns",
			"bad-fingerprint/entry.yaml:18:", `volume "data" is not a userdata volume backed up as files`,
			"bad-fingerprint/entry.yaml:19:", "port 0 is not a port", `passwordSecret "nope" is not a generated secret`,
			"bad-fingerprint/entry.yaml:24:", `orthanc: index "app" is not a database service with engine postgres`,
			"bad-fingerprint/entry.yaml:19:", "names an index but no database", `orthanc: volume "" is not a userdata volume`,
			"bad-fingerprint/entry.yaml:25:", `fingerprint kind "sqlite" is unknown`,
			"bad-fingerprint/entry.yaml:27:", "test.set: NOPE is not a parameter",
			"bad-fingerprint/entry.yaml:29:", `test write kind "upload" is unknown`,
			"bad-fingerprint/entry.yaml:34:", `curation.tested: version "9.9"`,
			"bad-fingerprint/entry.yaml:34:", `result "passed" is not pass or fail`}},
		{"scale-refusals", []string{
			"scale-refusals/compose.yaml:5:", "service db: only app services can be scaled", "data directory of a database server (backup postgres-dump)",
			"scale-refusals/compose.yaml:9:", "service app is marked scalable but mounts volume state, which admits one writer only (SQLite database)",
			"scale-refusals/compose.yaml:12:", "service web: scale.max 40 is out of range", "fix: set scale.max between 2 and 16"}},
		{"userdata-no-backup", []string{"userdata-no-backup/compose.yaml:10:", "userdata volume data has no backup method", "add backup: postgres-dump"}},
		// compose v5.6.0 refuses this at deploy ("`file` is the sole
		// supported option"); TestComposeRefusesReadOnlySecret in
		// internal/deploy reproduces that on the real engine.
		{"readonly-secret", []string{"readonly-secret/compose.yaml:5:", "service app is read_only and uses generated secret token",
			"`file` is the sole supported option", "fix: drop read_only: true"}},
		{"compose-refusals", []string{
			"compose-refusals/compose.yaml:5:", `compose refuses security_opt "apparmor"`, "fix: write it as key=value",
			"compose-refusals/compose.yaml:8:", "compose refuses external secret swarm_only", "fix: generate it",
			"compose-refusals/compose.yaml:10:", "secret from_env comes from environment variable SOME_TOKEN, which deploy never sets", "fix: let dockerbank generate it"}},
		{"always-passes", []string{
			"always-passes/compose.yaml:4:", `the healthcheck of service app always passes: it ends in "|| true" or "|| exit 0"`,
			"always-passes/compose.yaml:9:", "the healthcheck of service web always passes: it runs true",
			"always-passes/entry.yaml:12:", `the check ready of service web always passes: grep "UP" matches anywhere`,
			"always-passes/entry.yaml:15:", "the check metadata of service web always passes: curl without -f",
			"fix: make it fail when the service is not serving"}},
		{"short-budget", []string{"short-budget/compose.yaml:4:", "gives up after 3m0s", "shorter than its declared start-up of 10m0s",
			"fix: raise start_period (or retries) so that start_period + interval x retries is at least 10m0s"}},
		// a planted wrong fact: the record says the image has no curl
		{"planted-curl", []string{"planted-curl/compose.yaml:4:", "the healthcheck of service app calls curl, which image example.org/app:1.0 does not contain (facts recorded in curation.images)",
			"fix: call a program the image has"}},
		{"image-volumes", []string{
			"image-volumes/compose.yaml:2:", "declares VOLUME /var/lib/app/cache, which service app does not map to a named volume", "fix: mount a named volume with an x-dockerbank class at /var/lib/app/cache",
			"image-volumes/compose.yaml:4:", "service app cannot write volume uploads at /srv/uploads", "fix: create and chown the directory"}},
		{"version-compose", []string{
			"version-compose/compose.missing.yaml: cannot read compose file",
			`compose file "../minimal/compose.yaml" is not a path inside the entry`,
			"version 4.0 declares the volumes data(userdata,files), but the default version 1.0 declares data(userdata,postgres-dump)",
			"fix: declare the same volumes"}},
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

// A version with its own compose files is deployed with them; the entry's
// model is the default version's.
func TestVersionCompose(t *testing.T) {
	e, err := LoadDir(t.Context(), filepath.Join("testdata", "good", "version-compose"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		version string
		want    string
	}{{"1.0", "compose.yaml"}, {"2.0", "compose.v2.yaml"}, {"", "compose.v2.yaml"}} {
		files, err := e.ComposeFiles(tt.version, "")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(files, ",") != tt.want {
			t.Errorf("version %q uses %v, want %s", tt.version, files, tt.want)
		}
	}
	if _, ok := e.Model.Services["cache"]; !ok {
		t.Errorf("the model is not the default version's: services %v", e.Model.Services)
	}
	if _, err := e.ComposeFiles("9.9", ""); err == nil || !strings.Contains(err.Error(), "no version") {
		t.Errorf("unknown version: %v", err)
	}
}
