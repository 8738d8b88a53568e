package site

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Secret returns the instance's secret, generating it with length random
// base32 characters (from crypto/rand) and storing it in a 0600 file when missing.
// Existing secrets are never replaced: data volumes depend on them.
func (s *Site) Secret(instance, name string, length int) (string, error) {
	dir := filepath.Join(s.InstanceDir(instance), "secrets")
	path := filepath.Join(dir, name)
	data, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimRight(string(data), "\n"), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read secret %s of %s: %w", name, instance, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("store secret %s of %s: %w", name, instance, err)
	}
	v := rand.Text()
	for len(v) < length {
		v += rand.Text()
	}
	v = v[:length]
	if err := WriteFileAtomic(path, []byte(v), 0o600); err != nil {
		return "", fmt.Errorf("store secret %s of %s: %w", name, instance, err)
	}
	return v, nil
}

// Secrets reads every stored secret of an instance (name -> value).
func (s *Site) Secrets(instance string) (map[string]string, error) {
	dir := filepath.Join(s.InstanceDir(instance), "secrets")
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read secrets of %s: %w", instance, err)
	}
	out := map[string]string{}
	for _, e := range ents {
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read secret %s of %s: %w", e.Name(), instance, err)
		}
		out[e.Name()] = strings.TrimRight(string(data), "\n")
	}
	return out, nil
}
