package audit

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"
)

// Facts is what an image's layers and config leave for a container: its
// user, PATH and VOLUMEs, and the owner and mode of its directories,
// programs (entries of */bin and */sbin directories) and links. `bank lint`
// checks entries against them.
type Facts struct {
	Ref     string
	User    string
	Path    []string
	Volumes []string
	// Files maps a path without leading slash to what the last layer that
	// touched it left; deleted paths (whiteouts) are gone.
	Files         map[string]FileFact
	Passwd, Group string
}

// FileFact is one path of the image: every directory, symlink and
// executable file, and the files of bin directories.
type FileFact struct {
	Dir     bool
	Link    string // symlink target as written; hard links as an absolute path
	Mode    int64
	UID     int
	GID     int
	Shebang string // first line of a script, without "#!"
}

// factEntry is what the walker indexes of one tar entry.
type factEntry struct {
	FileFact
}

// indexHeader records directories, links and programs of a layer when the
// walker collects facts.
func (w *walker) indexHeader(scan *layerScan, hdr *tar.Header, p, dir string) {
	ff := FileFact{Mode: hdr.Mode, UID: hdr.Uid, GID: hdr.Gid}
	switch hdr.Typeflag {
	case tar.TypeDir:
		ff.Dir = true
	case tar.TypeSymlink:
		ff.Link = hdr.Linkname
	case tar.TypeLink:
		if !binDir(dir) {
			return
		}
		ff.Link = "/" + cleanPath(hdr.Linkname)
	case tar.TypeReg, tar.TypeRegA:
		if !binDir(dir) && hdr.Mode&0o111 == 0 && p != "etc/passwd" && p != "etc/group" {
			return
		}
	default:
		return
	}
	if scan.index == nil {
		scan.index = map[string]factEntry{}
	}
	scan.index[p] = factEntry{ff}
}

// indexContent keeps the #! line of an indexed program and the user and
// group databases.
func (w *walker) indexContent(scan *layerScan, p string, head []byte) {
	e, ok := scan.index[p]
	if !ok {
		return
	}
	switch p {
	case "etc/passwd":
		scan.passwd = string(head)
		return
	case "etc/group":
		scan.group = string(head)
		return
	}
	if bytes.HasPrefix(head, []byte("#!")) {
		line, _, _ := bytes.Cut(head[2:min(len(head), 256)], []byte("\n"))
		e.Shebang = strings.TrimSpace(string(line))
		scan.index[p] = e
	}
}

// binDir reports directories that hold programs: bin, sbin, and any
// directory named so (/opt/keycloak/bin, /usr/local/openjdk-8/bin).
func binDir(dir string) bool {
	b := path.Base(dir)
	return b == "bin" || b == "sbin"
}

// ReadFacts reads the facts of the image src yields.
func ReadFacts(ctx context.Context, src Source) (*Facts, error) {
	w := newWalker(0, nil)
	w.index, w.factsOnly = true, true
	d, err := src.load(ctx, w)
	if err != nil {
		return nil, fmt.Errorf("read image facts of %s: %w", src, err)
	}
	return factsOf(d), nil
}

// ReadArchiveFacts reads every image of a `docker save` archive in one
// pass, keyed by each of its tags.
func ReadArchiveFacts(ctx context.Context, file string) (map[string]*Facts, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("open image archive: %w", err)
	}
	defer f.Close()
	out, err := ReadSaveFacts(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	return out, nil
}

// ReadSaveFacts reads every image of a `docker save` stream (of one or
// several images) in one pass, keyed by each of its tags.
func ReadSaveFacts(ctx context.Context, r io.Reader) (map[string]*Facts, error) {
	w := newWalker(0, nil)
	w.index, w.factsOnly = true, true
	sc, err := scanSave(ctx, r, w)
	if err != nil {
		return nil, err
	}
	raw, ok := sc.blobs["manifest.json"]
	if !ok {
		return nil, errors.New("no manifest.json: write the archive with `docker save IMAGE...`")
	}
	var ms []saveManifest
	if err := json.Unmarshal(raw, &ms); err != nil {
		return nil, fmt.Errorf("decode manifest.json: %w", err)
	}
	out := map[string]*Facts{}
	for _, m := range ms {
		for _, tag := range m.RepoTags {
			d, err := assemble(sc.blobs, sc.scans, sc.walkErrs, sc.links, tag)
			if err != nil {
				return nil, fmt.Errorf("read %s: %w", tag, err)
			}
			facts := factsOf(d)
			facts.Ref = tag
			out[tag] = facts
			out[strings.TrimPrefix(tag, "docker.io/library/")] = facts
		}
	}
	return out, nil
}

// factsOf merges the indexes of the layers in order, applying each layer's
// whiteouts and opaque directories to the layers below it.
func factsOf(d *imageData) *Facts {
	f := &Facts{Ref: d.ref, Files: map[string]FileFact{}}
	under := func(p, dir string) bool { return dir == "" || p == dir || strings.HasPrefix(p, dir+"/") }
	for _, l := range d.layers {
		for dir := range l.opaque {
			for p := range f.Files {
				if p != dir && under(p, dir) {
					delete(f.Files, p)
				}
			}
		}
		for gone := range l.whiteouts {
			for p := range f.Files {
				if under(p, gone) {
					delete(f.Files, p)
				}
			}
		}
		for p, e := range l.index {
			f.Files[p] = e.FileFact
		}
		if l.passwd != "" {
			f.Passwd = l.passwd
		}
		if l.group != "" {
			f.Group = l.group
		}
	}
	cfg := d.config.Config
	f.User = cfg.User
	for _, env := range cfg.Env {
		if v, ok := strings.CutPrefix(env, "PATH="); ok {
			f.Path = strings.Split(v, ":")
		}
	}
	for v := range cfg.Volumes {
		f.Volumes = append(f.Volumes, v)
	}
	slices.Sort(f.Volumes)
	return f
}
