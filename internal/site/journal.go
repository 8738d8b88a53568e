package site

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"time"
)

// Record is one line of the journal.
type Record struct {
	Time     time.Time `json:"time"`
	User     string    `json:"user"`
	Command  string    `json:"command"`
	Instance string    `json:"instance,omitempty"`
	// Outcome is ok, failed, started, or an event kind such as stopped.
	Outcome string `json:"outcome"`
	Detail  string `json:"detail,omitempty"`
	// Containers lists container IDs an operation stopped or paused and
	// must start again (see the backup job and `dockerbank recover`).
	Containers []string `json:"containers,omitempty"`
	// Op ties together the records of one operation.
	Op string `json:"op,omitempty"`
	// PID is the process that wrote the record (set by Append).
	PID int `json:"pid,omitempty"`
}

func (s *Site) journalPath() string { return filepath.Join(s.Dir, "journal.jsonl") }

// Append adds a record to the journal and syncs it to disk before
// returning, so that what it says survives a crash right after.
func (s *Site) Append(r Record) error {
	if r.Time.IsZero() {
		r.Time = time.Now().UTC()
	}
	if r.User == "" {
		r.User = currentUser()
	}
	if r.PID == 0 {
		r.PID = os.Getpid()
	}
	line, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode journal record: %w", err)
	}
	f, err := os.OpenFile(s.journalPath(), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("open journal: %w", err)
	}
	defer f.Close()
	if _, err := f.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("append to journal: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync journal: %w", err)
	}
	return nil
}

// Journal returns the records, oldest first. A torn last line (a crash
// while appending) is skipped.
func (s *Site) Journal() ([]Record, error) {
	f, err := os.Open(s.journalPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	defer f.Close()
	var out []Record
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var r Record
		if json.Unmarshal(sc.Bytes(), &r) != nil {
			continue
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read journal: %w", err)
	}
	return out, nil
}

func currentUser() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	if sudo := os.Getenv("SUDO_USER"); sudo != "" {
		name = sudo + " (as " + name + ")"
	}
	return name
}
