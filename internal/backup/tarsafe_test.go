package backup

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"testing"
)

type member struct {
	name, link string
	typ        byte
	body       string
}

func makeTar(t *testing.T, ms []member) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, m := range ms {
		h := &tar.Header{Name: m.name, Linkname: m.link, Typeflag: m.typ, Mode: 0o644, Size: int64(len(m.body))}
		if m.typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write([]byte(m.body))
		}
	}
	tw.Close()
	return buf.Bytes()
}

func TestSafeCopyTar(t *testing.T) {
	for _, tc := range []struct {
		name     string
		members  []member
		absLinks bool
		refused  bool
	}{
		{"plain files and dirs", []member{{name: "./", typ: tar.TypeDir}, {name: "a/", typ: tar.TypeDir}, {name: "a/b.txt", typ: tar.TypeReg, body: "x"}}, false, false},
		{"relative symlink inside", []member{{name: "l", link: "a/b.txt", typ: tar.TypeSymlink}, {name: "a/l2", link: "../l", typ: tar.TypeSymlink}}, false, false},
		{"hard link inside", []member{{name: "a", typ: tar.TypeReg, body: "x"}, {name: "b", link: "a", typ: tar.TypeLink}}, false, false},
		{"dot-dot member", []member{{name: "../evil", typ: tar.TypeReg, body: "x"}}, false, true},
		{"dot-dot in the middle", []member{{name: "a/../../evil", typ: tar.TypeReg, body: "x"}}, false, true},
		{"absolute member", []member{{name: "/etc/passwd", typ: tar.TypeReg, body: "x"}}, false, true},
		{"symlink escaping by dot-dot", []member{{name: "l", link: "../../etc", typ: tar.TypeSymlink}}, false, true},
		{"absolute symlink from an archive", []member{{name: "l", link: "/etc", typ: tar.TypeSymlink}}, false, true},
		{"absolute symlink from the repository", []member{{name: "l", link: "/etc/hostname", typ: tar.TypeSymlink}}, true, false},
		{"write through a symlink", []member{{name: "d", link: "sub", typ: tar.TypeSymlink}, {name: "d/passwd", typ: tar.TypeReg, body: "x"}}, false, true},
		{"write through an absolute symlink", []member{{name: "d", link: "/etc", typ: tar.TypeSymlink}, {name: "d/passwd", typ: tar.TypeReg, body: "x"}}, true, true},
		{"hard link escaping", []member{{name: "h", link: "../../etc/shadow", typ: tar.TypeLink}}, false, true},
		{"device node", []member{{name: "dev", typ: tar.TypeChar}}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := makeTar(t, tc.members)
			var out bytes.Buffer
			err := safeCopyTar(&out, bytes.NewReader(in), tc.absLinks)
			if tc.refused != errors.Is(err, ErrUnsafeArchive) {
				t.Fatalf("refused = %v, want %v (err %v)", err != nil, tc.refused, err)
			}
			if !tc.refused {
				tr := tar.NewReader(&out)
				n := 0
				for {
					if _, err := tr.Next(); errors.Is(err, io.EOF) {
						break
					} else if err != nil {
						t.Fatal(err)
					}
					n++
				}
				if n != len(tc.members) {
					t.Errorf("copied %d members, want %d", n, len(tc.members))
				}
			}
		})
	}
}

func FuzzSafeCopyTar(f *testing.F) {
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		var out bytes.Buffer
		if err := safeCopyTar(&out, bytes.NewReader(data), false); err != nil {
			return
		}
		// Whatever passed must not escape.
		tr := tar.NewReader(&out)
		links := map[string]bool{}
		for {
			h, err := tr.Next()
			if err != nil {
				return
			}
			if err := checkMember(h, links, false); err != nil {
				t.Fatalf("passed a member it refuses: %v", err)
			}
		}
	})
}
