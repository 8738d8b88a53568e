package backup

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"fmt"
)

// SealWithMasterKey encrypts plain as restic stores a repository file
// (IV, AES-256-CTR, Poly1305-AES; doc/design.rst) under a master key given
// as `restic cat masterkey` prints it: tests write with it what a restic
// elsewhere would have left in a repository (a lock of another host).
func SealWithMasterKey(masterKey, plain []byte) ([]byte, error) {
	var k struct {
		MAC struct {
			K []byte `json:"k"`
			R []byte `json:"r"`
		} `json:"mac"`
		Encrypt []byte `json:"encrypt"`
	}
	if err := json.Unmarshal(masterKey, &k); err != nil {
		return nil, fmt.Errorf("read master key: %w", err)
	}
	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	c, err := aes.NewCipher(k.Encrypt)
	if err != nil {
		return nil, err
	}
	ct := make([]byte, len(plain))
	cipher.NewCTR(c, nonce).XORKeyStream(ct, plain)
	tag := poly1305AES(ct, nonce, k.MAC.K, k.MAC.R)
	return append(append(nonce, ct...), tag[:]...), nil
}

// EmptyDir is emptyDir for tests.
var EmptyDir = emptyDir
