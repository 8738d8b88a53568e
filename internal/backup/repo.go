package backup

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/dockerbank/dockerbank/internal/site"
)

// KeyFile is the file in the site that holds the repository password.
const KeyFile = "backup-key"

// ErrNoKey means the repository exists but the site has no key file.
var ErrNoKey = errors.New("backup repository key missing")

// RepositoryOf returns the site's repository: site.yaml backup.repository
// or <site>/backups.
func RepositoryOf(s *site.Site) (string, error) {
	c, err := s.Config()
	if err != nil {
		return "", err
	}
	if c.Backup.Repository != "" {
		return c.Backup.Repository, nil
	}
	return filepath.Join(s.Dir, "backups"), nil
}

// OpenRepo opens the site's repository, creating it and its password (a
// 0600 key file in the site) on first use.
func OpenRepo(ctx context.Context, s *site.Site, create bool) (*Restic, error) {
	url, err := RepositoryOf(s)
	if err != nil {
		return nil, err
	}
	keyPath := filepath.Join(s.Dir, KeyFile)
	r := &Restic{Repository: url, PasswordFile: keyPath, Bin: os.Getenv("DOCKERBANK_RESTIC")}
	_, kerr := os.Stat(keyPath)
	if kerr != nil && !errors.Is(kerr, os.ErrNotExist) {
		return nil, fmt.Errorf("read backup key %s: %w", keyPath, kerr)
	}
	if kerr == nil {
		exists, err := r.Exists(ctx)
		if err != nil {
			return nil, err
		}
		if !exists {
			if !create {
				return nil, fmt.Errorf("%w: no backup repository at %s yet; run `dockerbank backup NAME` first", ErrRepository, url)
			}
			if err := r.Init(ctx); err != nil {
				return nil, err
			}
		}
		return r, nil
	}
	// No key yet: a repository there belongs to someone else's key.
	pf, err := os.CreateTemp(s.Dir, ".probe-key-")
	if err != nil {
		return nil, fmt.Errorf("probe backup repository: %w", err)
	}
	pf.WriteString(rand.Text())
	pf.Close()
	defer os.Remove(pf.Name())
	probe := &Restic{Repository: url, PasswordFile: pf.Name(), Bin: r.Bin}
	if exists, err := probe.Exists(ctx); exists {
		return nil, fmt.Errorf("%w: a backup repository exists at %s but %s is missing; put the key from your escrow copy there (mode 0600)", ErrNoKey, url, keyPath)
	} else if err != nil && !errors.Is(err, ErrWrongPassword) {
		return nil, err
	}
	if !create {
		return nil, fmt.Errorf("%w: no backup repository at %s yet; run `dockerbank backup NAME` first", ErrRepository, url)
	}
	key := rand.Text() + rand.Text()
	if err := site.WriteFileAtomic(keyPath, []byte(key+"\n"), 0o600); err != nil {
		return nil, err
	}
	if err := r.Init(ctx); err != nil {
		os.Remove(keyPath)
		return nil, err
	}
	return r, nil
}

// Key returns the repository password of the site.
func Key(s *site.Site) (string, error) {
	data, err := os.ReadFile(filepath.Join(s.Dir, KeyFile))
	if err != nil {
		return "", fmt.Errorf("read backup key: %w", err)
	}
	return strings.TrimSpace(string(data)), nil
}
