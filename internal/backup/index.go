package backup

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// A file volume's index (one FileRecord per entry, JSON lines, in the
// order filepath.WalkDir visits them) is written to a file while the
// volume is read, stored in the group's manifest snapshot beside
// manifest.json, and kept in the site cache for the next backup, which
// reads it alongside its own walk to reuse the digests of unchanged files.
// Memory stays flat however many files a volume holds.

// indexName is the file name of a volume's index in the manifest snapshot.
func indexName(volume string) string { return volume + ".index.jsonl" }

// indexWriter writes an index file and sums what it records.
type indexWriter struct {
	f     *os.File
	bw    *bufio.Writer
	enc   *json.Encoder
	count int64
	bytes int64
}

func createIndex(path string) (*indexWriter, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("write file index: %w", err)
	}
	bw := bufio.NewWriterSize(f, 256<<10)
	return &indexWriter{f: f, bw: bw, enc: newLineEncoder(bw)}, nil
}

// newLineEncoder writes one JSON value per line.
func newLineEncoder(w io.Writer) *json.Encoder { return json.NewEncoder(w) }

func (w *indexWriter) add(rec *FileRecord) error {
	w.count++
	w.bytes += rec.Size
	return w.enc.Encode(rec)
}

func (w *indexWriter) close() error {
	err := w.bw.Flush()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write file index %s: %w", w.f.Name(), err)
	}
	return nil
}

// indexReader reads an index front to back.
type indexReader struct {
	sc  *bufio.Scanner
	cur FileRecord
	ok  bool
	err error
}

func newIndexReader(r io.Reader) *indexReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	ir := &indexReader{sc: sc}
	ir.next()
	return ir
}

func (r *indexReader) next() {
	r.ok = false
	if !r.sc.Scan() {
		r.err = r.sc.Err()
		return
	}
	r.cur = FileRecord{}
	if err := json.Unmarshal(r.sc.Bytes(), &r.cur); err != nil {
		r.err = fmt.Errorf("read file index: %w", err)
		return
	}
	r.ok = true
}

// digest returns the recorded digest of the regular file rel if its size,
// mtime, ctime and inode still match k; "" otherwise. Calls must come in
// walk order.
func (r *indexReader) digest(rel string, k fileKey) string {
	if r == nil {
		return ""
	}
	for r.ok && walkLess(r.cur.Path, rel) {
		r.next()
	}
	c := &r.cur
	if !r.ok || c.Path != rel || c.Type != "file" || c.SHA256 == "" || c.Ino == 0 {
		return ""
	}
	if c.Size != k.size || c.MTime.UnixNano() != k.mtime || c.CTime != k.ctime || c.Ino != k.ino {
		return ""
	}
	return c.SHA256
}

// readIndex reads a whole index into memory (drills and archives).
func readIndex(r io.Reader) ([]FileRecord, error) {
	ir := newIndexReader(r)
	var out []FileRecord
	for ; ir.ok; ir.next() {
		out = append(out, ir.cur)
	}
	return out, ir.err
}

// walkLess reports whether filepath.WalkDir visits the slash-separated
// relative path a before b: names sorted within a directory, a directory
// before its contents.
func walkLess(a, b string) bool {
	for {
		ac, arest, amore := strings.Cut(a, "/")
		bc, brest, bmore := strings.Cut(b, "/")
		if ac != bc {
			return ac < bc
		}
		if !amore || !bmore {
			return !amore && bmore
		}
		a, b = arest, brest
	}
}

// settleIndex drops the digests of files that changed while a live
// volume was read: their stored content is whatever restic read, so the
// manifest must not promise a digest for them. It rewrites the index in
// place (through a temporary file).
func settleIndex(root, path string) (volatile int, err error) {
	in, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("settle file index: %w", err)
	}
	defer in.Close()
	w, err := createIndex(path + ".settle")
	if err != nil {
		return 0, err
	}
	defer os.Remove(path + ".settle")
	ir := newIndexReader(bufio.NewReaderSize(in, 256<<10))
	for ; ir.ok; ir.next() {
		f := ir.cur
		if f.Type == "file" && f.SHA256 != "" {
			fi, err := os.Lstat(filepath.Join(root, filepath.FromSlash(f.Path)))
			if err != nil || fi.Size() != f.Size || !fi.ModTime().Equal(f.MTime) {
				f.SHA256 = ""
				volatile++
			}
		}
		if err := w.add(&f); err != nil {
			w.close()
			return 0, err
		}
	}
	if err := errors.Join(ir.err, w.close()); err != nil {
		return 0, err
	}
	return volatile, os.Rename(path+".settle", path)
}
