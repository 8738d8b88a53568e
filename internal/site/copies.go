package site

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/dockerbank/dockerbank/internal/schedule"
)

// DefaultCopyMaxAge is how far an off-site copy may lag by default.
const DefaultCopyMaxAge = 26 * time.Hour

// DefaultStallTimeout ends a restic run that moved no data for this long.
const DefaultStallTimeout = 2 * time.Minute

// Stall returns the stall timeout of an access (default 2m).
func (a Access) Stall() time.Duration {
	d, err := time.ParseDuration(a.StallTimeout)
	if err != nil || d <= 0 {
		return DefaultStallTimeout
	}
	return d
}

// Age returns the copy's MaxAge (default 26h).
func (c CopyConfig) Age() time.Duration {
	d, err := time.ParseDuration(c.MaxAge)
	if err != nil || d <= 0 {
		return DefaultCopyMaxAge
	}
	return d
}

// DefaultCopyCheckEvery is how often a copy repository is checked whole.
const DefaultCopyCheckEvery = 24 * time.Hour

// CheckInterval returns the copy's CheckEvery (default 24h; 0 after
// every copy).
func (c CopyConfig) CheckInterval() time.Duration {
	d, err := time.ParseDuration(c.CheckEvery)
	if err != nil || d < 0 {
		return DefaultCopyCheckEvery
	}
	return d
}

// validateBackup returns every problem of the backup settings, at file:line.
func (c *Config) validateBackup(path string, root *yaml.Node) []error {
	var errs []error
	add := func(msg string, keys ...string) {
		errs = append(errs, fmt.Errorf("%s:%d: %s: %s (see docs/backup.md, Off-site copies)", path, nodeLine(root, keys...), strings.Join(keys, "."), msg))
	}
	checkAccess := func(a Access, keys ...string) {
		at := func(k string) []string { return append(append([]string{}, keys...), k) }
		// A missing file is reported when the repository is used, so that
		// a copy being set up does not stop every other command.
		if err := checkMode(a.CredentialsFile); err != nil {
			add(err.Error(), at("credentialsFile")...)
		}
		if a.LimitUpload < 0 {
			add("write a rate in KiB/s, 0 for no limit", at("limitUpload")...)
		}
		if a.LimitDownload < 0 {
			add("write a rate in KiB/s, 0 for no limit", at("limitDownload")...)
		}
		if a.StallTimeout != "" {
			if d, err := time.ParseDuration(a.StallTimeout); err != nil || d < time.Second {
				add(fmt.Sprintf("%q is not a duration of 1s or more (write e.g. 2m)", a.StallTimeout), at("stallTimeout")...)
			}
		}
	}
	checkAccess(c.Backup.Access, "backup")
	names := map[string]int{}
	for i, cp := range c.Backup.Copies {
		keys := []string{"backup", "copies", strconv.Itoa(i)}
		at := func(k string) []string { return append(append([]string{}, keys...), k) }
		name := cp.CopyName(i)
		if prev, ok := names[name]; ok {
			add(fmt.Sprintf("name %q is used by copy %d already; give each copy its own name", name, prev+1), at("name")...)
		}
		names[name] = i
		if cp.Name != "" && !validCopyName(cp.Name) {
			add(fmt.Sprintf("name %q: use lower-case letters, digits and '-'", cp.Name), at("name")...)
		}
		switch {
		case cp.Repository == "":
			add("no repository; write a restic URL such as sftp:backup@offsite:/srv/restic/clinic", keys...)
		case cp.Repository == c.Backup.Repository:
			add("the copy is the primary repository itself; name an off-site repository", at("repository")...)
		case strings.Contains(cp.Repository, "@") && strings.Contains(userInfo(cp.Repository), ":"):
			add("the URL holds a password; put it in credentialsFile (REST_PASSWORD=...) instead", at("repository")...)
		}
		if cp.PasswordFile == "" {
			add("no passwordFile; write the path of a file (mode 0600) holding this repository's password", keys...)
		} else if err := checkMode(cp.PasswordFile); err != nil {
			add(err.Error(), at("passwordFile")...)
		}
		if cp.Schedule != "" {
			if _, err := schedule.Parse(cp.Schedule); err != nil {
				add(err.Error(), at("schedule")...)
			}
		}
		if cp.MaxAge != "" {
			if d, err := time.ParseDuration(cp.MaxAge); err != nil || d <= 0 {
				add(fmt.Sprintf("%q is not a positive duration (write e.g. 26h)", cp.MaxAge), at("maxAge")...)
			}
		}
		if cp.CheckEvery != "" {
			if d, err := time.ParseDuration(cp.CheckEvery); err != nil || d < 0 {
				add(fmt.Sprintf("%q is not a duration (write e.g. 24h, or 0s to check after every copy)", cp.CheckEvery), at("checkEvery")...)
			}
		}
		if k := cp.Keep; k != nil {
			for _, pr := range (schedule.Policy{Keep: k}).Validate() {
				add(pr.Message, append(keys, strings.Split(pr.Field, ".")...)...)
			}
		}
		checkAccess(cp.Access, keys...)
	}
	return errs
}

