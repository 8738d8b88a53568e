package audit

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// defaultMaxScan is how many leading bytes of each regular file the walker
// reads for magic bytes and content rules. Secrets beyond it in larger text
// files are not seen; headers, keys and dump markers sit at the start.
const defaultMaxScan = 256 << 10

// fact kinds: things the walker notices that are not findings by themselves.
type factKind int

const (
	factNone      factKind = iota
	factOSRelease          // value: content of os-release
	factPGMajor            // value: PostgreSQL major from /usr/lib/postgresql/<major>
	factPGVersion          // path: PG_VERSION file, value: its content
	factPGBase             // path: directory D that has D/base/
	factMySQLFile          // path: directory holding MySQL/MariaDB data files, value: example name
	factEngine             // path: package database, value: "engine cycle" of an installed database server
)

// candidate is something the walker noticed in one layer: a finding (rule
// set) or a fact that later becomes one.
type candidate struct {
	rule     string
	severity Severity
	path     string
	message  string
	fact     factKind
	value    string
	count    int
}

// layerScan is what one walk over a layer's tar stream found. Its size grows
// with the number of candidates and whiteouts, not with the number of files.
type layerScan struct {
	files      int
	bytes      int64
	candidates []candidate
	whiteouts  map[string]struct{} // deleted paths (from .wh.<name>)
	opaque     map[string]struct{} // directories made opaque (.wh..wh..opq)
	whiteoutN  int

	seen map[string]int // dedupe key -> index into candidates

	// Filled only when the walker collects image facts (walker.index).
	index         map[string]factEntry
	passwd, group string
}

func newLayerScan() *layerScan {
	return &layerScan{
		whiteouts: map[string]struct{}{},
		opaque:    map[string]struct{}{},
		seen:      map[string]int{},
	}
}

func (s *layerScan) add(c candidate) {
	s.candidates = append(s.candidates, c)
}

// addOnce adds c unless a candidate with the same key exists; then it only
// counts.
func (s *layerScan) addOnce(key string, c candidate) {
	if i, ok := s.seen[key]; ok {
		s.candidates[i].count++
		return
	}
	c.count = 1
	s.seen[key] = len(s.candidates)
	s.candidates = append(s.candidates, c)
}

// walker holds the reusable state for walking layers: one read buffer and
// one gzip reader, so walking allocates per candidate, not per file.
type walker struct {
	maxScan  int
	buf      []byte
	gz       *gzip.Reader
	licences []LicenceRule
	// index makes walk record the facts ReadFacts returns; factsOnly
	// skips the audit rules.
	index, factsOnly bool
}

func newWalker(maxScan int, licences []LicenceRule) *walker {
	if maxScan <= 0 {
		maxScan = defaultMaxScan
	}
	return &walker{maxScan: maxScan, buf: make([]byte, maxScan), licences: licences}
}

// decompress returns a reader of the uncompressed layer: layers in docker
// save tarballs are plain tar, gzip-compressed in OCI layouts and in
// tarballs other tools write.
func (w *walker) decompress(r io.Reader) (io.Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic, err := br.Peek(2)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		if w.gz == nil {
			w.gz, err = gzip.NewReader(br)
		} else {
			err = w.gz.Reset(br)
		}
		if err != nil {
			return nil, fmt.Errorf("open gzip layer: %w", err)
		}
		return w.gz, nil
	}
	return br, nil
}

