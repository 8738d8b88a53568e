package backup

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dockerbank/dockerbank/internal/testenv"
)

// The fast key must open the repository for the real restic, under the
// same password, and only for that password.
func TestFastKeyOpensRepositoryWithRestic(t *testing.T) {
	if _, err := exec.LookPath("restic"); err != nil {
		testenv.Missing(t, "restic")
	}
	ctx := context.Background()
	dir := t.TempDir()
	pass := strings.Repeat("abcdefgh", 7)
	pf := filepath.Join(dir, "key")
	if err := os.WriteFile(pf, []byte(pass+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := &Restic{Repository: filepath.Join(dir, "repo"), PasswordFile: pf}
	if err := r.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.UseFastKey(); err != nil {
		t.Fatal(err)
	}
	if r.KeyHint == "" {
		t.Fatal("no fast key was added for a generated password")
	}
	// The second call finds the same key instead of adding another.
	again := &Restic{Repository: r.Repository, PasswordFile: pf}
	if err := again.UseFastKey(); err != nil || again.KeyHint != r.KeyHint {
		t.Fatalf("second UseFastKey: hint %q, err %v; want %q", again.KeyHint, err, r.KeyHint)
	}
	keys, err := os.ReadDir(filepath.Join(r.Repository, "keys"))
	if err != nil || len(keys) != 2 {
		t.Fatalf("keys: %d, %v; want restic's and the fast one", len(keys), err)
	}

	// Only the fast key left: restic must open the repository with it and
	// store and read back data.
	for _, k := range keys {
		if k.Name() != r.KeyHint {
			if err := os.Remove(filepath.Join(r.Repository, "keys", k.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := r.BackupStdin(ctx, strings.NewReader("hello"), "x.txt", []string{"t"}); err != nil {
		t.Fatalf("backup with only the fast key: %v", err)
	}
	out, err := r.run(ctx, nil, "key", "list", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var list []struct {
		Current bool   `json:"current"`
		ID      string `json:"id"`
	}
	if err := json.Unmarshal(out, &list); err != nil || len(list) != 1 || !list[0].Current {
		t.Fatalf("restic key list: %s (%v)", out, err)
	}

	// Another password opens neither key, and restic says so.
	if err := os.WriteFile(pf, []byte(strings.Repeat("x", 52)), 0o600); err != nil {
		t.Fatal(err)
	}
	wrong := &Restic{Repository: r.Repository, PasswordFile: pf}
	if err := wrong.UseFastKey(); err != nil || wrong.KeyHint != "" {
		t.Fatalf("wrong password: hint %q, err %v; want none", wrong.KeyHint, err)
	}
	if _, err := wrong.Snapshots(ctx); err == nil || !strings.Contains(err.Error(), ErrWrongPassword.Error()) {
		t.Fatalf("restic with a wrong password: %v", err)
	}
}

// A password a person chose keeps restic's stretched key only.
func TestFastKeySkipsShortPasswords(t *testing.T) {
	hint, err := fastKeyHint(t.TempDir(), "correct horse battery")
	if err != nil || hint != "" {
		t.Fatalf("hint %q, err %v; want none", hint, err)
	}
}

func TestFastKeySealOpenRoundTrip(t *testing.T) {
	k := resticKeyFile{KDF: "scrypt", N: 16, R: 1, P: 1, Salt: make([]byte, 64)}
	master := []byte(`{"mac":{"k":"a","r":"b"},"encrypt":"c"}`)
	if err := k.seal("pw", master); err != nil {
		t.Fatal(err)
	}
	got, err := k.open("pw")
	if err != nil || string(got) != string(master) {
		t.Fatalf("open: %q, %v", got, err)
	}
	if _, err := k.open("other"); err != ErrWrongPassword {
		t.Fatalf("open with another password: %v", err)
	}
	k.Data[20] ^= 1
	if _, err := k.open("pw"); err != ErrWrongPassword {
		t.Fatalf("open of tampered data: %v", err)
	}
}
