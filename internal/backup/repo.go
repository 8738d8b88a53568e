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
	return repositoryOf(s, c), nil
}

func repositoryOf(s *site.Site, c *site.Config) string {
	if c.Backup.Repository != "" {
		return c.Backup.Repository
	}
	return filepath.Join(s.Dir, "backups")
}

// OpenRepo opens the site's repository, creating it and its password (a
// 0600 key file in the site) on first use.
func OpenRepo(ctx context.Context, s *site.Site, create bool) (*Restic, error) {
	c, err := s.Config()
	if err != nil {
		return nil, err
	}
	url := repositoryOf(s, c)
	keyPath := filepath.Join(s.Dir, KeyFile)
	r, err := Open(url, "", c.Backup.Access)
	if err != nil {
		return nil, err
	}
	r.PasswordFile, r.Compression = keyPath, c.Backup.Compression
	_, kerr := os.Stat(keyPath)
	if kerr != nil && !errors.Is(kerr, os.ErrNotExist) {
		return nil, fmt.Errorf("read backup key %s: %w", keyPath, kerr)
	}
	if kerr == nil {
		if r.local() {
			// A local repository with its config: skip a restic start
			// here; the first real command checks the password.
			if _, err := os.Stat(filepath.Join(r.localDir(), "config")); err == nil {
				return r, r.UseFastKey()
			}
		}
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
		return r, r.UseFastKey()
	}
	// No key yet: a repository there belongs to someone else's key.
	pf, err := os.CreateTemp(s.Dir, ".probe-key-")
	if err != nil {
		return nil, fmt.Errorf("probe backup repository: %w", err)
	}
	pf.WriteString(rand.Text())
	pf.Close()
	defer os.Remove(pf.Name())
	probe := *r
	probe.PasswordFile = pf.Name()
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
	return r, r.UseFastKey()
}

// UseFastKey sets KeyHint to the repository's fast key, adding one if
// needed (see fastkey.go); remote repositories keep restic's own key.
func (r *Restic) UseFastKey() error {
	if !r.local() {
		return nil
	}
	data, err := os.ReadFile(r.PasswordFile)
	if err != nil {
		return fmt.Errorf("read backup key: %w", err)
	}
	hint, err := fastKeyHint(r.localDir(), strings.TrimSpace(string(data)))
	if err != nil {
		return err
	}
	r.KeyHint = hint
	return nil
}

// Key returns the repository password of the site.
func Key(s *site.Site) (string, error) {
	data, err := os.ReadFile(filepath.Join(s.Dir, KeyFile))
	if err != nil {
		return "", fmt.Errorf("read backup key: %w", err)
	}
	return strings.TrimSpace(string(data)), nil
}

// openRepo opens the repository the job works on: From when set (a
// restore from an off-site copy), else the site's, with the run's limits.
func (j *Job) openRepo(ctx context.Context, create bool) (*Restic, error) {
	if j.From != nil {
		return j.From, nil
	}
	return j.primary(ctx, create)
}

// primary opens the site's own repository with the run's limits.
func (j *Job) primary(ctx context.Context, create bool) (*Restic, error) {
	r, err := OpenRepo(ctx, j.M.Site, create)
	if err != nil {
		return nil, err
	}
	j.tune(r)
	return r, nil
}

// tune applies the run's traffic limits and progress to a repository.
func (j *Job) tune(r *Restic) {
	if j.LimitUpload > 0 {
		r.LimitUpload = j.LimitUpload
	}
	if j.LimitDownload > 0 {
		r.LimitDownload = j.LimitDownload
	}
}
