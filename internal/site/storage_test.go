package site

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestStorageConfigReportsEveryProblem(t *testing.T) {
	dir := t.TempDir()
	loose := filepath.Join(dir, "loose.pass")
	if err := os.WriteFile(loose, []byte("pw\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	yml := `apiVersion: dockerbank/v1
storage:
  classes:
    userdata: {hostPath: srv/dockerbank}
    config: {hostPath: /srv/x, driver: local}
    blobs: {hostPath: /srv/blobs}
    cache: {options: {type: nfs, o: "addr=10.0.0.5", device: ":/export/cache"}}
    temp: {}
  volumes:
    o1/storage: {options: {type: nfs, o: "rw", device: "/export/o1"}}
    o2/storage: {options: {type: nfs, o: "rw", device: "/export/o1"}}
    o1/files: {options: {type: cifs, o: "addr=nas,username=db,password=secret", device: "nas/share", uid: "1"}}
    o3/files: {options: {type: cifs, o: "addr=nas,username=db", device: "//nas/share"}, passwordFile: ` + loose + `}
    o4/files: {options: {type: nfs, o: "addr=nas", device: ":/x"}, passwordFile: relative.pass}
    Bad/x: {hostPath: /srv}
    nobody: {hostPath: /srv}
    o5/x: {hostPath: /}
`
	if err := os.WriteFile(filepath.Join(dir, ConfigFile), []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Config()
	if err == nil {
		t.Fatal("a storage section full of mistakes was accepted")
	}
	want := []string{
		`:4: storage.classes.userdata.hostPath: hostPath "srv/dockerbank" is not absolute`,
		`:5: storage.classes.config: hostPath and driver/options/passwordFile conflict`,
		`:6: storage.classes.blobs: unknown volume class "blobs"`,
		`:7: storage.classes.cache: the local driver's options name one device`,
		`:8: storage.classes.temp: says nowhere`,
		`:10: storage.volumes.o1/storage.options: an NFS share needs the server in options.o`,
		`:10: storage.volumes.o1/storage.options: an NFS share's device is :/EXPORT`,
		`:11: storage.volumes.o2/storage.options: an NFS share needs the server in options.o`,
		`:11: storage.volumes.o2/storage.options: an NFS share's device is :/EXPORT`,
		`:11: storage.volumes.o2/storage: the same share as storage.volumes.o1/storage`,
		`:12: storage.volumes.o1/files.options: a password in the mount options would stay in site.yaml`,
		`:12: storage.volumes.o1/files.options.uid: unknown option "uid" of the local driver`,
		`:12: storage.volumes.o1/files.options: a CIFS share's device is //SERVER/SHARE`,
		`:13: storage.volumes.o3/files.passwordFile: ` + loose + ` has mode 0644`,
		`:14: storage.volumes.o4/files.passwordFile: passwordFile is for CIFS shares`,
		`:14: storage.volumes.o4/files.passwordFile: passwordFile "relative.pass" is not absolute`,
		`:15: storage.volumes.Bad/x: key "Bad/x" is not INSTANCE/VOLUME`,
		`:16: storage.volumes.nobody: key "nobody" is not INSTANCE/VOLUME`,
		`:17: storage.volumes.o5/x.hostPath: hostPath / would put volumes at the root of the host`,
	}
	lines := strings.Split(err.Error(), "\n")
	for _, w := range want {
		found := false
		for _, l := range lines {
			if strings.Contains(l, w) {
				found = true
			}
		}
		if !found {
			t.Errorf("problem not reported: %s", w)
		}
	}
	if len(lines) != len(want) {
		t.Errorf("%d problems reported, want %d:\n%s", len(lines), len(want), err)
	}
}

func TestStorageConfigAcceptsTheDocumentedExamples(t *testing.T) {
	dir := t.TempDir()
	pass := filepath.Join(dir, "nas.pass")
	if err := os.WriteFile(pass, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	yml := `apiVersion: dockerbank/v1
storage:
  classes:
    userdata: {hostPath: /srv/dockerbank}
    cache: {driver: rexray/ebs, options: {size: "10"}}
  volumes:
    o1/storage: {driver: local, options: {type: nfs, o: "addr=10.0.0.5,rw,nfsvers=4", device: ":/export/o1"}}
    o2/storage: {options: {type: cifs, o: "addr=10.0.0.6,username=dockerbank,vers=3.0", device: "//10.0.0.6/o2"}, passwordFile: ` + pass + `}
    o3/files: {hostPath: /mnt/san}
`
	if err := os.WriteFile(filepath.Join(dir, ConfigFile), []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Config(); err != nil {
		t.Fatalf("documented storage examples refused: %v", err)
	}
}

func TestStorageResolveAndDriverOptions(t *testing.T) {
	pass := filepath.Join(t.TempDir(), "nas.pass")
	if err := os.WriteFile(pass, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := StorageConfig{
		Classes: map[string]Storage{"userdata": {HostPath: "/srv/dockerbank/"}},
		Volumes: map[string]Storage{
			"o1/storage": {Options: map[string]string{"type": "nfs", "o": "addr=10.0.0.5,rw", "device": ":/export/o1"}},
			"o2/files":   {Options: map[string]string{"type": "cifs", "o": "addr=nas,username=db", "device": "//nas/o2"}, PasswordFile: pass},
			"o3/files":   {HostPath: "/mnt/san"},
		},
	}
	tests := []struct {
		name, instance, volume, class string
		mapped                        bool
		key, driver, where            string
		opts                          map[string]string
	}{
		{name: "class to host directory", instance: "o1", volume: "files", class: "userdata", mapped: true,
			key: "storage.classes.userdata", driver: "local", where: "host directory /srv/dockerbank/o1/files",
			opts: map[string]string{"type": "none", "o": "bind", "device": "/srv/dockerbank/o1/files"}},
		{name: "volume entry wins over class", instance: "o1", volume: "storage", class: "userdata", mapped: true,
			key: "storage.volumes.o1/storage", driver: "local", where: "nfs 10.0.0.5:/export/o1",
			opts: map[string]string{"type": "nfs", "o": "addr=10.0.0.5,rw", "device": ":/export/o1"}},
		{name: "cifs password from its file", instance: "o2", volume: "files", class: "userdata", mapped: true,
			key: "storage.volumes.o2/files", driver: "local", where: "cifs //nas/o2",
			opts: map[string]string{"type": "cifs", "o": "addr=nas,username=db,password=s3cret", "device": "//nas/o2"}},
		{name: "volume entry with host path", instance: "o3", volume: "files", class: "temp", mapped: true,
			key: "storage.volumes.o3/files", driver: "local", where: "host directory /mnt/san/o3/files",
			opts: map[string]string{"type": "none", "o": "bind", "device": "/mnt/san/o3/files"}},
		{name: "class not mapped", instance: "o1", volume: "scratch", class: "temp"},
		{name: "no class", instance: "o1", volume: "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vs, ok := c.Resolve(tt.instance, tt.volume, tt.class)
			if ok != tt.mapped {
				t.Fatalf("mapped = %v, want %v", ok, tt.mapped)
			}
			if !ok {
				return
			}
			driver, opts, err := vs.DriverOptions(os.ReadFile)
			if err != nil {
				t.Fatal(err)
			}
			if vs.Key != tt.key || driver != tt.driver || vs.Where() != tt.where {
				t.Errorf("key %q driver %q where %q, want %q %q %q", vs.Key, driver, vs.Where(), tt.key, tt.driver, tt.where)
			}
			if diff := cmp.Diff(tt.opts, opts); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
			if strings.Contains(vs.Where(), "s3cret") || strings.Contains(DescribeDriver(driver, opts), "s3cret") {
				t.Error("a description shows the share password")
			}
		})
	}
	vs, _ := c.Resolve("o2", "files", "")
	if _, _, err := vs.DriverOptions(func(string) ([]byte, error) { return nil, os.ErrNotExist }); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "storage.volumes.o2/files") {
		t.Errorf("a missing password file: %v", err)
	}
}

func TestDescribeDriver(t *testing.T) {
	for _, tt := range []struct {
		driver string
		opts   map[string]string
		want   string
	}{
		{"local", nil, "engine default"},
		{"local", map[string]string{"type": "none", "o": "bind", "device": "/srv/a"}, "bind /srv/a"},
		{"local", map[string]string{"type": "nfs4", "o": "addr=nas,rw", "device": ":/e"}, "nfs4 nas:/e"},
		{"local", map[string]string{"type": "tmpfs", "o": "size=10m,password=x", "device": "tmpfs"}, "local device=tmpfs o=size=10m,password=*** type=tmpfs"},
		{"rexray/ebs", map[string]string{"size": "10"}, "rexray/ebs size=10"},
	} {
		if got := DescribeDriver(tt.driver, tt.opts); got != tt.want {
			t.Errorf("DescribeDriver(%s, %v) = %q, want %q", tt.driver, tt.opts, got, tt.want)
		}
	}
}
