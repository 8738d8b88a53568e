package backup

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/dockerbank/dockerbank/internal/deploy"
	"github.com/dockerbank/dockerbank/internal/seal"
	"github.com/dockerbank/dockerbank/internal/site"
)

type archMember struct {
	h    tar.Header
	body []byte
}

// testArchive writes an archive of the bktest entry: instance.tar, one
// dump stream, one file volume, secrets sealed to passphrase, then extra
// members; mutate may change the manifest.
func testArchive(t *testing.T, passphrase string, volume []archMember, extra []archMember, mutate func(*Manifest)) string {
	t.Helper()
	var rec bytes.Buffer
	tw := tar.NewWriter(&rec)
	tw.WriteHeader(&tar.Header{Name: "instance.yaml", Mode: 0o600, Size: 4})
	tw.Write([]byte("x: 1"))
	tw.Close()
	dump := []byte("-- PostgreSQL database dump complete\n")
	plain, _ := json.Marshal(sealedPayload{Secrets: map[string][]byte{"pg_password": []byte("s3cret")}})
	sealed, enc, err := seal.Seal(seal.Key{Passphrase: passphrase, WorkFactor: 10}, plain)
	if err != nil {
		t.Fatal(err)
	}
	m := Manifest{Format: ManifestVersion, Group: "20260101T000000Z-abc", Instance: "src", Entry: "bktest", Version: "1",
		Sealed: &SealedSecrets{Encryption: enc, Size: int64(len(sealed)), SHA256: sha256Hex(sealed)},
		Members: []Member{
			{Volume: "-", Kind: KindMeta, Streams: []Stream{{Name: "instance.tar", Size: int64(rec.Len()), SHA256: sha256Hex(rec.Bytes())}}},
			{Volume: "pgdata", Kind: KindDump, Service: "pg", Engine: "postgres", Streams: []Stream{{Name: "db-clinic.sql", Size: int64(len(dump)), SHA256: sha256Hex(dump)}}},
			{Volume: "files", Kind: KindFiles, Mode: ModeTar},
		}}
	if mutate != nil {
		mutate(&m)
	}
	data, _ := json.Marshal(&m)
	members := []archMember{
		{tar.Header{Name: archiveManifest}, data},
		{tar.Header{Name: archiveSecrets}, sealed},
		{tar.Header{Name: "instance.tar"}, rec.Bytes()},
		{tar.Header{Name: "dumps/pgdata/db-clinic.sql"}, dump},
	}
	members = append(append(members, volume...), extra...)
	var buf bytes.Buffer
	zw, _ := zstd.NewWriter(&buf)
	aw := tar.NewWriter(zw)
	for _, mb := range members {
		h := mb.h
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(mb.body))
		}
		h.Mode = 0o644
		if err := aw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		aw.Write(mb.body)
	}
	aw.Close()
	zw.Close()
	file := filepath.Join(t.TempDir(), "a.tar.zst")
	if err := os.WriteFile(file, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

func reg(name, body string) archMember { return archMember{tar.Header{Name: name}, []byte(body)} }

// TestImportChecksWholeArchiveFirst: a restore from an archive refuses a
// bad member anywhere in the archive (also after the dumps, which used to
// be loaded into a freshly deployed instance first) before it deploys or
// writes anything. The job has no engine: reaching a deploy would fail.
func TestImportChecksWholeArchiveFirst(t *testing.T) {
	const pass = "correct horse battery staple"
	good := []archMember{reg("volumes/files/a.txt", "a"), {tar.Header{Name: "volumes/files/d/", Typeflag: tar.TypeDir}, nil}}
	tests := []struct {
		name   string
		volume []archMember
		extra  []archMember
		mutate func(*Manifest)
		key    seal.Key
		want   error
	}{
		{"dot-dot at the end", good, []archMember{reg("volumes/files/../../../../evil", "evil")}, nil, seal.Key{Passphrase: pass}, ErrUnsafeArchive},
		{"absolute", append(good, reg("/etc/evil", "evil")), nil, nil, seal.Key{Passphrase: pass}, ErrUnsafeArchive},
		{"symlink escape", append(good, archMember{tar.Header{Name: "volumes/files/l", Typeflag: tar.TypeSymlink, Linkname: "../../../../etc"}, nil}), nil, nil, seal.Key{Passphrase: pass}, ErrUnsafeArchive},
		{"write through symlink", append(good, archMember{tar.Header{Name: "volumes/files/l", Typeflag: tar.TypeSymlink, Linkname: "d"}, nil}, reg("volumes/files/l/x", "x")), nil, nil, seal.Key{Passphrase: pass}, ErrUnsafeArchive},
		{"hard link to another volume", append(good, archMember{tar.Header{Name: "volumes/files/h", Typeflag: tar.TypeLink, Linkname: "volumes/other/x"}, nil}), nil, nil, seal.Key{Passphrase: pass}, ErrUnsafeArchive},
		{"unknown section", good, []archMember{reg("extra/notes.txt", "?")}, nil, seal.Key{Passphrase: pass}, ErrUnsafeArchive},
		{"volume the manifest does not name", good, []archMember{reg("volumes/other/x", "?")}, nil, seal.Key{Passphrase: pass}, ErrUnsafeArchive},
		{"member twice", good, []archMember{reg("dumps/pgdata/db-clinic.sql", "drop table patients;")}, nil, seal.Key{Passphrase: pass}, ErrUnsafeArchive},
		{"damaged dump", good, nil, func(m *Manifest) { m.Members[1].Streams[0].SHA256 = sha256Hex([]byte("other")) }, seal.Key{Passphrase: pass}, ErrMismatch},
		{"missing dump", good, nil, func(m *Manifest) {
			m.Members[1].Streams = append(m.Members[1].Streams, Stream{Name: "db-research.sql", Size: 1, SHA256: "00"})
		}, seal.Key{Passphrase: pass}, ErrMismatch},
		{"wrong passphrase", good, nil, nil, seal.Key{Passphrase: "not the passphrase"}, seal.ErrWrongKey},
		{"no key", good, nil, nil, seal.Key{}, seal.ErrWrongKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			file := testArchive(t, pass, tc.volume, tc.extra, tc.mutate)
			s, err := site.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			j := &Job{M: &deploy.Manager{Site: s}}
			_, err = j.Import(t.Context(), "src", file, RestoreOptions{As: "dst"}, tc.key)
			if !errors.Is(err, tc.want) {
				t.Fatalf("import: %v, want %v", err, tc.want)
			}
			if ents, _ := os.ReadDir(filepath.Join(s.Dir, "instances")); len(ents) > 0 {
				t.Errorf("the refused archive wrote %s into the site", ents[0].Name())
			}
		})
	}
}