func validCopyName(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return s != ""
}

// userInfo is the user:password part of a URL-like repository location.
func userInfo(repo string) string {
	rest := repo
	if i := strings.Index(rest, "://"); i >= 0 {
		rest = rest[i+3:]
	} else if i := strings.IndexByte(rest, ':'); i >= 0 {
		rest = rest[i+1:]
	}
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return ""
	}
	if slash := strings.IndexByte(rest, '/'); slash >= 0 && slash < at {
		return ""
	}
	return rest[:at]
}

// checkMode refuses an existing secret file that others can read.
func checkMode(path string) error {
	if path == "" {
		return nil
	}
	if _, err := os.Stat(path); err != nil {
		return nil
	}
	return CheckSecretFile(path)
}

// CheckSecretFile makes sure a file holding a secret exists and is
// readable by its owner only.
func CheckSecretFile(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("%s: %v; create it (mode 0600)", path, errors.Unwrap(err))
	}
	if st.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%s has mode %04o: others can read the secret; run chmod 600 %s", path, st.Mode().Perm(), path)
	}
	return nil
}

// CopyRecord says that a backup group exists on an off-site copy, and
// when restic check and the group's manifest were last confirmed there.
type CopyRecord struct {
	Instance string    `json:"instance"`
	Group    string    `json:"group"`
	Copy     string    `json:"copy"`
	Repo     string    `json:"repository"`
	GroupAt  time.Time `json:"groupTime"`
	Copied   time.Time `json:"copied"`
	// Verified is zero until the copy was checked there.
	Verified time.Time `json:"verified,omitzero"`
}

// CopiesFile records the groups copied off site.
const CopiesFile = "copies.json"

// Copies returns the records of groups copied off site.
func (s *Site) Copies() ([]CopyRecord, error) {
	data, err := os.ReadFile(filepath.Join(s.Dir, CopiesFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read copy records: %w", err)
	}
	var recs []CopyRecord
	if err := json.Unmarshal(data, &recs); err != nil {
		return nil, fmt.Errorf("read copy records %s: %w", filepath.Join(s.Dir, CopiesFile), err)
	}
	return recs, nil
}

// UpdateCopies replaces the records of (instance, copy) whose group is in
// drop, then adds or replaces add. Callers hold the site lock.
func (s *Site) UpdateCopies(add []CopyRecord, instance, copy string, drop []string) error {
	recs, err := s.Copies()
	if err != nil {
		return err
	}
	gone := map[string]bool{}
	for _, g := range drop {
		gone[g] = true
	}
	for _, a := range add {
		gone[a.Instance+"\x00"+a.Group+"\x00"+a.Copy] = true
	}
	var out []CopyRecord
	for _, r := range recs {
		if (r.Instance == instance && r.Copy == copy && gone[r.Group]) || gone[r.Instance+"\x00"+r.Group+"\x00"+r.Copy] {
			continue
		}
		out = append(out, r)
	}
	out = append(out, add...)
	sort.Slice(out, func(i, j int) bool {
		if out[i].Instance != out[j].Instance {
			return out[i].Instance < out[j].Instance
		}
		if out[i].Group != out[j].Group {
			return out[i].Group < out[j].Group
		}
		return out[i].Copy < out[j].Copy
	})
	data, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return fmt.Errorf("encode copy records: %w", err)
	}
	return WriteFileAtomic(filepath.Join(s.Dir, CopiesFile), append(data, '\n'), 0o600)
}
