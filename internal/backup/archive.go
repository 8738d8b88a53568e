package backup

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/dockerbank/dockerbank/internal/seal"
)

// An archive is one zstd-compressed tar file holding a whole group, for
// air-gapped handover: manifest.json first, then secrets.age (the
// instance's secrets sealed with age), then instance.tar (the instance
// record without its secrets), dumps/<volume>/<stream> and
// volumes/<volume>/<path> in manifest order, so that a restore reads it
// front to back without temporary files.
const (
	archiveManifest = "manifest.json"
	archiveSecrets  = "secrets.age"
	// maxRecordBytes bounds the instance record and the sealed secrets
	// held in memory.
	maxRecordBytes = 64 << 20
)

// SealedSecrets describes the sealed secrets of an archive.
type SealedSecrets struct {
	Encryption string `json:"encryption"`
	Recipient  string `json:"recipient,omitempty"`
	Size       int64  `json:"size"`
	SHA256     string `json:"sha256"`
}

// sealedPayload is the plaintext of secrets.age: secret name -> value.
type sealedPayload struct {
	Secrets map[string][]byte `json:"secrets"`
}

// ArchiveResult describes a written archive.
type ArchiveResult struct {
	Group string `json:"group"`
	File  string `json:"file"`
	Bytes int64  `json:"bytes"`
}

// Export takes a new backup group of an instance and writes it as one
// archive file (written to FILE.partial, renamed when complete); the
// instance's secrets are sealed to key, never written in plaintext.
func (j *Job) Export(ctx context.Context, name, file string, key seal.Key) (*ArchiveResult, error) {
	if key.Recipient == "" && key.Passphrase == "" {
		return nil, fmt.Errorf("%w: an archive carries the instance's secrets; pass --recipient AGE_PUBKEY or --passphrase-file FILE", seal.ErrNoKey)
	}
	if _, _, err := seal.Seal(key, nil); err != nil {
		return nil, err // a bad recipient, before any work
	}
	m, err := j.Backup(ctx, name, BackupOptions{Tag: "exported"})
	if err != nil {
		return nil, err
	}
	repo, err := j.openRepo(ctx, false)
	if err != nil {
		return nil, err
	}
	j.step("write group %s to %s", m.Group, file)
	tmp := file + ".partial"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("write archive: %w", err)
	}
	defer os.Remove(tmp)
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	zw, err := zstd.NewWriter(bw, zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(zw)
	if err := writeArchive(ctx, repo, m, tw, key); err != nil {
		return nil, fmt.Errorf("write archive %s: %w", file, err)
	}
	for _, c := range []io.Closer{tw, zw} {
		if err := c.Close(); err != nil {
			return nil, fmt.Errorf("write archive %s: %w", file, err)
		}
	}
	if err := bw.Flush(); err != nil {
		return nil, fmt.Errorf("write archive %s: %w", file, err)
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("write archive %s: %w", file, err)
	}
	st, _ := f.Stat()
	if err := os.Rename(tmp, file); err != nil {
		return nil, fmt.Errorf("write archive %s: %w", file, err)
	}
	return &ArchiveResult{Group: m.Group, File: file, Bytes: st.Size()}, nil
}

