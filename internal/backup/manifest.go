package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"sort"
	"time"

	"github.com/dockerbank/dockerbank/internal/fingerprint"
)

// ManifestVersion is the format of Manifest.
const ManifestVersion = "dockerbank.backup/v1"

// Manifest describes one backup group: every member stored, and what a
// restore must reproduce. A group is complete only when its manifest is
// stored, and the manifest is stored only after every member.
type Manifest struct {
	Format   string            `json:"format"`
	Group    string            `json:"group"`
	Instance string            `json:"instance"`
	Entry    string            `json:"entry"`
	Version  string            `json:"version"`
	Variant  string            `json:"variant,omitempty"`
	Params   map[string]string `json:"params,omitempty"`
	// Scale is the instance's replicas of scaled services (`dockerbank
	// scale`); restore --as runs the new instance with as many.
	Scale map[string]int `json:"scale,omitempty"`
	// Uses is the instance's shared servers (service -> instance): a
	// restore deploys its staging or new instance on the same servers.
	Uses     map[string]string `json:"uses,omitempty"`
	Started  time.Time         `json:"started"`
	Finished time.Time         `json:"finished"`
	// Quiesced lists the containers stopped or paused during capture, and
	// for how long.
	Quiesced    []string `json:"quiesced,omitempty"`
	QuiesceMode string   `json:"quiesceMode,omitempty"`
	QuiesceSecs float64  `json:"quiesceSeconds,omitempty"`
	Members     []Member `json:"members"`
	// Fingerprint is the data as the application sees it at the capture
	// (nil in groups of entries without one, and of older dockerbanks).
	Fingerprint *fingerprint.Fingerprint `json:"fingerprint,omitempty"`
	// Sealed describes the archive member secrets.age: the instance's
	// secrets, taken out of instance.tar and sealed with age (archives
	// only; older archives carry them in instance.tar).
	Sealed *SealedSecrets `json:"sealedSecrets,omitempty"`

	// snapshot is the manifest's own snapshot (with the volume indexes)
	// in repo, once stored or loaded.
	snapshot string
	repo     *Restic
}

// Member kinds.
const (
	KindDump  = "dump"  // a database dump, one stream per database
	KindFiles = "files" // a file volume: a directory tree or a tar stream
	KindMeta  = "meta"  // the instance's record and secrets
)

// Member is one stored part of a group.
type Member struct {
	Volume string `json:"volume"`
	Kind   string `json:"kind"`
	Method string `json:"method"` // the x-dockerbank backup method
	// Service is the database service for dumps.
	Service string `json:"service,omitempty"`
	Engine  string `json:"engine,omitempty"`
	// Server is the shared server instance the dump was taken in (the
	// instance's own database there, alone).
	Server string `json:"server,omitempty"`
	// Mode is "dir" (a host directory stored as the snapshot root) or
	// "tar" (a tar stream stored as one file) for file volumes.
	Mode     string   `json:"mode,omitempty"`
	Snapshot string   `json:"snapshot"`
	Streams  []Stream `json:"streams,omitempty"`
	// Index names the file volume's index (every entry with owner, mode,
	// mtime and, for regular files, sha256) in the manifest's snapshot.
	Index string `json:"index,omitempty"`
	// Files holds the same records inline: in archives, and in groups
	// written before indexes.
	Files []FileRecord `json:"files,omitempty"`
	// Root is the owner and mode of the volume's root directory.
	Root *FileRecord `json:"root,omitempty"`
	// Live means the volume was read while in use (quiesce none): files
	// created during the capture may be stored without a manifest record.
	Live  bool  `json:"live,omitempty"`
	Bytes int64 `json:"bytes"`
	Count int64 `json:"count"`
	Added int64 `json:"added"`
}

