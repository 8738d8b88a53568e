package fingerprint

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/dockerbank/dockerbank/internal/bank"
	"github.com/dockerbank/dockerbank/internal/engine"
)

// indexEngine is an engine with an Orthanc index container whose psql
// prints out, and a storage volume at a host directory.
type indexEngine struct {
	Engine
	out, mountpoint string
	cmds            [][]string
}

func (f *indexEngine) Describe(context.Context, string) (engine.Description, error) {
	return engine.Description{Env: []string{"POSTGRES_USER=orthanc"}}, nil
}

func (f *indexEngine) Exec(_ context.Context, _ string, cmd []string, o engine.ExecOptions) error {
	f.cmds = append(f.cmds, cmd)
	_, err := io.WriteString(o.Stdout, f.out)
	return err
}

func (f *indexEngine) InspectVolume(_ context.Context, name string) (engine.Volume, error) {
	if name != "orth_storage" {
		return engine.Volume{}, fmt.Errorf("no volume %s", name)
	}
	return engine.Volume{Name: name, Mountpoint: f.mountpoint}, nil
}

// TestOrthancIndexed: the recorded MD5s from the index, proven against the
// stored files of the volume: a sound file, a damaged one, a missing one.
func TestOrthancIndexed(t *testing.T) {
	dir := t.TempDir()
	sum := func(s string) string { h := md5.Sum([]byte(s)); return hex.EncodeToString(h[:]) }
	store := func(uuid, content string) {
		p := filepath.Join(dir, uuid[0:2], uuid[2:4], uuid)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const (
		sound   = "0a1b2c3d-0000-4000-8000-000000000001"
		damaged = "0a1b2c3d-0000-4000-8000-000000000002"
		missing = "0a1b2c3d-0000-4000-8000-000000000003"
	)
	store(sound, "DICM one")
	store(damaged, "DICM tw0")
	out := strings.Join([]string{
		"inst-1|" + sound + "|" + sum("DICM one") + "|" + sum("DICM one"),
		"inst-2|" + damaged + "|" + sum("DICM two") + "|" + sum("DICM two"),
		"inst-3|" + missing + "|" + sum("DICM three") + "|" + sum("DICM three"),
		"inst-4|../../etc/passwd|x|x", // not Orthanc's form: left to the REST API
	}, "\n") + "\n"
	e := &indexEngine{out: out, mountpoint: dir}
	spec := bank.FingerprintSpec{Kind: bank.FingerprintOrthanc, Service: "orthanc", Index: "db", Database: "orthanc", Volume: "storage"}
	got, err := orthancIndexed(t.Context(), e, Target{Instance: "orth"}, "db-id", spec, "")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Item{
		"inst-1": {ID: "inst-1", Digest: "md5:" + sum("DICM one")},
		"inst-2": {ID: "inst-2", Digest: "md5:" + sum("DICM two"), Damage: "the stored file does not match the MD5 Orthanc recorded"},
		"inst-3": {ID: "inst-3", Digest: "md5:" + sum("DICM three"), Damage: "the stored file is missing"},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("items (-want +got):\n%s", d)
	}
	if len(e.cmds) != 1 || !strings.Contains(strings.Join(e.cmds[0], " "), "-U orthanc -d orthanc") {
		t.Errorf("psql commands: %q", e.cmds)
	}
	if _, err := parseOrthancIndex("inst-1|only two\n"); err == nil {
		t.Error("a short line of the index was accepted")
	}
}

// TestOrthancIndexedHashCache: with a hash cache, a second fingerprint
// reuses the MD5 of a file whose size, mtime, ctime and inode are
// unchanged (proven by a planted wrong MD5 that is reported), and still
// finds a file damaged since even when its size and mtime were put back.
func TestOrthancIndexedHashCache(t *testing.T) {
	dir := t.TempDir()
	cache := filepath.Join(t.TempDir(), "c", "orthanc.md5.jsonl")
	sum := func(s string) string { h := md5.Sum([]byte(s)); return hex.EncodeToString(h[:]) }
	path := func(uuid string) string { return filepath.Join(dir, uuid[0:2], uuid[2:4], uuid) }
	const (
		kept    = "0a1b2c3d-0000-4000-8000-000000000001"
		damaged = "0a1b2c3d-0000-4000-8000-000000000002"
	)
	for u, c := range map[string]string{kept: "DICM one", damaged: "DICM two"} {
		if err := os.MkdirAll(filepath.Dir(path(u)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path(u), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := "inst-1|" + kept + "|" + sum("DICM one") + "|" + sum("DICM one") + "\n" +
		"inst-2|" + damaged + "|" + sum("DICM two") + "|" + sum("DICM two") + "\n"
	spec := bank.FingerprintSpec{Kind: bank.FingerprintOrthanc, Service: "orthanc", Index: "db", Database: "orthanc", Volume: "storage"}
	index := func() map[string]Item {
		t.Helper()
		got, err := orthancIndexed(t.Context(), &indexEngine{out: out, mountpoint: dir}, Target{Instance: "orth"}, "db-id", spec, cache)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	for id, it := range index() {
		if it.Damage != "" {
			t.Fatalf("first fingerprint: %s: %s", id, it.Damage)
		}
	}
	// Plant a wrong MD5 for the unchanged file: reused, so reported.
	raw, err := os.ReadFile(cache)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), sum("DICM one")) {
		t.Fatalf("the cache does not hold the MD5 of %s:\n%s", kept, raw)
	}
	if err := os.WriteFile(cache, []byte(strings.ReplaceAll(string(raw), sum("DICM one"), sum("planted"))), 0o600); err != nil {
		t.Fatal(err)
	}
	// Damage the other file with the same size and its old mtime.
	fi, err := os.Stat(path(damaged))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path(damaged), []byte("DICM tw0"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path(damaged), fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	got := index()
	const mismatch = "the stored file does not match the MD5 Orthanc recorded"
	if got["inst-1"].Damage != mismatch {
		t.Errorf("inst-1 (unchanged, planted MD5 in the cache): damage %q, want the cached MD5 used", got["inst-1"].Damage)
	}
	if got["inst-2"].Damage != mismatch {
		t.Errorf("inst-2 (rewritten, mtime put back): damage %q, want it found", got["inst-2"].Damage)
	}
}
