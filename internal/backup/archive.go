package backup

import (
	"archive/tar"
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
)

// An archive is one zstd-compressed tar file holding a whole group, for
// air-gapped handover: manifest.json first, then instance.tar, then
// dumps/<volume>/<stream> and volumes/<volume>/<path> in manifest order,
// so that a restore reads it front to back without temporary files.
const archiveManifest = "manifest.json"

// ArchiveResult describes a written archive.
type ArchiveResult struct {
	Group string `json:"group"`
	File  string `json:"file"`
	Bytes int64  `json:"bytes"`
}

// Export takes a new backup group of an instance and writes it as one
// archive file (written to FILE.partial, renamed when complete).
func (j *Job) Export(ctx context.Context, name, file string) (*ArchiveResult, error) {
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
	if err := writeArchive(ctx, repo, m, tw); err != nil {
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

func writeArchive(ctx context.Context, repo *Restic, m *Manifest, tw *tar.Writer) error {
	if err := m.inlineIndexes(ctx); err != nil {
		return err
	}
	data, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		return err
	}
	now := time.Now()
	if err := tw.WriteHeader(&tar.Header{Name: archiveManifest, Mode: 0o600, Size: int64(len(data)), ModTime: now}); err != nil {
		return err
	}
	if _, err := tw.Write(data); err != nil {
		return err
	}
	src := repoSource{repo}
	for _, mb := range m.Members {
		switch mb.Kind {
		case KindMeta, KindDump:
			for _, st := range mb.Streams {
				name := st.Name
				if mb.Kind == KindDump {
					name = "dumps/" + mb.Volume + "/" + st.Name
				}
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

// archiveSource reads a group from an archive file front to back.
type archiveSource struct {
	tr      *tar.Reader
	pending *tar.Header // read by Next but not consumed yet
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
// o.As, or (non-destructively, as Restore) in place.
func (j *Job) Import(ctx context.Context, name, file string, o RestoreOptions) (*RestoreResult, error) {
	start := time.Now()
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("read archive: %w", err)
	}
	defer f.Close()
	zr, err := zstd.NewReader(bufio.NewReaderSize(f, 1<<20), zstd.WithDecoderMaxMemory(256<<20))
	if err != nil {
		return nil, fmt.Errorf("read archive %s: %w", file, err)
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
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
	return j.restoreManifest(ctx, &archiveSource{tr: tr}, &m, name, o, start)
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
