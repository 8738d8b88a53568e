package backup

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// ErrUnsafeArchive means a tar member would land outside the volume root.
var ErrUnsafeArchive = errors.New("unsafe archive member")

// safeCopyTar copies a tar stream member by member, refusing (before any
// byte of it is written) members that would escape the root: absolute
// names, names with "..", members below a symlink of the archive, symlinks
// and hard links pointing outside the root, and device nodes.
// Absolute symlink targets are allowed only with absLinks (archives read
// back from the repository, which only dockerbank writes): nothing is ever
// written through a symlink, so such a link cannot reach outside.
func safeCopyTar(w io.Writer, r io.Reader, absLinks bool) error {
	tr := tar.NewReader(r)
	tw := tar.NewWriter(w)
	links := map[string]bool{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return tw.Close()
		}
		if err != nil {
			return fmt.Errorf("read archive: %w", err)
		}
		if err := checkMember(h, links, absLinks); err != nil {
			return err
		}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("write archive member %s: %w", h.Name, err)
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return fmt.Errorf("copy archive member %s: %w", h.Name, err)
		}
	}
}

func checkMember(h *tar.Header, links map[string]bool, absLinks bool) error {
	refuse := func(why string) error {
		return fmt.Errorf("%w %q: %s; nothing past this member was restored", ErrUnsafeArchive, h.Name, why)
	}
	name := strings.TrimPrefix(h.Name, "./")
	if name == "" || name == "." {
		return nil
	}
	if strings.HasPrefix(h.Name, "/") {
		return refuse("absolute path")
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return refuse("path contains ..")
		}
	}
	clean := path.Clean(name)
	for dir := path.Dir(clean); dir != "." && dir != "/"; dir = path.Dir(dir) {
		if links[dir] {
			return refuse("path goes through the symlink " + dir)
		}
	}
	switch h.Typeflag {
	case tar.TypeSymlink:
		if escapes(path.Dir(clean), h.Linkname) && !(absLinks && strings.HasPrefix(h.Linkname, "/")) {
			return refuse("symlink to " + h.Linkname + " points outside the volume")
		}
		links[clean] = true
	case tar.TypeLink:
		if escapes(".", h.Linkname) {
			return refuse("hard link to " + h.Linkname + " points outside the volume")
		}
	case tar.TypeChar, tar.TypeBlock:
		return refuse("device node")
	}
	return nil
}

// escapes reports whether target, seen from dir, leaves the root.
func escapes(dir, target string) bool {
	if strings.HasPrefix(target, "/") {
		return true
	}
	p := path.Clean(path.Join(dir, target))
	return p == ".." || strings.HasPrefix(p, "../")
}
