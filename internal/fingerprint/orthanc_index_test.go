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
	got, err := orthancIndexed(t.Context(), e, Target{Instance: "orth"}, "db-id", spec)
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
