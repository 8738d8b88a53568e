package lint

import (
	"os"
	"path/filepath"

	"go.yaml.in/yaml/v4"
)

func posOf(f *composeFile, n *yaml.Node) Position {
	return Position{File: f.path, Line: n.Line, Col: n.Column}
}

// serviceNode returns the key and value nodes of a service in f.
func serviceNode(f *composeFile, service string) (k, v *yaml.Node) {
	if f == nil || f.services == nil {
		return nil, nil
	}
	return mapGet(f.services, service)
}

// extended returns the file and service that a service's extends points to.
func (p *project) extended(f *composeFile, svc *yaml.Node) (*composeFile, string) {
	_, ext := mapGet(svc, "extends")
	ext = deref(ext)
	if ext == nil {
		return nil, ""
	}
	if ext.Kind == yaml.ScalarNode {
		return f, p.interpolate(ext.Value)
	}
	_, sn := mapGet(ext, "service")
	_, fn := mapGet(ext, "file")
	name := p.interpolate(scalar(sn))
	file := p.interpolate(scalar(fn))
	if file == "" {
		return f, name
	}
	if !filepath.IsAbs(file) {
		file = filepath.Join(filepath.Dir(f.path), file)
	}
	return p.extraFile(file), name
}

// extraFile parses a file reached through extends, once; nil if unreadable.
func (p *project) extraFile(path string) *composeFile {
	if cf, ok := p.extra[path]; ok {
		return cf
	}
	for _, f := range p.files {
		if f.path == path {
			return f
		}
	}
	p.extra[path] = nil
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	cf, err := parseFile(path, data)
	if err != nil {
		return nil
	}
	p.extra[path] = cf
	return cf
}

// visit calls fn on the service's node in every file that defines it: the
// given files from last to first (the last override wins), each followed
// by its extends chain. It stops when fn returns true.
func (p *project) visit(service string, fn func(f *composeFile, svc *yaml.Node) bool) bool {
	for i := len(p.files) - 1; i >= 0; i-- {
		f, name := p.files[i], service
		for depth := 0; f != nil && depth < 8; depth++ {
			_, s := serviceNode(f, name)
			if s == nil {
				break
			}
			if fn(f, s) {
				return true
			}
			f, name = p.extended(f, s)
		}
	}
	return false
}

// find returns the position of path under a service; an empty path names the service key.
func (p *project) find(service string, path []string) (Position, bool) {
	var pos Position
	if len(path) == 0 {
		for i := len(p.files) - 1; i >= 0; i-- {
			if k, _ := serviceNode(p.files[i], service); k != nil {
				return posOf(p.files[i], k), true
			}
		}
		return pos, false
	}
	found := p.visit(service, func(f *composeFile, s *yaml.Node) bool {
		if k, _ := nodeAt(s, path...); k != nil {
			pos = posOf(f, k)
			return true
		}
		return false
	})
	return pos, found
}

// raw returns the value node at path under a service as written, and its file.
func (p *project) raw(service string, path ...string) (*composeFile, *yaml.Node) {
	var rf *composeFile
	var rv *yaml.Node
	p.visit(service, func(f *composeFile, s *yaml.Node) bool {
		if _, v := nodeAt(s, path...); v != nil {
			rf, rv = f, deref(v)
			return true
		}
		return false
	})
	return rf, rv
}

// rawString is the scalar at path under a service as written (before interpolation).
func (p *project) rawString(service string, path ...string) (string, bool) {
	_, v := p.raw(service, path...)
	if v == nil || v.Kind != yaml.ScalarNode {
		return "", false
	}
	return v.Value, true
}

// locate returns the best position for path under a service: the deepest
// existing prefix of the path, else the service key, else the first file.
func (p *project) locate(service string, path ...string) Position {
	for n := len(path); n >= 0; n-- {
		if pos, ok := p.find(service, path[:n]); ok {
			return pos
		}
	}
	return Position{File: p.files[0].path, Line: 1, Col: 1}
}

// locateItem returns the position of the first item of the sequence at key
// under a service for which match is true, else the position of key.
func (p *project) locateItem(service, key string, match func(item *yaml.Node) bool) Position {
	var pos Position
	if p.visit(service, func(f *composeFile, s *yaml.Node) bool {
		_, seq := mapGet(s, key)
		seq = deref(seq)
		if seq == nil || seq.Kind != yaml.SequenceNode {
			return false
		}
		for _, it := range seq.Content {
			if match(deref(it)) {
				pos = posOf(f, it)
				return true
			}
		}
		return false
	}) {
		return pos
	}
	return p.locate(service, key)
}

// locateTop returns the position of a top-level path (e.g. volumes, NAME).
func (p *project) locateTop(path ...string) (Position, bool) {
	for i := len(p.files) - 1; i >= 0; i-- {
		f := p.files[i]
		if f.v1 {
			continue
		}
		if k, _ := nodeAt(f.root, path...); k != nil {
			return posOf(f, k), true
		}
	}
	return Position{}, false
}