// Stream is one file in a snapshot, e.g. a dump of one database.
type Stream struct {
	Name     string `json:"name"`
	Database string `json:"database,omitempty"`
	Owner    string `json:"owner,omitempty"`
	Size     int64  `json:"size"`
	SHA256   string `json:"sha256"`
	// Tables are row counts and checksums at the dump's snapshot.
	Tables []Table `json:"tables,omitempty"`
}

// Table is the row count and a checksum of one table.
type Table struct {
	Name     string `json:"name"`
	Rows     int64  `json:"rows"`
	Checksum string `json:"checksum"`
}

// FileRecord is one entry of a file volume.
type FileRecord struct {
	Path   string    `json:"path"`
	Type   string    `json:"type"` // file, dir, symlink, other
	Size   int64     `json:"size,omitempty"`
	Mode   uint32    `json:"mode"`
	UID    int       `json:"uid"`
	GID    int       `json:"gid"`
	MTime  time.Time `json:"mtime"`
	Link   string    `json:"link,omitempty"`
	SHA256 string    `json:"sha256,omitempty"`
	// Ino and CTime let the next backup reuse the digest of an unchanged
	// file.
	Ino   uint64 `json:"ino,omitempty"`
	CTime int64  `json:"ctime,omitempty"`
}

// files returns the records of a file member, reading its index from the
// repository when the manifest does not hold them inline.
func (m *Manifest) files(ctx context.Context, mb Member) ([]FileRecord, error) {
	if mb.Index == "" {
		return mb.Files, nil
	}
	if m.repo == nil || m.snapshot == "" {
		return nil, fmt.Errorf("group %s: the index of %s is not at hand", m.Group, mb.Volume)
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(m.repo.Dump(ctx, m.snapshot, "/"+mb.Index, pw)) }()
	files, err := readIndex(pr)
	pr.CloseWithError(errors.New("index read"))
	if err != nil {
		return nil, fmt.Errorf("read index of %s in group %s: %w", mb.Volume, m.Group, err)
	}
	return files, nil
}

// VolumeFiles returns the records of the file volume's member of the
// group (files, directories, links), as the manifest promises them.
func (m *Manifest) VolumeFiles(ctx context.Context, volume string) ([]FileRecord, error) {
	for _, mb := range m.Members {
		if mb.Kind == KindFiles && mb.Volume == volume {
			return m.files(ctx, mb)
		}
	}
	return nil, fmt.Errorf("group %s has no file volume %s", m.Group, volume)
}

// inlineIndexes puts the records of every file member into the manifest
// itself (for archives, which carry no repository).
func (m *Manifest) inlineIndexes(ctx context.Context) error {
	for i := range m.Members {
		mb := &m.Members[i]
		if mb.Index == "" {
			continue
		}
		files, err := m.files(ctx, *mb)
		if err != nil {
			return err
		}
		mb.Files, mb.Index = files, ""
	}
	return nil
}

// Bytes sums the sizes of the members.
func (m *Manifest) Bytes() int64 {
	var n int64
	for _, mb := range m.Members {
		n += mb.Bytes
	}
	return n
}

// digestWriter counts and hashes what passes through it.
type digestWriter struct {
	h    hash.Hash
	n    int64
	tail []byte // the last bytes, for completeness markers
}

func newDigest() *digestWriter { return &digestWriter{h: sha256.New()} }

func (d *digestWriter) Write(p []byte) (int, error) {
	d.h.Write(p)
	d.n += int64(len(p))
	d.tail = append(d.tail, p...)
	if len(d.tail) > 4096 {
		d.tail = d.tail[len(d.tail)-4096:]
	}
	return len(p), nil
}

func (d *digestWriter) Sum() string { return hex.EncodeToString(d.h.Sum(nil)) }

// teeCounter passes a reader through a digest.
func teeCounter(r io.Reader, d *digestWriter) io.Reader { return io.TeeReader(r, d) }

func sortTables(t []Table) {
	sort.Slice(t, func(i, j int) bool { return t[i].Name < t[j].Name })
}
