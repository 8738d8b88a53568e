package backup_test

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/zstd"
)

// TestBadInput feeds the backup and restore bad input and checks that each
// case gives a clear error, reports nothing half-done as success and leaves
// the live data alone.
func TestBadInput(t *testing.T) {
	needEngine(t)
	s := newSite(t)
	inst := uniq("bk-bad")
	s.deploy("bktest", inst, "HEARTBEAT=0")
	fillDatabases(t, inst)
	live := mountpoint(t, inst+"_files")
	fillVolume(t, live)
	s.must("backup", inst)
	wantFiles := tree(t, live, true)
	wantPG := pgTables(t, inst+"-pg-1", "clinic")

	untouched := func(t *testing.T) {
		t.Helper()
		if diff := cmp.Diff(wantFiles, tree(t, live, true)); diff != "" {
			t.Errorf("live files changed:\n%s", diff)
		}
		if diff := cmp.Diff(wantPG, pgTables(t, inst+"-pg-1", "clinic")); diff != "" {
			t.Errorf("live tables changed:\n%s", diff)
		}
		for n, st := range containerStates(t, inst) {
			if st != "running" {
				t.Errorf("container %s is %s", n, st)
			}
		}
	}
	completeGroups := func() int {
		n := 0
		for _, g := range s.groups(inst) {
			if g["complete"] == true {
				n++
			}
		}
		return n
	}
	failsWith := func(t *testing.T, want string, args ...string) {
		t.Helper()
		r := s.run(nil, args...)
		if r.code == 0 {
			t.Fatalf("dockerbank %s succeeded; want an error with %q", strings.Join(args, " "), want)
		}
		if !strings.Contains(r.err, want) {
			t.Errorf("dockerbank %s: error does not say %q:\n%s", strings.Join(args, " "), want, tail(r.err, 1500))
		}
		if strings.Contains(r.out, "restored from") || strings.Contains(r.out, "complete,") {
			t.Errorf("failure reported as success: %s", r.out)
		}
	}

	t.Run("wrong repository password", func(t *testing.T) {
		key := filepath.Join(s.dir, "backup-key")
		good, _ := os.ReadFile(key)
		os.WriteFile(key, []byte("not-the-key\n"), 0o600)
		defer os.WriteFile(key, good, 0o600)
		failsWith(t, "wrong backup repository password", "backup", inst)
		failsWith(t, "wrong backup repository password", "restore", inst, "--as", inst+"-pw")
		if _, err := os.Stat(filepath.Join(s.dir, "instances", inst+"-pw")); err == nil {
			t.Error("restore with a wrong password left an instance behind")
		}
		untouched(t)
	})

	t.Run("dump failing halfway", func(t *testing.T) {
		ctr := inst + "-pg-1"
		bin := "/usr/lib/postgresql/15/bin/pg_dump"
		docker(t, "exec", "-u", "root", ctr, "mv", bin, bin+".real")
		defer docker(t, "exec", "-u", "root", ctr, "mv", bin+".real", bin)
		before := completeGroups()
		for _, tc := range []struct{ name, script, want string }{
			{"truncated with exit 0", "#!/bin/sh\n" + bin + ".real \"$@\" | head -c 30000\n", "database dump incomplete"},
			{"error exit after output", "#!/bin/sh\n" + bin + ".real \"$@\" | head -c 30000\necho 'pg_dump: error: connection lost' >&2\nexit 1\n", "connection lost"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				cmd := exec.Command("docker", "exec", "-i", "-u", "root", ctr, "sh", "-c", "cat > "+bin+" && chmod 755 "+bin)
				cmd.Stdin = strings.NewReader(tc.script)
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("install failing pg_dump: %v %s", err, out)
				}
				failsWith(t, tc.want, "backup", inst)
				if n := completeGroups(); n != before {
					t.Errorf("%d complete groups after a failed dump, want %d", n, before)
				}
			})
		}
		untouched(t)
	})

	t.Run("full disk", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "small")
		os.MkdirAll(dir, 0o700)
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", dir).CombinedOutput(); err != nil {
			t.Skipf("cannot mount a tmpfs: %v %s", err, out)
		}
		defer exec.Command("umount", dir).Run()
		cfg := filepath.Join(s.dir, "site.yaml")
		os.WriteFile(cfg, []byte("apiVersion: dockerbank/v1\nbackup:\n  repository: "+dir+"/repo\n"), 0o600)
		defer os.Remove(cfg)
		big := make([]byte, 40<<20)
		rand.Read(big)
		extra := filepath.Join(live, "big.bin")
		os.WriteFile(extra, big, 0o600)
		defer os.Remove(extra)
		failsWith(t, "no space left on device", "backup", inst)
		for _, g := range s.groups(inst) {
			if g["complete"] == true {
				t.Errorf("group %v in the full repository is listed as complete", g["id"])
			}
		}
		os.Remove(extra)
		untouched(t)
	})

	t.Run("archive escaping the volume", func(t *testing.T) {
		for _, tc := range []struct {
			name    string
			members []tar.Header
		}{
			{"dot-dot member", []tar.Header{{Name: "volumes/files/../../../../evil", Typeflag: tar.TypeReg, Size: 4, Mode: 0o644}}},
			{"escaping symlink", []tar.Header{{Name: "volumes/files/l", Typeflag: tar.TypeSymlink, Linkname: "../../../../etc", Mode: 0o777}}},
			{"write through a symlink", []tar.Header{
				{Name: "volumes/files/l", Typeflag: tar.TypeSymlink, Linkname: "sub", Mode: 0o777},
				{Name: "volumes/files/l/passwd", Typeflag: tar.TypeReg, Size: 4, Mode: 0o644}}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				file := filepath.Join(t.TempDir(), "bad.tar.zst")
				writeBadArchive(t, file, tc.members)
				target := inst + "-ar"
				failsWith(t, "unsafe archive member", "restore", inst, "--archive", file, "--as", target)
				if _, err := os.Stat(filepath.Join(s.dir, "instances", target)); err == nil {
					t.Errorf("the refused archive left instance %s behind", target)
				}
				if _, err := os.Stat("/evil"); err == nil {
					t.Error("/evil was written")
				}
			})
		}
		untouched(t)
	})
}

// writeBadArchive writes an archive whose manifest restores one file volume
// of the bktest entry from the given members.
func writeBadArchive(t *testing.T, file string, members []tar.Header) {
	t.Helper()
	man := map[string]any{
		"format": "dockerbank.backup/v1", "group": "20260101T000000Z-bad000", "instance": "bk-bad", "entry": "bktest", "version": "1",
		"params":  map[string]string{"HEARTBEAT": "0"},
		"members": []map[string]any{{"volume": "files", "kind": "files", "method": "files", "mode": "tar", "snapshot": "x"}},
	}
	data, _ := json.Marshal(man)
	var buf bytes.Buffer
	zw, _ := zstd.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Name: "manifest.json", Size: int64(len(data)), Mode: 0o600, Typeflag: tar.TypeReg})
	tw.Write(data)
	for _, h := range members {
		h := h
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write([]byte("evil")[:h.Size])
		}
	}
	tw.Close()
	zw.Close()
	if err := os.WriteFile(file, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}