// walk reads one layer (a tar stream, possibly gzip-compressed) once.
func (w *walker) walk(r io.Reader) (*layerScan, error) {
	ur, err := w.decompress(r)
	if err != nil {
		return nil, err
	}
	scan := newLayerScan()
	tr := tar.NewReader(ur)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return scan, fmt.Errorf("read layer tar after %d entries: %w", scan.files, err)
		}
		scan.files++
		p := cleanPath(hdr.Name)
		if p == "" {
			continue
		}
		dir, base := path.Split(p)
		dir = strings.TrimSuffix(dir, "/")
		if strings.HasPrefix(base, ".wh.") {
			scan.whiteoutN++
			if base == ".wh..wh..opq" {
				scan.opaque[dir] = struct{}{}
			} else if !strings.HasPrefix(base, ".wh..wh.") {
				scan.whiteouts[path.Join(dir, base[len(".wh."):])] = struct{}{}
			}
			continue
		}
		if w.index {
			w.indexHeader(scan, hdr, p, dir)
			if w.factsOnly {
				// Facts need the first bytes of indexed files only (a #!
				// line, passwd and group); the audit rules do not run.
				if _, ok := scan.index[p]; ok && (hdr.Typeflag == tar.TypeReg || hdr.Typeflag == tar.TypeRegA) {
					n := int(min(hdr.Size, int64(w.maxScan)))
					if p != "etc/passwd" && p != "etc/group" {
						n = min(n, 256)
					}
					if _, err := io.ReadFull(tr, w.buf[:n]); err != nil {
						return scan, fmt.Errorf("read %s in layer tar: %w", p, err)
					}
					w.indexContent(scan, p, w.buf[:n])
				}
				continue
			}
		}
		w.checkName(scan, hdr, p, dir, base)
		if hdr.Typeflag != tar.TypeReg && hdr.Typeflag != tar.TypeRegA {
			continue
		}
		scan.bytes += hdr.Size
		n := int(min(hdr.Size, int64(w.maxScan)))
		head := w.buf[:n]
		if _, err := io.ReadFull(tr, head); err != nil {
			return scan, fmt.Errorf("read %s in layer tar: %w", p, err)
		}
		if w.index {
			w.indexContent(scan, p, head)
		}
		w.checkContent(scan, tr, hdr, p, dir, base, head)
	}
	return scan, nil
}

// cleanPath turns a tar entry name into a clean path without a leading
// slash; "" for the root.
func cleanPath(name string) string {
	p := path.Clean("/" + name)
	return strings.TrimPrefix(p, "/")
}

// checkName applies the rules that need only the tar header.
func (w *walker) checkName(scan *layerScan, hdr *tar.Header, p, dir, base string) {
	if i := baseDirIndex(p); i >= 0 {
		scan.addOnce("pgbase\x00"+p[:i], candidate{fact: factPGBase, path: p[:i]})
	}
	if rest, ok := strings.CutPrefix(p, "usr/lib/postgresql/"); ok {
		major, _, _ := strings.Cut(rest, "/")
		if major != "" && isVersion(major) {
			scan.addOnce("pgmajor\x00"+major, candidate{fact: factPGMajor, value: major, path: "usr/lib/postgresql/" + major})
		}
	}
	if hdr.Typeflag == tar.TypeDir {
		w.checkLicencePath(scan, p+"/")
		return
	}
	if hdr.Typeflag == tar.TypeReg || hdr.Typeflag == tar.TypeRegA {
		if hdr.Mode&0o4000 != 0 || hdr.Mode&0o2000 != 0 {
			bit := "setuid"
			if hdr.Mode&0o4000 == 0 {
				bit = "setgid"
			} else if hdr.Mode&0o2000 != 0 {
				bit = "setuid and setgid"
			}
			scan.add(candidate{rule: RuleSetuid, severity: SeverityLow, path: p,
				message: fmt.Sprintf("%s file (mode %04o)", bit, hdr.Mode&0o7777)})
		}
	}
	if hdr.Typeflag != tar.TypeReg && hdr.Typeflag != tar.TypeRegA && hdr.Typeflag != tar.TypeSymlink && hdr.Typeflag != tar.TypeLink {
		return
	}
	switch {
	case base == "sshd" && strings.HasSuffix(dir, "sbin"):
		scan.add(candidate{rule: RuleDaemon, severity: SeverityMedium, path: p, message: "OpenSSH server (sshd) installed"})
	case (base == "supervisord" || base == "s6-svscan" || base == "runsvdir") && strings.HasSuffix(dir, "bin"):
		scan.add(candidate{rule: RuleDaemon, severity: SeverityMedium, path: p, message: "process supervisor " + base + " installed: more than one process per container"})
	}
	if m := mysqlDataFile(base); m {
		scan.addOnce("mysql\x00"+dir, candidate{fact: factMySQLFile, path: dir, value: base})
	}
	w.checkLicencePath(scan, p)
}

// baseDirIndex returns the end of D in a path D/base/..., or -1.
func baseDirIndex(p string) int {
	i := strings.Index(p, "/base/")
	if i < 0 {
		return -1
	}
	return i
}

func isVersion(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if (r < '0' || r > '9') && r != '.' {
			return false
		}
	}
	return true
}

func mysqlDataFile(base string) bool {
	switch base {
	case "ibdata1", "mysql.ibd", "aria_log_control", "ib_logfile0", "ib_logfile1", "ibtmp1", "undo_001", "undo_002":
		return true
	}
	if rest, ok := strings.CutPrefix(base, "aria_log."); ok && len(rest) == 8 && isVersion(rest) {
		return true
	}
	return strings.HasSuffix(base, ".ibd")
}

