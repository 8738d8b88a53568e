package cli

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/dockerbank/dockerbank/internal/instance/label"
	"github.com/dockerbank/dockerbank/internal/testenv"
)

// writeStorage writes a site.yaml mapping the userdata class to base.
func writeStorage(t *testing.T, h *harness, base string) {
	t.Helper()
	yml := fmt.Sprintf("apiVersion: dockerbank/v1\nstorage:\n  classes:\n    userdata: {hostPath: %s}\n", base)
	if err := os.WriteFile(filepath.Join(h.site, "site.yaml"), []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
}

// hostTree describes every entry under dir as the host sees it: type,
// mode, owner and the content's sha256, by relative path.
func hostTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		st := info.Sys().(*syscall.Stat_t)
		desc := fmt.Sprintf("%v %d:%d", info.Mode(), st.Uid, st.Gid)
		if info.Mode().IsRegular() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(data)
			desc += " " + hex.EncodeToString(sum[:])
		}
		out[rel] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sameTree checks that every entry of want is in got unchanged; entries
// got has beyond want must match extra (what the app writes when it starts).
func sameTree(t *testing.T, what string, want, got map[string]string, extra func(string) bool) {
	t.Helper()
	for p, w := range want {
		if got[p] != w {
			t.Errorf("%s: %s is %q, was %q", what, p, got[p], w)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok && !extra(p) {
			t.Errorf("%s: %s appeared", what, p)
		}
	}
}

func TestUserdataOnHostDirectory(t *testing.T) {
	testenv.RequireRoot(t, "the test reads the files the engine writes as other users")
	testenv.RequireImages(t, "dockerbank/demo-app:2.0", "dockerbank/busybox:1.36")
	h := newHarness(t)
	base := t.TempDir()
	writeStorage(t, h, base)
	name, as := uniqueName("s5st"), uniqueName("s5as")
	h.cleanup(name)
	h.cleanup(as)

	// An interval of an hour: the app writes one record when it starts.
	h.ok("deploy", "demo", "--name", name, "--set", "DEMO_INTERVAL=3600")
	waitRecords(t, name, 1)
	files, audit := filepath.Join(base, name, "files"), filepath.Join(base, name, "audit")
	inCtr := docker(t, "exec", name+"-app-1", "cat", "/data/files/record-1.txt")
	onHost, err := os.ReadFile(filepath.Join(files, "files", "record-1.txt"))
	if err != nil || strings.TrimSpace(string(onHost)) != inCtr {
		t.Fatalf("the record the app wrote is not in %s: %v %q", files, err, onHost)
	}
	if _, err := os.Stat(filepath.Join(base, name, "pgdata", "PG_VERSION")); err != nil {
		t.Errorf("PostgreSQL's data is not in the host directory: %v", err)
	}
	if st, err := os.Stat(filepath.Join(base, name, "pgdata")); err == nil {
		if s := st.Sys().(*syscall.Stat_t); s.Uid == 0 || st.Mode().Perm() != 0o700 {
			t.Errorf("pgdata directory is owned by %d with mode %v: the image's owner was not applied", s.Uid, st.Mode().Perm())
		}
	}
	// Files a user puts there on the host (a scanner's drop, a migration).
	if err := os.MkdirAll(filepath.Join(files, "patient"), 0o750); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		p := filepath.Join(files, "patient", fmt.Sprintf("scan-%d.bin", i))
		if err := os.WriteFile(p, []byte(rand.Text()+strings.Repeat(rand.Text(), 5000)), 0o640); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, 1234, 1234); err != nil {
			t.Fatal(err)
		}
	}

	var vols []struct {
		Name, Instance, Class, Driver, Where string
		Options                              map[string]string
	}
	if err := json.Unmarshal([]byte(h.ok("volumes", "--json")), &vols); err != nil {
		t.Fatal(err)
	}
	where := map[string]string{}
	for _, v := range vols {
		if v.Instance == name {
			where[v.Name] = v.Where
		}
	}
	for _, v := range []string{"pgdata", "files", "audit"} {
		if want := "bind " + filepath.Join(base, name, v); where[name+"_"+v] != want {
			t.Errorf("volumes --json: %s_%s lives at %q, want %q", name, v, where[name+"_"+v], want)
		}
	}
	if where[name+"_scratch"] != "engine default" {
		t.Errorf("volumes --json: the temp volume lives at %q, want engine default", where[name+"_scratch"])
	}
	if out := h.ok("volumes"); !strings.Contains(out, "bind "+files) || !strings.Contains(out, "WHERE") {
		t.Errorf("volumes does not show where %s_files lives:\n%s", name, out)
	}

	before := takeSnapshot(t, name)
	beforeFiles := hostTree(t, files)
	beforeAudit, _ := os.ReadFile(filepath.Join(audit, "audit.log"))
	var groups []struct{ Group string }
	if err := json.Unmarshal([]byte(h.ok("backup", name, "--json")), &groups); err != nil || len(groups) != 1 {
		t.Fatalf("backup --json: %v %v", err, groups)
	}

	// Damage: the files gone on the host, the log overwritten, the rows deleted.
	for _, p := range []string{filepath.Join(files, "patient"), filepath.Join(files, "files")} {
		if err := os.RemoveAll(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(audit, "audit.log"), []byte("damaged\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	psql(t, name, "delete from records")

	newRecord := func(p string) bool { return strings.HasPrefix(p, "files/record-") }
	checkRestoredFrom := func(t *testing.T, inst string, before snapshot, beforeFiles map[string]string, beforeAudit []byte) {
		t.Helper()
		sameTree(t, inst+" files", beforeFiles, hostTree(t, filepath.Join(base, inst, "files")), newRecord)
		got, _ := os.ReadFile(filepath.Join(base, inst, "audit", "audit.log"))
		if !strings.HasPrefix(string(got), string(beforeAudit)) {
			t.Errorf("%s audit.log does not begin with the backed-up log:\n%s", inst, got)
		}
		takeSnapshot(t, inst).keeps(t, before)
		for _, v := range []string{"files", "audit", "pgdata"} {
			if dev := docker(t, "volume", "inspect", "-f", "{{.Options.device}}", inst+"_"+v); dev != filepath.Join(base, inst, v) {
				t.Errorf("volume %s_%s binds %q, want %s", inst, v, dev, filepath.Join(base, inst, v))
			}
		}
	}
	checkRestored := func(t *testing.T, inst string) {
		t.Helper()
		checkRestoredFrom(t, inst, before, beforeFiles, beforeAudit)
	}
	t.Run("restore in place", func(t *testing.T) {
		h.ok("restore", name, "--group", groups[0].Group)
		checkRestored(t, name)
		// The staging instance's copy is gone from the base directory.
		ents, _ := os.ReadDir(base)
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		if !slices.Equal(names, []string{name}) {
			t.Errorf("base directory holds %v after the restore, want only %s", names, name)
		}
	})
	t.Run("restore as a new instance", func(t *testing.T) {
		// The in-place restore took a pre-restore backup of the damage:
		// name the group of the intact data.
		h.ok("restore", name, "--group", groups[0].Group, "--as", as)
		checkRestored(t, as)
	})
	t.Run("rm --purge-data says where the files stay", func(t *testing.T) {
		out := h.ok("rm", as, "--purge-data", "--confirm", as, "--force")
		dir := filepath.Join(base, as, "files")
		if !strings.Contains(out, "files stay in bind "+dir) {
			t.Errorf("rm --purge-data does not say that the files stay in %s:\n%s", dir, out)
		}
		if _, err := os.Stat(filepath.Join(dir, "patient", "scan-0.bin")); err != nil {
			t.Errorf("rm --purge-data deleted the host files: %v", err)
		}
		if v := docker(t, "volume", "ls", "-q", "--filter", "label="+label.Instance+"="+as); v != "" {
			t.Errorf("volumes left: %s", v)
		}
	})
	t.Run("backup and restore through helper containers", func(t *testing.T) {
		// --via tar reads the volumes through a helper container that
		// mounts them by name, as for a share or on a remote engine.
		before, beforeFiles := takeSnapshot(t, name), hostTree(t, files)
		beforeAudit, _ := os.ReadFile(filepath.Join(audit, "audit.log"))
		var res []struct {
			Group   string
			Members []struct{ Volume, Kind, Mode string }
		}
		if err := json.Unmarshal([]byte(h.ok("backup", name, "--via", "tar", "--json")), &res); err != nil || len(res) != 1 {
			t.Fatalf("backup --via tar --json: %v %v", err, res)
		}
		for _, mb := range res[0].Members {
			if mb.Kind == "files" && mb.Mode != "tar" {
				t.Errorf("member %s was read with mode %q, want tar", mb.Volume, mb.Mode)
			}
		}
		if err := os.RemoveAll(filepath.Join(files, "patient")); err != nil {
			t.Fatal(err)
		}
		psql(t, name, "delete from records")
		h.ok("restore", name, "--group", res[0].Group)
		checkRestoredFrom(t, name, before, beforeFiles, beforeAudit)
	})
}

func TestStorageMissingDirectoryStartsNothing(t *testing.T) {
	testenv.RequireImages(t, "dockerbank/busybox:1.36")
	h := newHarness(t)
	root := t.TempDir()
	base := filepath.Join(root, "not-mounted")
	writeStorage(t, h, base)
	name := uniqueName("s5miss")
	h.cleanup(name)

	r := h.run("deploy", "demo", "--name", name)
	if r.code != ExitError {
		t.Fatalf("deploy onto a missing directory: exit %d, want %d\n%s%s", r.code, ExitError, r.out, r.err)
	}
	for _, want := range []string{"audit, files, pgdata of " + name, filepath.Join(base, name, "files"),
		"site.yaml storage.classes.userdata.hostPath", "mkdir -p " + base, "no container or volume of " + name + " was created"} {
		if !strings.Contains(r.err, want) {
			t.Errorf("the error does not say %q:\n%s", want, r.err)
		}
	}
	storageNothingLeft(t, h, name)

	// Files already in a volume's directory: an earlier instance's data is
	// never taken over silently.
	if err := os.MkdirAll(filepath.Join(base, name, "audit"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(base, name, "audit", "audit.log"), []byte("earlier\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = h.run("deploy", "demo", "--name", name)
	if r.code != ExitRefused || !strings.Contains(r.err, filepath.Join(base, name, "audit")+" for volume audit") {
		t.Fatalf("deploy onto a directory with files: exit %d\n%s", r.code, r.err)
	}
	storageNothingLeft(t, h, name)
	if got, _ := os.ReadFile(filepath.Join(base, name, "audit", "audit.log")); string(got) != "earlier\n" {
		t.Errorf("the earlier file changed: %q", got)
	}
}

// storageNothingLeft checks that a deploy refused for its storage left
// nothing: no container, volume or network of the project, no probe, no
// instance in the site.
func storageNothingLeft(t *testing.T, h *harness, name string) {
	t.Helper()
	if left := projectObjects(t, name); len(left) > 0 {
		t.Errorf("objects of %s left on the engine: %v", name, left)
	}
	for _, args := range [][]string{{"ps", "-aq", "--filter", "label=" + label.Helper + "=" + name}, {"volume", "ls", "-q", "--filter", "label=" + label.Helper + "=" + name}} {
		if o := docker(t, args...); o != "" {
			t.Errorf("probe objects left: docker %s: %s", strings.Join(args, " "), o)
		}
	}
	if _, err := os.Stat(filepath.Join(h.site, "instances", name)); !os.IsNotExist(err) {
		t.Errorf("the site keeps a half instance: %v", err)
	}
	if ls := h.ok("ls", "--json"); strings.Contains(ls, name) {
		t.Errorf("ls lists %s: %s", name, ls)
	}
}

// TestStorageShareThatCannotBeMounted: a CIFS share the engine cannot
// mount (no server at the address) stops the deploy before anything is
// created, naming the volume, the share and the key, never the password.
func TestStorageShareThatCannotBeMounted(t *testing.T) {
	testenv.RequireImages(t, "dockerbank/busybox:1.36")
	h := newHarness(t)
	name := uniqueName("s5cifs")
	h.cleanup(name)
	secret := "pw-" + rand.Text()[:10]
	pass := filepath.Join(t.TempDir(), "nas.pass")
	if err := os.WriteFile(pass, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	yml := fmt.Sprintf(`apiVersion: dockerbank/v1
storage:
  volumes:
    %s/files:
      options: {type: cifs, o: "addr=127.0.0.1,username=dockerbank,vers=3.0", device: "//127.0.0.1/nothere"}
      passwordFile: %s
`, name, pass)
	if err := os.WriteFile(filepath.Join(h.site, "site.yaml"), []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	r := h.run("deploy", "demo", "--name", name)
	if r.code != ExitError {
		t.Fatalf("deploy onto a share that cannot be mounted: exit %d\n%s%s", r.code, r.out, r.err)
	}
	for _, want := range []string{"volume files of " + name, "cifs //127.0.0.1/nothere", "site.yaml storage.volumes." + name + "/files", "the engine cannot mount it"} {
		if !strings.Contains(r.err, want) {
			t.Errorf("the error does not say %q:\n%s", want, r.err)
		}
	}
	if strings.Contains(r.err+r.out, secret) {
		t.Errorf("the share's password is in the output:\n%s", r.err)
	}
	storageNothingLeft(t, h, name)
	journal, _ := os.ReadFile(filepath.Join(h.site, "journal.jsonl"))
	if strings.Contains(string(journal), secret) {
		t.Error("the share's password is in the journal")
	}
}
