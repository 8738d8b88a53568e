package dr

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/dockerbank/dockerbank/internal/site"
)

// FormatVersion is the bundle format this dockerbank writes and the newest
// it reads. Raise it when a reader of the previous format would
// misunderstand a new bundle.
const FormatVersion = 1

// Errors of bundle reading.
var (
	// ErrNewerFormat means the bundle was written by a newer dockerbank.
	ErrNewerFormat = errors.New("bundle format is newer than this dockerbank reads")
	// ErrBadBundle means the file is not a readable dockerbank bundle.
	ErrBadBundle = errors.New("not a valid dockerbank bundle")
)

// Files inside a bundle.
const (
	ManifestFile = "manifest.json"
	SecretsFile  = "secrets.age"
	RunbookFile  = "RUNBOOK.md"
)

// Compression of a bundle file.
const (
	CompressZstd = "zstd"
	CompressGzip = "gzip"
)

// Limits for reading a bundle (untrusted input).
const (
	maxBundleBytes = 1 << 30
	maxFileBytes   = 256 << 20
	maxFiles       = 100000
)

// Copy is one off-site copy of the backup repository as a bundle records it.
type Copy struct {
	Name            string `json:"name"`
	Repository      string `json:"repository"`
	PasswordFile    string `json:"passwordFile"`
	CredentialsFile string `json:"credentialsFile,omitempty"`
	SSHConfigFile   string `json:"sshConfigFile,omitempty"`
	CACertFile      string `json:"caCertFile,omitempty"`
}

// Manifest describes a bundle. It is stored as manifest.json.
type Manifest struct {
	// Format is the bundle format version (FormatVersion).
	Format     int       `json:"format"`
	Created    time.Time `json:"created"`
	Dockerbank string    `json:"dockerbank"`
	Host       string    `json:"host"`
	SiteDir    string    `json:"siteDir"`
	SiteID     string    `json:"siteID"`
	// Repository is the backup repository location (a path or a restic
	// URL). Its password is never in the bundle.
	Repository string `json:"repository"`
	// Copies are the off-site copies of the backups (site.yaml
	// backup.copies): locations and the paths of their password and
	// credential files, never the secrets themselves.
	Copies []Copy `json:"copies,omitempty"`
	// Encryption says how secrets.age is encrypted: "x25519" (to an age
	// recipient) or "scrypt" (to a passphrase).
	Encryption string `json:"encryption"`
	// Recipient is the age recipient (public key) for x25519.
	Recipient string     `json:"recipient,omitempty"`
	Instances []Instance `json:"instances"`
	// Files maps every other file of the bundle to its sha256.
	Files map[string]string `json:"files"`
}

// Instance is one instance of the exported site.
type Instance struct {
	Record site.Instance `json:"record"`
	// Title, Domain, Requires and Distribution come from the entry.
	Title        string   `json:"title"`
	Domain       string   `json:"domain"`
	Requires     []string `json:"requires,omitempty"`
	Distribution string   `json:"distribution"`
	// SupplySource is what the user must supply to rebuild a
	// build-locally entry.
	SupplySource string `json:"supplySource,omitempty"`
	// Compose is the bundle path of the rendered compose file.
	Compose string `json:"compose"`
	// EntryDir is the bundle path of the entry copy the instance was
	// rendered from.
	EntryDir string `json:"entryDir"`
	// Secrets names the instance's secrets (values are in secrets.age).
	Secrets []string `json:"secrets,omitempty"`
	// DataVolumes are the userdata volumes that have a backup method.
	DataVolumes []string `json:"dataVolumes,omitempty"`
	Images      []Image  `json:"images"`
	Checks      []string `json:"checks,omitempty"`
}

// Image is the image of one service of an instance.
type Image struct {
	Service string `json:"service"`
	// Ref is the reference the instance runs (tag, maybe with digest).
	Ref string `json:"ref"`
	// ID is the engine's image ID, RepoDigests its registry digests; an
	// image built locally has none.
	ID          string   `json:"id,omitempty"`
	RepoDigests []string `json:"repoDigests,omitempty"`
	// Build says how the entry builds this image locally; nil for images
	// that come from a registry.
	Build *Build `json:"build,omitempty"`
	// Missing is set when no container of the service ran at export.
	Missing bool `json:"missing,omitempty"`
}

// Build is a local image build from the entry copy in the bundle.
type Build struct {
	Context    string            `json:"context"`
	Dockerfile string            `json:"dockerfile,omitempty"`
	Args       map[string]string `json:"args,omitempty"`
}

// Bundle is a bundle read into memory.
type Bundle struct {
	Manifest Manifest
	files    map[string][]byte
}

// File returns a file of the bundle.
func (b *Bundle) File(name string) ([]byte, bool) {
	d, ok := b.files[name]
	return d, ok
}

// Instance returns the named instance of the bundle.
func (b *Bundle) Instance(name string) (*Instance, bool) {
	for i := range b.Manifest.Instances {
		if b.Manifest.Instances[i].Record.Name == name {
			return &b.Manifest.Instances[i], true
		}
	}
	return nil, false
}

// ExtractDir writes the files under prefix (a directory of the bundle) to
// dir.
func (b *Bundle) ExtractDir(prefix, dir string) error {
	prefix = strings.TrimSuffix(prefix, "/") + "/"
	n := 0
	for name, data := range b.files {
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		dst := filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(name, prefix)))
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return fmt.Errorf("extract %s: %w", name, err)
		}
		if err := os.WriteFile(dst, data, 0o600); err != nil {
			return fmt.Errorf("extract %s: %w", name, err)
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("%w: bundle has no files under %s", ErrBadBundle, prefix)
	}
	return nil
}