// checkContent applies the rules that need the file's first bytes. r is
// positioned after head, for rules that need to decompress.
func (w *walker) checkContent(scan *layerScan, r io.Reader, hdr *tar.Header, p, dir, base string, head []byte) {
	lower := strings.ToLower(base)
	switch {
	case p == "var/lib/dpkg/status" || p == "lib/apk/db/installed":
		for _, e := range installedEngines(io.MultiReader(bytes.NewReader(head), r), p == "lib/apk/db/installed") {
			scan.add(candidate{fact: factEngine, path: p, value: e})
		}
		return
	case p == "etc/os-release" || p == "usr/lib/os-release":
		scan.add(candidate{fact: factOSRelease, path: p, value: string(head[:min(len(head), 4096)])})
		return
	case base == "PG_VERSION":
		v := strings.TrimSpace(string(head[:min(len(head), 16)]))
		if isVersion(v) {
			scan.add(candidate{fact: factPGVersion, path: p, value: v})
		}
		return
	}
	// Magic bytes first: they decide whatever the file is called.
	switch {
	case bytes.HasPrefix(head, []byte("SQLite format 3\x00")):
		if !systemDatabase(p) {
			scan.add(candidate{rule: RuleDatabaseFile, severity: SeverityHigh, path: p,
				message: fmt.Sprintf("SQLite database (%s)", sizeText(hdr.Size))})
		}
		return
	case len(head) >= 132 && string(head[128:132]) == "DICM":
		scan.add(candidate{rule: RuleClinical, severity: SeverityCritical, path: p,
			message: "DICOM file (\"DICM\" at offset 128): medical image, likely with patient identifiers"})
		return
	case bytes.HasPrefix(head, []byte("PGDMP")):
		scan.add(candidate{rule: RuleSQLDump, severity: SeverityCritical, path: p,
			message: fmt.Sprintf("PostgreSQL custom-format dump (pg_dump -Fc, %s)", sizeText(hdr.Size))})
		return
	case len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b:
		if strings.HasSuffix(lower, ".sql.gz") || strings.HasSuffix(lower, ".dump.gz") {
			w.checkGzipDump(scan, head, r, hdr, p)
		}
		return
	}
	if w.checkCredentialName(scan, p, dir, base, lower, head) {
		return
	}
	if isBinary(head) {
		return
	}
	w.checkText(scan, hdr, p, lower, head)
}

// systemDatabase reports SQLite files that package managers keep.
func systemDatabase(p string) bool {
	for _, prefix := range []string{"var/lib/rpm/", "usr/lib/sysimage/rpm/", "var/cache/", "var/lib/dnf/", "var/lib/PackageKit/"} {
		if strings.HasPrefix(p, prefix) {
			return true
		}
	}
	return false
}

func isBinary(head []byte) bool {
	return bytes.IndexByte(head[:min(len(head), 8000)], 0) >= 0
}

func sizeText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// checkGzipDump looks inside a gzip-compressed .sql.gz for dump markers.
func (w *walker) checkGzipDump(scan *layerScan, head []byte, rest io.Reader, hdr *tar.Header, p string) {
	zr, err := gzip.NewReader(io.MultiReader(bytes.NewReader(head), rest))
	if err != nil {
		return
	}
	defer zr.Close()
	var inner [64 << 10]byte
	n, _ := io.ReadFull(zr, inner[:])
	if kind, data := sqlDumpKind(inner[:n]); kind != "" {
		sev := SeverityLow
		if data {
			sev = SeverityCritical
		}
		scan.add(candidate{rule: RuleSQLDump, severity: sev, path: p,
			message: fmt.Sprintf("compressed SQL %s (%s compressed)", kind, sizeText(hdr.Size))})
	}
}

// sqlDumpKind reports "dump" with data=true when text has rows (INSERT INTO,
// COPY ... FROM stdin), "schema" when it only creates tables.
func sqlDumpKind(text []byte) (kind string, data bool) {
	up := text
	if bytes.Contains(up, []byte("INSERT INTO")) || bytes.Contains(up, []byte("insert into")) ||
		copyFromStdin.Match(up) {
		return "dump with table rows", true
	}
	if bytes.Contains(up, []byte("CREATE TABLE")) || bytes.Contains(up, []byte("create table")) {
		return "schema (CREATE TABLE, no rows seen)", false
	}
	return "", false
}
