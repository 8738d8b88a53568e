package backup

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/crypto/poly1305" //nolint:staticcheck // restic's key format is AES-CTR + Poly1305-AES
	"golang.org/x/crypto/scrypt"
)

// Every restic command derives the user key from the password with scrypt,
// calibrated by `restic init` to take about 0.5 s on the machine: a backup
// group runs restic several times, so half a second each adds up. A key
// stretched that hard protects a password a person chose; the site's
// generated password already holds 260 random bits, which no stretching
// makes harder to guess. So for a generated password dockerbank adds a
// second key to a local repository with scrypt N=2^10 (about 1 ms), and
// points restic at it with RESTIC_KEY_HINT. The calibrated key stays: any
// restic opens the repository with the same password either way.
//
// The key file format is restic's (doc/design.rst, "Keys, Encryption and
// MAC"): the master key as JSON, encrypted with AES-256-CTR under the first
// 32 bytes of scrypt(password, salt, N, r, p, 64) and authenticated with
// Poly1305-AES under the last 32 (k for AES-128, then r), stored as
// IV || ciphertext || MAC in "data", in a file named by the SHA-256 of its
// contents.

// fastKeyN is the scrypt cost of the fast key.
const fastKeyN = 1 << 10

// minGeneratedPassword is the shortest password that gets a fast key: a
// site's generated password has 52 characters of 5 random bits.
const minGeneratedPassword = 40

type resticKeyFile struct {
	Created  time.Time `json:"created"`
	Username string    `json:"username"`
	Hostname string    `json:"hostname"`
	KDF      string    `json:"kdf"`
	N        int       `json:"N"`
	R        int       `json:"r"`
	P        int       `json:"p"`
	Salt     []byte    `json:"salt"`
	Data     []byte    `json:"data"`
}

// userKey derives the encryption key and the Poly1305-AES MAC key (k, r).
func (k *resticKeyFile) userKey(password string) (enc, macK, macR []byte, err error) {
	if k.KDF != "scrypt" {
		return nil, nil, nil, fmt.Errorf("key uses kdf %q, not scrypt", k.KDF)
	}
	b, err := scrypt.Key([]byte(password), k.Salt, k.N, k.R, k.P, 64)
	if err != nil {
		return nil, nil, nil, err
	}
	return b[:32], b[32:48], b[48:64], nil
}

func poly1305AES(msg, nonce, macK, macR []byte) [16]byte {
	var key [32]byte
	c, err := aes.NewCipher(macK)
	if err != nil {
		panic(err) // macK is always 16 bytes
	}
	c.Encrypt(key[16:], nonce)
	copy(key[:16], macR)
	var out [16]byte
	poly1305.Sum(&out, msg, &key)
	return out
}

// open decrypts the master key (restic's JSON) with the password.
func (k *resticKeyFile) open(password string) ([]byte, error) {
	if len(k.Data) < 32 {
		return nil, errors.New("key data too short")
	}
	enc, macK, macR, err := k.userKey(password)
	if err != nil {
		return nil, err
	}
	nonce, ct, tag := k.Data[:16], k.Data[16:len(k.Data)-16], k.Data[len(k.Data)-16:]
	want := poly1305AES(ct, nonce, macK, macR)
	if subtle.ConstantTimeCompare(want[:], tag) != 1 {
		return nil, ErrWrongPassword
	}
	c, err := aes.NewCipher(enc)
	if err != nil {
		return nil, err
	}
	plain := make([]byte, len(ct))
	cipher.NewCTR(c, nonce).XORKeyStream(plain, ct)
	return plain, nil
}

// seal encrypts master (restic's JSON of the master key) into k.Data.
func (k *resticKeyFile) seal(password string, master []byte) error {
	enc, macK, macR, err := k.userKey(password)
	if err != nil {
		return err
	}
	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		return err
	}
	c, err := aes.NewCipher(enc)
	if err != nil {
		return err
	}
	ct := make([]byte, len(master))
	cipher.NewCTR(c, nonce).XORKeyStream(ct, master)
	tag := poly1305AES(ct, nonce, macK, macR)
	k.Data = append(append(nonce, ct...), tag[:]...)
	return nil
}

// fastKeyHint returns the ID of the repository's fast key, adding one
// when the repository is local, the password is a generated one and no
// fast key exists yet. "" means restic opens the repository the slow way.
func fastKeyHint(repoDir, password string) (string, error) {
	if len(password) < minGeneratedPassword {
		return "", nil
	}
	dir := filepath.Join(repoDir, "keys")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("read repository keys in %s: %w", dir, err)
	}
	var slow *resticKeyFile
	for _, e := range ents {
		raw, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return "", fmt.Errorf("read repository key %s: %w", e.Name(), err)
		}
		var k resticKeyFile
		if json.Unmarshal(raw, &k) != nil || k.KDF != "scrypt" {
			continue
		}
		if k.N <= fastKeyN {
			if _, err := k.open(password); err == nil {
				return e.Name(), nil
			}
			continue
		}
		if slow == nil {
			slow = &k
		}
	}
	if slow == nil {
		return "", nil
	}
	master, err := slow.open(password)
	if err != nil {
		return "", nil // another person's key: restic tries them all
	}
	host, _ := os.Hostname()
	fast := resticKeyFile{Created: time.Now().UTC(), Username: "dockerbank", Hostname: host, KDF: "scrypt",
		N: fastKeyN, R: 8, P: 1, Salt: make([]byte, 64)}
	if _, err := rand.Read(fast.Salt); err != nil {
		return "", err
	}
	if err := fast.seal(password, master); err != nil {
		return "", err
	}
	data, err := json.Marshal(fast)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	id := hex.EncodeToString(sum[:])
	// restic writes key files read-only. A crash must never leave a
	// half-written file among the keys: write it beside them, then rename.
	tmp := filepath.Join(repoDir, ".dockerbank-key-"+id)
	if err := os.WriteFile(tmp, data, 0o400); err != nil {
		return "", fmt.Errorf("add fast repository key: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, id)); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("add fast repository key: %w", err)
	}
	return id, nil
}
