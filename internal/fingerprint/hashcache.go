package fingerprint

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// A hash cache keeps the MD5 of each stored file an Orthanc fingerprint
// hashed, with the file's size, mtime, ctime and inode, so that the next
// fingerprint of the same volume (the next backup) rehashes only files
// whose key changed: a second backup of 20,000 files re-read every byte
// of the storage volume before (2.6 s at 8.6 KB a file, 5 GB at 256 KB).
//
// Why this does not weaken damage detection: a file's content changes
// through the file system only with a new ctime (which no process can set
// back) or a new inode (a file replaced by rename), so an unchanged key
// means the bytes the previous fingerprint checked. Damage below the file
// system (bit rot) keeps the key; restic skips such a file too (it
// compares the same metadata) and the group stores the bytes that were
// checked. Restores, drills and `verify` never use the cache: they hash
// every restored file.
type hashEntry struct {
	UUID  string `json:"u"`
	Size  int64  `json:"s"`
	MTime int64  `json:"m"`
	CTime int64  `json:"c"`
	Ino   uint64 `json:"i"`
	MD5   string `json:"h"`
}

// hashKey fills an entry's key from a file's metadata; ok is false where
// the platform does not give ctime and inode (no reuse then).
func hashKey(uuid string, fi fs.FileInfo) (hashEntry, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return hashEntry{}, false
	}
	return hashEntry{UUID: uuid, Size: fi.Size(), MTime: fi.ModTime().UnixNano(), CTime: st.Ctim.Nano(), Ino: st.Ino}, true
}

func (h hashEntry) sameFile(o hashEntry) bool {
	return h.Size == o.Size && h.MTime == o.MTime && h.CTime == o.CTime && h.Ino == o.Ino
}

// loadHashCache reads a cache; a missing or unreadable one is empty (it
// is only a hint: every file is hashed then).
func loadHashCache(path string) map[string]hashEntry {
	m := map[string]hashEntry{}
	if path == "" {
		return m
	}
	f, err := os.Open(path)
	if err != nil {
		return m
	}
	defer f.Close()
	dec := json.NewDecoder(bufio.NewReaderSize(f, 256<<10))
	for {
		var e hashEntry
		if err := dec.Decode(&e); err != nil {
			return m
		}
		m[e.UUID] = e
	}
}

// saveHashCache replaces the cache with entries (JSON lines, mode 0600).
func saveHashCache(path string, entries []hashEntry) error {
	if path == "" {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("write hash cache: %w", err)
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("write hash cache: %w", err)
	}
	bw := bufio.NewWriterSize(f, 256<<10)
	enc := json.NewEncoder(bw)
	for _, e := range entries {
		if e.MD5 == "" {
			continue
		}
		if err = enc.Encode(e); err != nil {
			break
		}
	}
	err = errors.Join(err, bw.Flush(), f.Close())
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write hash cache %s: %w", path, err)
	}
	return nil
}