func writeArchive(ctx context.Context, repo *Restic, m *Manifest, tw *tar.Writer, key seal.Key) error {
	if err := m.inlineIndexes(ctx); err != nil {
		return err
	}
	src := repoSource{repo}
	// The archive's manifest describes instance.tar without its secrets
	// and the sealed secrets beside it.
	am := *m
	am.Members = append([]Member(nil), m.Members...)
	var record, sealed []byte
	for i, mb := range am.Members {
		if mb.Kind != KindMeta {
			continue
		}
		rc, _ := src.open(ctx, mb, "instance.tar")
		full, err := io.ReadAll(io.LimitReader(rc, maxRecordBytes))
		rc.Close()
		if err != nil {
			return fmt.Errorf("read instance record: %w", err)
		}
		var secrets map[string][]byte
		if record, secrets, err = splitSecrets(full); err != nil {
			return err
		}
		plain, err := json.Marshal(sealedPayload{Secrets: secrets})
		if err != nil {
			return err
		}
		var enc string
		if sealed, enc, err = seal.Seal(key, plain); err != nil {
			return err
		}
		am.Sealed = &SealedSecrets{Encryption: enc, Recipient: key.Recipient, Size: int64(len(sealed)), SHA256: sha256Hex(sealed)}
		am.Members[i].Streams = []Stream{{Name: "instance.tar", Size: int64(len(record)), SHA256: sha256Hex(record)}}
	}
	data, err := json.MarshalIndent(&am, "", " ")
	if err != nil {
		return err
	}
	now := time.Now()
	put := func(name string, b []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: int64(len(b)), ModTime: now}); err != nil {
			return err
		}
		_, err := tw.Write(b)
		return err
	}
	if err := put(archiveManifest, data); err != nil {
		return err
	}
	if am.Sealed != nil {
		if err := put(archiveSecrets, sealed); err != nil {
			return err
		}
	}
	for _, mb := range am.Members {
		switch mb.Kind {
		case KindMeta:
			if err := put("instance.tar", record); err != nil {
				return err
			}
		case KindDump:
			for _, st := range mb.Streams {
				name := "dumps/" + mb.Volume + "/" + st.Name
				if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: st.Size, ModTime: now}); err != nil {
					return err
				}
				rc, _ := src.open(ctx, mb, st.Name)
				n, err := io.Copy(tw, rc)
				rc.Close()
				if err != nil {
					return fmt.Errorf("copy %s: %w", name, err)
				}
				if n != st.Size {
					return fmt.Errorf("copy %s: %d bytes, manifest says %d", name, n, st.Size)
				}
			}
		case KindFiles:
			pr, pw := io.Pipe()
			go func() {
				var err error
				if mb.Mode == ModeDir {
					err = repo.Dump(ctx, mb.Snapshot, "/", pw)
				} else {
					err = repo.Dump(ctx, mb.Snapshot, "/"+mb.Volume+".tar", pw)
				}
				pw.CloseWithError(err)
			}()
			tr := tar.NewReader(pr)
			for {
				h, err := tr.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					pr.CloseWithError(err)
					return fmt.Errorf("read volume %s: %w", mb.Volume, err)
				}
				rel := strings.Trim(strings.TrimPrefix(h.Name, "./"), "/")
				if rel == "" || rel == "." {
					continue
				}
				h.Name = "volumes/" + mb.Volume + "/" + rel
				if h.Typeflag == tar.TypeDir {
					h.Name += "/"
				}
				if h.Typeflag == tar.TypeLink {
					h.Linkname = "volumes/" + mb.Volume + "/" + strings.Trim(strings.TrimPrefix(h.Linkname, "./"), "/")
				}
				if err := tw.WriteHeader(h); err != nil {
					return err
				}
				if _, err := io.Copy(tw, tr); err != nil {
					return err
				}
			}
			io.Copy(io.Discard, pr)
		}
	}
	return nil
}

// splitSecrets takes the files below secrets/ out of an instance record.
func splitSecrets(record []byte) (rest []byte, secrets map[string][]byte, err error) {
	secrets = map[string][]byte{}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tr := tar.NewReader(bytes.NewReader(record))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("read instance record: %w", err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, nil, fmt.Errorf("read instance record: %w", err)
		}
		if d, base := path.Split(h.Name); d == "secrets/" && base != "" {
			secrets[base] = data
			continue
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, nil, err
	}
	return buf.Bytes(), secrets, nil
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// archiveSource reads a group from an archive file front to back.
type archiveSource struct {
	tr      *tar.Reader
	pending *tar.Header // read by Next but not consumed yet
	// secrets are the opened sealed secrets (nil for older archives,
	// whose instance.tar holds them).
	secrets map[string][]byte
}

func (a *archiveSource) trusted() bool { return false }

func (a *archiveSource) restoreDir(context.Context, Member, string) error {
	return errors.New("archive members restore as tar streams")
}

func (a *archiveSource) next() (*tar.Header, error) {
	if a.pending != nil {
		h := a.pending
		a.pending = nil
		return h, nil
	}
	return a.tr.Next()
}

func (a *archiveSource) open(ctx context.Context, mb Member, stream string) (io.ReadCloser, error) {
	switch mb.Kind {
	case KindMeta, KindDump:
		want := stream
		if mb.Kind == KindDump {
			want = "dumps/" + mb.Volume + "/" + stream
		}
		for {
			h, err := a.next()
			if err != nil {
				return nil, fmt.Errorf("read archive: %s not found: %w", want, err)
			}
			if h.Name == want {
				return io.NopCloser(a.tr), nil
			}
		}
	}
	prefix := "volumes/" + mb.Volume + "/"
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		for {
			h, err := a.next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				pw.CloseWithError(err)
				return
			}
			if !strings.HasPrefix(h.Name, prefix) {
				if h.Name < prefix || strings.HasPrefix(h.Name, "dumps/") {
					continue // a member this restore skipped
				}
				a.pending = h
				break
			}
			h.Name = strings.TrimPrefix(h.Name, prefix)
			if h.Typeflag == tar.TypeLink {
				h.Linkname = strings.TrimPrefix(h.Linkname, prefix)
			}
			if err := tw.WriteHeader(h); err != nil {
				pw.CloseWithError(err)
				return
			}
			if _, err := io.Copy(tw, a.tr); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		pw.CloseWithError(tw.Close())
	}()
	return pr, nil
}

