package dr

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/zstd"
)

// fastKey is a passphrase key with a low scrypt work factor, for speed.
func fastKey(p string) Key { return Key{Passphrase: p, WorkFactor: 10} }

func sealedBundle(t *testing.T, k Key, compression string, secrets secretSet) []byte {
	t.Helper()
	m := sampleManifest()
	sealed, enc, err := sealSecrets(k, secrets)
	if err != nil {
		t.Fatal(err)
	}
	m.Encryption = enc
	files := map[string][]byte{SecretsFile: sealed, RunbookFile: []byte(Runbook(m)),
		"instances/demo/compose.yaml": []byte("services: {}\n"), "instances/demo/entry/entry.yaml": []byte("id: demo\n")}
	var buf bytes.Buffer
	if err := writeBundle(&buf, m, files, compression); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var testSecrets = secretSet{Instances: map[string]map[string]string{
	"demo": {"db_password": "S3CRET-demo-db-password-0123456789"},
	"sso":  {"admin_password": "S3CRET-sso-admin-ABCDEFGHIJ", "db_password": "S3CRET-sso-db-KLMNOPQRST"},
}}

func TestBundleRoundTrip(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		seal, open  Key
		compression string
	}{
		{"passphrase zstd", fastKey("correct horse battery"), fastKey("correct horse battery"), CompressZstd},
		{"recipient gzip", Key{Recipient: id.Recipient().String()}, Key{Identities: []age.Identity{id}}, CompressGzip},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := sealedBundle(t, tt.seal, tt.compression, testSecrets)
			b, err := ReadBundle(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			if b.Manifest.Format != FormatVersion || len(b.Manifest.Instances) != 3 {
				t.Errorf("manifest read back as format %d with %d instances", b.Manifest.Format, len(b.Manifest.Instances))
			}
			got, err := openSecrets(b, tt.open)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(testSecrets, got); diff != "" {
				t.Errorf("secrets (-want +got):\n%s", diff)
			}
			assertNoPlaintext(t, data, testSecrets)
		})
	}
}

// assertNoPlaintext searches the raw bundle and its decompressed tar for
// every secret value.
func assertNoPlaintext(t *testing.T, raw []byte, s secretSet) {
	t.Helper()
	plain := decompress(t, raw)
	for inst, m := range s.Instances {
		for name, v := range m {
			if bytes.Contains(raw, []byte(v)) || bytes.Contains(plain, []byte(v)) {
				t.Errorf("secret %s of %s is in the bundle in plaintext", name, inst)
			}
		}
	}
}

func decompress(t *testing.T, raw []byte) []byte {
	t.Helper()
	if bytes.HasPrefix(raw, []byte{0x28, 0xb5, 0x2f, 0xfd}) {
		zr, err := zstd.NewReader(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		out, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	b, err := ReadBundle(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	var all []byte
	for _, d := range b.files {
		all = append(all, d...)
	}
	return all
}

func TestWrongKeyIsRefused(t *testing.T) {
	id, _ := age.GenerateX25519Identity()
	other, _ := age.GenerateX25519Identity()
	tests := []struct {
		name       string
		seal, open Key
	}{
		{"other passphrase", fastKey("correct horse battery"), fastKey("wrong horse battery")},
		{"other identity", Key{Recipient: id.Recipient().String()}, Key{Identities: []age.Identity{other}}},
		{"identity for a passphrase bundle", fastKey("correct horse battery"), Key{Identities: []age.Identity{id}}},
		{"no identity", Key{Recipient: id.Recipient().String()}, Key{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := ReadBundle(bytes.NewReader(sealedBundle(t, tt.seal, CompressZstd, testSecrets)))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := openSecrets(b, tt.open); !errors.Is(err, ErrWrongKey) {
				t.Errorf("error %v, want ErrWrongKey", err)
			}
		})
	}
}

func TestSealRefusesWithoutKey(t *testing.T) {
	if _, _, err := sealSecrets(Key{}, testSecrets); !errors.Is(err, ErrNoKey) {
		t.Errorf("error %v, want ErrNoKey", err)
	}
}

// rawTar builds a bundle by hand.
func rawTar(t *testing.T, members map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, body := range members {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write([]byte(body))
	}
	tw.Close()
	return buf.Bytes()
}

func TestReadBundleRefusesBadInput(t *testing.T) {
	good := sealedBundle(t, fastKey("correct horse battery"), CompressZstd, testSecrets)
	plain := decompress(t, good)
	damaged := bytes.Replace(plain, []byte("services: {}"), []byte("services: []"), 1)
	tests := []struct {
		name string
		data []byte
		err  error
		msg  string
	}{
		{"newer format", rawTar(t, map[string]string{ManifestFile: `{"format": 2, "somethingNew": true}`}), ErrNewerFormat, "format 2, this dockerbank reads up to 1"},
		{"no format", rawTar(t, map[string]string{ManifestFile: `{"host": "x"}`}), ErrBadBundle, "no format version"},
		{"no manifest", rawTar(t, map[string]string{"x": "y"}), ErrBadBundle, "no manifest.json"},
		{"not a tar", []byte("hello, I am not a bundle at all, not even a tar file....."), ErrBadBundle, ""},
		{"unsafe path", rawTar(t, map[string]string{ManifestFile: `{"format": 1}`, "../etc/passwd": "x"}), ErrBadBundle, "unsafe"},
		{"damaged member", damaged, ErrBadBundle, "damaged"},
		{"unlisted member", rawTar(t, map[string]string{ManifestFile: `{"format": 1, "files": {}}`, "extra": "x"}), ErrBadBundle, "not listed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadBundle(bytes.NewReader(tt.data))
			if !errors.Is(err, tt.err) || !strings.Contains(fmtErr(err), tt.msg) {
				t.Errorf("error %v, want %v containing %q", err, tt.err, tt.msg)
			}
		})
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func FuzzReadBundle(f *testing.F) {
	f.Add(rawTar(&testing.T{}, map[string]string{ManifestFile: `{"format": 1, "files": {}}`}))
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd, 0, 0})
	f.Add([]byte{0x1f, 0x8b, 8, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ReadBundle(bytes.NewReader(data))
		if err == nil && b.Manifest.Format > FormatVersion {
			t.Fatalf("accepted format %d", b.Manifest.Format)
		}
	})
}
