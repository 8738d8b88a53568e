package seal

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"filippo.io/age"
)

// ErrWrongKey means the identity or passphrase given does not open the
// sealed secrets.
var ErrWrongKey = errors.New("wrong key for the sealed secrets")

// ErrNoKey means neither a recipient nor a passphrase was given: secrets
// are never written in plaintext.
var ErrNoKey = errors.New("no key to encrypt the secrets to")

// Encryption names, as recorded beside sealed data.
const (
	X25519 = "x25519"
	Scrypt = "scrypt"
)

// Key says how secrets are encrypted or decrypted: an age recipient
// (sealing) or identity (opening), or a passphrase (both).
type Key struct {
	// Recipient is an age public key (age1...), for sealing.
	Recipient string
	// Identities are age identities, for opening.
	Identities []age.Identity
	// Passphrase encrypts with scrypt.
	Passphrase string
	// WorkFactor overrides age's scrypt work factor (tests only; 0 keeps
	// age's default).
	WorkFactor int
}

// Empty reports whether the key names nothing to seal or open with.
func (k Key) Empty() bool {
	return k.Recipient == "" && len(k.Identities) == 0 && k.Passphrase == ""
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

// Seal encrypts plain to the key's recipient or passphrase and returns
// the age file and the encryption's name (X25519 or Scrypt).
func Seal(k Key, plain []byte) (data []byte, encryption string, err error) {
	var recips []age.Recipient
	switch {
	case k.Recipient != "" && k.Passphrase != "":
		return nil, "", fmt.Errorf("give either a recipient or a passphrase, not both")
	case k.Recipient != "":
		r, err := age.ParseX25519Recipient(strings.TrimSpace(k.Recipient))
		if err != nil {
			return nil, "", fmt.Errorf("recipient %q: %w; give an age public key (age1...) from age-keygen", k.Recipient, err)
		}
		recips, encryption = []age.Recipient{r}, X25519
	case k.Passphrase != "":
		r, err := age.NewScryptRecipient(k.Passphrase)
		if err != nil {
			return nil, "", fmt.Errorf("passphrase: %w", err)
		}
		if k.WorkFactor > 0 {
			r.SetWorkFactor(k.WorkFactor)
		}
		recips, encryption = []age.Recipient{r}, Scrypt
	default:
		return nil, "", fmt.Errorf("%w: pass --recipient AGE_PUBKEY or --passphrase-file FILE", ErrNoKey)
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

// ErrCorrupt means sealed data is not an age file this package can read.
var ErrCorrupt = errors.New("sealed secrets unreadable")

// Open decrypts data sealed with the named encryption (recipient names the
// public key it was sealed to, for the error message), reading at most max
// bytes of plaintext.
func Open(k Key, encryption, recipient string, data []byte, max int64) ([]byte, error) {
	var ids []age.Identity
	switch encryption {
	case X25519:
		if len(k.Identities) == 0 {
			return nil, fmt.Errorf("%w: the secrets are encrypted to %s: pass --identity with its age key file", ErrWrongKey, recipient)
		}
		ids = k.Identities
	case Scrypt:
		if k.Passphrase == "" {
			return nil, fmt.Errorf("%w: the secrets are encrypted with a passphrase: pass --passphrase-file", ErrWrongKey)
		}
		id, err := age.NewScryptIdentity(k.Passphrase)
		if err != nil {
			return nil, err
		}
		ids = []age.Identity{id}
	default:
		return nil, fmt.Errorf("%w: unknown secret encryption %q", ErrCorrupt, encryption)
	}
	r, err := age.Decrypt(bytes.NewReader(data), ids...)
	if err != nil {
		var nomatch *age.NoIdentityMatchError
		if errors.As(err, &nomatch) {
			hint := "the passphrase is not the one the secrets were sealed with"
			if encryption == X25519 {
				hint = "the identity does not match the recipient " + recipient
			}
			return nil, fmt.Errorf("%w: %s; nothing was changed", ErrWrongKey, hint)
		}
		return nil, fmt.Errorf("%w: decrypt: %v", ErrCorrupt, err)
	}
	plain, err := io.ReadAll(io.LimitReader(r, max))
	if err != nil {
		return nil, fmt.Errorf("%w: decrypt: %v", ErrCorrupt, err)
	}
	return plain, nil
}