// Import restores a group from an archive file: into a new instance with
// o.As, or (non-destructively, as Restore) in place. The whole archive is
// checked first (every member's name, link and digest, the sealed secrets
// opened with key): nothing is deployed or written before that passed.
func (j *Job) Import(ctx context.Context, name, file string, o RestoreOptions, key seal.Key) (*RestoreResult, error) {
	start := time.Now()
	if err := validNames(name, o.As); err != nil {
		return nil, err
	}
	m, secrets, err := checkArchiveFile(ctx, file, key)
	if err != nil {
		return nil, err
	}
	if name == "" {
		name = m.Instance
	}
	if o.As == "" && name != m.Instance {
		return nil, fmt.Errorf("archive %s holds instance %s, not %s; use --as to restore it under another name", file, m.Instance, name)
	}
	// The in-place restore reads the group twice (staging, then live):
	// an archive is read once, so it restores into a new instance only,
	// or in place when the instance does not exist yet.
	if o.As == "" {
		if _, err := j.M.Site.Instance(name); err == nil {
			return nil, fmt.Errorf("instance %s exists: restore the archive with --as NEW, check it, then remove the old instance", name)
		}
		o.As = name
	}
	f, tr, err := openArchive(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := readArchiveManifest(file, tr); err != nil {
		return nil, err
	}
	return j.restoreManifest(ctx, &archiveSource{tr: tr, secrets: secrets}, m, name, o, start)
}

type archiveFile struct {
	f  *os.File
	zr *zstd.Decoder
}

func (a archiveFile) Close() error {
	a.zr.Close()
	return a.f.Close()
}

func openArchive(file string) (io.Closer, *tar.Reader, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, nil, fmt.Errorf("read archive: %w", err)
	}
	zr, err := zstd.NewReader(bufio.NewReaderSize(f, 1<<20), zstd.WithDecoderMaxMemory(256<<20))
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("read archive %s: %w", file, err)
	}
	return archiveFile{f, zr}, tar.NewReader(zr), nil
}

func readArchiveManifest(file string, tr *tar.Reader) (*Manifest, error) {
	h, err := tr.Next()
	if err != nil || h.Name != archiveManifest || h.Size > 512<<20 {
		return nil, fmt.Errorf("read archive %s: it does not start with %s: not a dockerbank archive (%v)", file, archiveManifest, err)
	}
	var m Manifest
	if err := json.NewDecoder(tr).Decode(&m); err != nil {
		return nil, fmt.Errorf("read archive %s: manifest: %w", file, err)
	}
	if m.Format != ManifestVersion {
		return nil, fmt.Errorf("read archive %s: manifest format %q; this dockerbank reads %s", file, m.Format, ManifestVersion)
	}
	if err := checkManifestNames(&m); err != nil {
		return nil, fmt.Errorf("read archive %s: %w", file, err)
	}
	return &m, nil
}

// checkArchiveFile reads an archive once, front to back, and checks all of
// it (see scanArchive) before a restore writes anything.
func checkArchiveFile(ctx context.Context, file string, key seal.Key) (*Manifest, map[string][]byte, error) {
	f, tr, err := openArchive(file)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	m, err := readArchiveManifest(file, tr)
	if err != nil {
		return nil, nil, err
	}
	secrets, err := scanArchive(ctx, tr, m, key)
	if err != nil {
		return nil, nil, fmt.Errorf("check archive %s: %w", file, err)
	}
	return m, secrets, nil
}

