package seal

import (
	"errors"
	"testing"

	"filippo.io/age"
)

func TestSealOpen(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	other, _ := age.GenerateX25519Identity()
	plain := []byte("db_password=s3cret")
	tests := []struct {
		name      string
		seal      Key
		open      Key
		wantError error
	}{
		{"recipient", Key{Recipient: id.Recipient().String()}, Key{Identities: []age.Identity{id}}, nil},
		{"passphrase", Key{Passphrase: "correct horse battery", WorkFactor: 10}, Key{Passphrase: "correct horse battery"}, nil},
		{"wrong identity", Key{Recipient: id.Recipient().String()}, Key{Identities: []age.Identity{other}}, ErrWrongKey},
		{"wrong passphrase", Key{Passphrase: "correct horse battery", WorkFactor: 10}, Key{Passphrase: "incorrect horse"}, ErrWrongKey},
		{"no identity", Key{Recipient: id.Recipient().String()}, Key{Passphrase: "x"}, ErrWrongKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data, enc, err := Seal(tc.seal, plain)
			if err != nil {
				t.Fatal(err)
			}
			if string(data) == string(plain) {
				t.Fatal("sealed data is the plaintext")
			}
			got, err := Open(tc.open, enc, tc.seal.Recipient, data, 1<<20)
			if !errors.Is(err, tc.wantError) {
				t.Fatalf("open: %v, want %v", err, tc.wantError)
			}
			if err == nil && string(got) != string(plain) {
				t.Errorf("opened %q, want %q", got, plain)
			}
		})
	}
	if _, _, err := Seal(Key{}, plain); !errors.Is(err, ErrNoKey) {
		t.Errorf("seal without key: %v, want ErrNoKey", err)
	}
}
