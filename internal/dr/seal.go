package dr

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"filippo.io/age"
)

// ErrWrongKey means the identity or passphrase given does not open the
// bundle's secrets.
var ErrWrongKey = errors.New("wrong key for the bundle's secrets")

// ErrNoKey means neither a recipient nor a passphrase was given: secrets
// are never written in plaintext.
var ErrNoKey = errors.New("no key to encrypt the secrets to")

// Key says how the bundle's secrets are encrypted or decrypted: an age
// recipient (export) or identity (restore), or a passphrase (both).
type Key struct {
	// Recipient is an age public key (age1...), for export.
	Recipient string
	// Identities are age identities, for restore.
	Identities []age.Identity
	// Passphrase encrypts with scrypt.
	Passphrase string
	// scryptWorkFactor overrides age's default (tests only).
	scryptWorkFactor int
}

// PassphraseFromFile reads a passphrase (the first line of the file).
func PassphraseFromFile(file string) (string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("read passphrase file: %w", err)
	}
	p := strings.TrimRight(strings.SplitN(string(data), "\n", 2)[0], "\r")
	if len(p) < 12 {
		return "", fmt.Errorf("passphrase in %s is shorter than 12 characters; use a longer one", file)
	}
	return p, nil
}

// IdentitiesFromFile reads age identities (an age-keygen key file).
func IdentitiesFromFile(file string) ([]age.Identity, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("read identity file: %w", err)
	}
	defer f.Close()
	ids, err := age.ParseIdentities(f)
	if err != nil {
		return nil, fmt.Errorf("read identity file %s: %w; give an age key file (age-keygen -o key.txt)", file, err)
	}
	return ids, nil
}

// secretSet is the plaintext of secrets.age: instance -> secret -> value.
type secretSet struct {
	Instances map[string]map[string]string `json:"instances"`
}

func seal(k Key, s secretSet) (data []byte, encryption string, err error) {
	var recips []age.Recipient
	switch {
	case k.Recipient != "" && k.Passphrase != "":
		return nil, "", fmt.Errorf("give either a recipient or a passphrase, not both")
	case k.Recipient != "":
		r, err := age.ParseX25519Recipient(strings.TrimSpace(k.Recipient))
		if err != nil {
			return nil, "", fmt.Errorf("recipient %q: %w; give an age public key (age1...) from age-keygen", k.Recipient, err)
		}
		recips, encryption = []age.Recipient{r}, "x25519"
	case k.Passphrase != "":
		r, err := age.NewScryptRecipient(k.Passphrase)
		if err != nil {
			return nil, "", fmt.Errorf("passphrase: %w", err)
		}
		if k.scryptWorkFactor > 0 {
			r.SetWorkFactor(k.scryptWorkFactor)
		}
		recips, encryption = []age.Recipient{r}, "scrypt"
	default:
		return nil, "", fmt.Errorf("%w: pass --recipient AGE_PUBKEY or --passphrase-file FILE", ErrNoKey)
	}
	plain, err := json.Marshal(s)
	if err != nil {
		return nil, "", fmt.Errorf("encode secrets: %w", err)
	}
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, recips...)
	if err != nil {
		return nil, "", fmt.Errorf("encrypt secrets: %w", err)
	}
	if _, err := w.Write(plain); err != nil {
		return nil, "", fmt.Errorf("encrypt secrets: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, "", fmt.Errorf("encrypt secrets: %w", err)
	}
	return buf.Bytes(), encryption, nil
}

// openSecrets decrypts the bundle's secrets.
func openSecrets(b *Bundle, k Key) (secretSet, error) {
	var ids []age.Identity
	m := b.Manifest
	switch m.Encryption {
	case "x25519":
		if len(k.Identities) == 0 {
			return secretSet{}, fmt.Errorf("%w: the secrets are encrypted to %s: pass --identity with its age key file", ErrWrongKey, m.Recipient)
		}
		ids = k.Identities
	case "scrypt":
		if k.Passphrase == "" {
			return secretSet{}, fmt.Errorf("%w: the secrets are encrypted with a passphrase: pass --passphrase-file", ErrWrongKey)
		}
		id, err := age.NewScryptIdentity(k.Passphrase)
		if err != nil {
			return secretSet{}, err
		}
		ids = []age.Identity{id}
	default:
		return secretSet{}, fmt.Errorf("%w: unknown secret encryption %q", ErrBadBundle, m.Encryption)
	}
	data, _ := b.File(SecretsFile)
	r, err := age.Decrypt(bytes.NewReader(data), ids...)
	if err != nil {
		var nomatch *age.NoIdentityMatchError
		if errors.As(err, &nomatch) {
			hint := "the passphrase is not the one the bundle was exported with"
			if m.Encryption == "x25519" {
				hint = "the identity does not match the recipient " + m.Recipient
			}
			return secretSet{}, fmt.Errorf("%w: %s; nothing was changed", ErrWrongKey, hint)
		}
		return secretSet{}, fmt.Errorf("%w: decrypt %s: %v", ErrBadBundle, SecretsFile, err)
	}
	plain, err := io.ReadAll(io.LimitReader(r, maxFileBytes))
	if err != nil {
		return secretSet{}, fmt.Errorf("%w: decrypt %s: %v", ErrBadBundle, SecretsFile, err)
	}
	var s secretSet
	if err := json.Unmarshal(plain, &s); err != nil {
		return secretSet{}, fmt.Errorf("%w: %s: %v", ErrBadBundle, SecretsFile, err)
	}
	return s, nil
}