// scanArchive checks every member after the manifest: only members the
// manifest names (secrets.age, instance.tar, dumps/<volume>/<stream>,
// volumes/<volume>/...) each at most once, streams with the manifest's
// size and sha256, volume members that stay inside their volume (no
// absolute names, no "..", nothing below a symlink, no hard links or
// relative symlinks leaving the volume, no device nodes; absolute
// symlinks are data a volume may hold and are kept), and the sealed secrets opened with key. It
// returns the secrets.
func scanArchive(ctx context.Context, tr *tar.Reader, m *Manifest, key seal.Key) (map[string][]byte, error) {
	streams := map[string]Stream{}
	volumes := map[string]map[string]bool{} // volume -> symlinks seen
	for _, mb := range m.Members {
		switch mb.Kind {
		case KindMeta:
			for _, st := range mb.Streams {
				streams[st.Name] = st
			}
		case KindDump:
			for _, st := range mb.Streams {
				streams["dumps/"+mb.Volume+"/"+st.Name] = st
			}
		case KindFiles:
			volumes[mb.Volume] = map[string]bool{}
		}
	}
	if m.Sealed != nil {
		streams[archiveSecrets] = Stream{Name: archiveSecrets, Size: m.Sealed.Size, SHA256: m.Sealed.SHA256}
	}
	seen := map[string]bool{}
	var sealed []byte
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read archive: %w", err)
		}
		if seen[h.Name] {
			return nil, fmt.Errorf("%w %q: it appears twice", ErrUnsafeArchive, h.Name)
		}
		if st, ok := streams[h.Name]; ok {
			seen[h.Name] = true
			if h.Typeflag != tar.TypeReg {
				return nil, fmt.Errorf("%w %q: not a regular file", ErrUnsafeArchive, h.Name)
			}
			dg := newDigest()
			var keep bytes.Buffer
			w := io.Writer(dg)
			if h.Name == archiveSecrets {
				w = io.MultiWriter(dg, &keep)
			}
			if _, err := io.Copy(w, io.LimitReader(tr, st.Size+1)); err != nil {
				return nil, fmt.Errorf("read archive member %s: %w", h.Name, err)
			}
			if dg.n != st.Size || dg.Sum() != st.SHA256 {
				return nil, fmt.Errorf("%w: archive member %s has %d bytes sha256 %s, manifest says %d bytes %s; the archive is damaged", ErrMismatch, h.Name, dg.n, dg.Sum(), st.Size, st.SHA256)
			}
			sealed = append(sealed, keep.Bytes()...)
			continue
		}
		vol, rel, ok := strings.Cut(strings.TrimPrefix(h.Name, "volumes/"), "/")
		links, known := volumes[vol]
		if !strings.HasPrefix(h.Name, "volumes/") || !ok || !known {
			return nil, fmt.Errorf("%w %q: not a member the manifest names (expected %s, instance.tar, dumps/<volume>/<stream> or volumes/<volume>/...); nothing was restored", ErrUnsafeArchive, h.Name, archiveSecrets)
		}
		seen[h.Name] = true
		c := *h
		c.Name = rel
		if h.Typeflag == tar.TypeLink {
			lrel, ok := strings.CutPrefix(h.Linkname, "volumes/"+vol+"/")
			if !ok {
				return nil, fmt.Errorf("%w %q: hard link to %s outside its volume; nothing was restored", ErrUnsafeArchive, h.Name, h.Linkname)
			}
			c.Linkname = lrel
		}
		if err := checkMember(&c, links, true); err != nil {
			return nil, fmt.Errorf("%w (in volume %s)", err, vol)
		}
	}
	for n := range streams {
		if !seen[n] {
			return nil, fmt.Errorf("%w: archive member %s is missing; the archive is incomplete", ErrMismatch, n)
		}
	}
	if m.Sealed == nil {
		return nil, nil
	}
	plain, err := seal.Open(key, m.Sealed.Encryption, m.Sealed.Recipient, sealed, maxRecordBytes)
	if err != nil {
		return nil, err
	}
	var p sealedPayload
	if err := json.Unmarshal(plain, &p); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrMismatch, archiveSecrets, err)
	}
	for n := range p.Secrets {
		if n == "" || strings.HasPrefix(n, ".") || strings.ContainsAny(n, "/\\\x00") {
			return nil, fmt.Errorf("%w: sealed secret named %q", ErrUnsafeArchive, n)
		}
	}
	return p.Secrets, nil
}

// checkManifestNames refuses names in a manifest from an archive that
// could reach outside where they belong.
func checkManifestNames(m *Manifest) error {
	bad := func(s string) bool {
		return s == "" || s == "." || s == ".." || strings.ContainsAny(s, "/\\\x00") || path.Clean(s) != s
	}
	for _, mb := range m.Members {
		if mb.Kind != KindMeta && bad(mb.Volume) {
			return fmt.Errorf("%w: manifest names volume %q", ErrUnsafeArchive, mb.Volume)
		}
		for _, st := range mb.Streams {
			if bad(st.Name) {
				return fmt.Errorf("%w: manifest names stream %q", ErrUnsafeArchive, st.Name)
			}
		}
	}
	return nil
}
