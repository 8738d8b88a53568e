package dr

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/dockerbank/dockerbank/internal/seal"
)

// ErrWrongKey means the identity or passphrase given does not open the
// bundle's secrets.
var ErrWrongKey = seal.ErrWrongKey

// ErrNoKey means neither a recipient nor a passphrase was given: secrets
// are never written in plaintext.
var ErrNoKey = seal.ErrNoKey

// Key says how the bundle's secrets are encrypted or decrypted (see
// package seal, shared with backup archives).
type Key = seal.Key

// PassphraseFromFile reads a passphrase (the first line of the file).
func PassphraseFromFile(file string) (string, error) { return seal.PassphraseFromFile(file) }

// IdentitiesFromFile reads age identities (an age-keygen key file).
var IdentitiesFromFile = seal.IdentitiesFromFile

// secretSet is the plaintext of secrets.age: instance -> secret -> value.
type secretSet struct {
	Instances map[string]map[string]string `json:"instances"`
}

func sealSecrets(k Key, s secretSet) (data []byte, encryption string, err error) {
	if k.Recipient == "" && k.Passphrase == "" {
		return nil, "", fmt.Errorf("%w: pass --recipient AGE_PUBKEY or --passphrase-file FILE", ErrNoKey)
	}
	plain, err := json.Marshal(s)
	if err != nil {
		return nil, "", fmt.Errorf("encode secrets: %w", err)
	}
	return seal.Seal(k, plain)
}

// openSecrets decrypts the bundle's secrets.
func openSecrets(b *Bundle, k Key) (secretSet, error) {
	data, _ := b.File(SecretsFile)
	plain, err := seal.Open(k, b.Manifest.Encryption, b.Manifest.Recipient, data, maxFileBytes)
	if errors.Is(err, seal.ErrCorrupt) {
		return secretSet{}, fmt.Errorf("%w: %s: %v", ErrBadBundle, SecretsFile, err)
	}
	if err != nil {
		return secretSet{}, err
	}
	var s secretSet
	if err := json.Unmarshal(plain, &s); err != nil {
		return secretSet{}, fmt.Errorf("%w: %s: %v", ErrBadBundle, SecretsFile, err)
	}
	return s, nil
}