// writeBundle writes the manifest and files as a compressed tar stream;
// the manifest comes first and lists the sha256 of every other file.
func writeBundle(w io.Writer, m Manifest, files map[string][]byte, compression string) error {
	m.Files = map[string]string{}
	for name, data := range files {
		sum := sha256.Sum256(data)
		m.Files[name] = hex.EncodeToString(sum[:])
	}
	man, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encode bundle manifest: %w", err)
	}
	var zw io.WriteCloser
	switch compression {
	case CompressZstd, "":
		zw, err = zstd.NewWriter(w)
		if err != nil {
			return fmt.Errorf("compress bundle: %w", err)
		}
	case CompressGzip:
		zw = gzip.NewWriter(w)
	default:
		return fmt.Errorf("unknown compression %q: use zstd or gzip", compression)
	}
	tw := tar.NewWriter(zw)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	add := func(name string, data []byte) error {
		h := &tar.Header{Name: name, Mode: 0o600, Size: int64(len(data)), ModTime: m.Created, Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	if err := add(ManifestFile, man); err != nil {
		return fmt.Errorf("write bundle: %w", err)
	}
	for _, n := range names {
		if err := add(n, files[n]); err != nil {
			return fmt.Errorf("write bundle: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("write bundle: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("write bundle: %w", err)
	}
	return nil
}

// ReadBundle reads a bundle (tar, compressed with zstd or gzip, or not at
// all), refusing a newer format, unsafe paths and files whose digest does
// not match the manifest.
func ReadBundle(r io.Reader) (*Bundle, error) {
	br := bufio.NewReader(io.LimitReader(r, maxBundleBytes))
	magic, _ := br.Peek(4)
	var src io.Reader = br
	switch {
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br, zstd.WithDecoderMaxMemory(maxBundleBytes), zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadBundle, err)
		}
		defer zr.Close()
		src = zr
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadBundle, err)
		}
		defer zr.Close()
		src = zr
	}
	tr := tar.NewReader(io.LimitReader(src, maxBundleBytes))
	b := &Bundle{files: map[string][]byte{}}
	var man []byte
	total := 0
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadBundle, err)
		}
		if h.Typeflag == tar.TypeDir {
			continue
		}
		name := path.Clean(h.Name)
		if h.Typeflag != tar.TypeReg || name != h.Name || path.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
			return nil, fmt.Errorf("%w: unsafe or unexpected member %q", ErrBadBundle, h.Name)
		}
		if h.Size > maxFileBytes || len(b.files) >= maxFiles {
			return nil, fmt.Errorf("%w: member %s is too large, or too many members", ErrBadBundle, h.Name)
		}
		data, err := io.ReadAll(io.LimitReader(tr, maxFileBytes+1))
		if err != nil {
			return nil, fmt.Errorf("%w: read %s: %v", ErrBadBundle, h.Name, err)
		}
		total += len(data)
		if total > maxBundleBytes {
			return nil, fmt.Errorf("%w: larger than %d bytes", ErrBadBundle, maxBundleBytes)
		}
		if name == ManifestFile {
			man = data
			continue
		}
		if _, dup := b.files[name]; dup {
			return nil, fmt.Errorf("%w: member %s appears twice", ErrBadBundle, name)
		}
		b.files[name] = data
	}
	if man == nil {
		return nil, fmt.Errorf("%w: it has no %s", ErrBadBundle, ManifestFile)
	}
	// The format is read first, alone, so that a newer manifest is refused
	// for what it is and not for a field this version does not know.
	var head struct {
		Format int `json:"format"`
	}
	if err := json.Unmarshal(man, &head); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadBundle, ManifestFile, err)
	}
	if head.Format > FormatVersion {
		return nil, fmt.Errorf("%w: it has format %d, this dockerbank reads up to %d; use a dockerbank at least as new as the one that wrote it",
			ErrNewerFormat, head.Format, FormatVersion)
	}
	if head.Format < 1 {
		return nil, fmt.Errorf("%w: %s has no format version", ErrBadBundle, ManifestFile)
	}
	dec := json.NewDecoder(bytes.NewReader(man))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b.Manifest); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadBundle, ManifestFile, err)
	}
	for name, want := range b.Manifest.Files {
		data, ok := b.files[name]
		if !ok {
			return nil, fmt.Errorf("%w: %s is listed in the manifest but missing", ErrBadBundle, name)
		}
		sum := sha256.Sum256(data)
		if hex.EncodeToString(sum[:]) != want {
			return nil, fmt.Errorf("%w: %s is damaged (sha256 differs from the manifest)", ErrBadBundle, name)
		}
	}
	for name := range b.files {
		if _, ok := b.Manifest.Files[name]; !ok {
			return nil, fmt.Errorf("%w: %s is not listed in the manifest", ErrBadBundle, name)
		}
	}
	if _, ok := b.files[SecretsFile]; !ok {
		return nil, fmt.Errorf("%w: it has no %s", ErrBadBundle, SecretsFile)
	}
	for _, in := range b.Manifest.Instances {
		if err := site.ValidName(in.Record.Name); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadBundle, err)
		}
	}
	return b, nil
}

// OpenBundle reads a bundle file.
func OpenBundle(file string) (*Bundle, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("open bundle: %w", err)
	}
	defer f.Close()
	b, err := ReadBundle(f)
	if err != nil {
		return nil, fmt.Errorf("read bundle %s: %w", file, err)
	}
	return b, nil
}