// TestArchiveCheckOpensSealedSecrets: a sound archive passes the check and
// yields its secrets, which are not in the archive in plaintext.
func TestArchiveCheckOpensSealedSecrets(t *testing.T) {
	const pass = "correct horse battery staple"
	file := testArchive(t, pass, []archMember{reg("volumes/files/a.txt", "a"),
		{tar.Header{Name: "volumes/files/h", Typeflag: tar.TypeLink, Linkname: "volumes/files/a.txt"}, nil}}, nil, nil)
	m, secrets, err := checkArchiveFile(t.Context(), file, seal.Key{Passphrase: pass})
	if err != nil {
		t.Fatal(err)
	}
	if m.Instance != "src" || string(secrets["pg_password"]) != "s3cret" {
		t.Errorf("instance %q, secrets %q", m.Instance, secrets)
	}
}

// TestSplitSecrets: the archive's instance record keeps everything but
// the secrets.
func TestSplitSecrets(t *testing.T) {
	var rec bytes.Buffer
	tw := tar.NewWriter(&rec)
	for n, b := range map[string]string{"instance.yaml": "name: x", "secrets/db_password": "pw", "compose.yaml": "services: {}"} {
		tw.WriteHeader(&tar.Header{Name: n, Mode: 0o600, Size: int64(len(b))})
		tw.Write([]byte(b))
	}
	tw.Close()
	rest, secrets, err := splitSecrets(rec.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if string(secrets["db_password"]) != "pw" || len(secrets) != 1 {
		t.Errorf("secrets %q", secrets)
	}
	if bytes.Contains(rest, []byte("pw")) || !bytes.Contains(rest, []byte("name: x")) || !bytes.Contains(rest, []byte("services: {}")) {
		t.Errorf("record without secrets: %q", rest)
	}
}
