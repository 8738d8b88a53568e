package lint

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"

	"go.yaml.in/yaml/v4"
)

// composeFile is one compose file as written, kept for positions.
type composeFile struct {
	path string     // absolute path
	root *yaml.Node // top-level mapping
	// services is the mapping of services: root["services"], or root itself
	// for a compose v1 file.
	services *yaml.Node
	v1       bool
}

var yamlLineRE = regexp.MustCompile(`line (\d+)(?:, column (\d+))?`)

// parseFile parses data as one YAML document holding a mapping. Errors are
// *AnalysisError carrying the file and, when the parser says, line and column.
func parseFile(path string, data []byte) (*composeFile, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		pos := Position{File: path}
		var le *yaml.LoadError
		if errors.As(err, &le) && le.Mark.Line > 0 {
			pos.Line, pos.Col = le.Mark.Line, le.Mark.Column
			return nil, &AnalysisError{Pos: pos, Err: fmt.Errorf("invalid YAML: %s; fix the indentation or quoting at that line", le.Message)}
		}
		if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
			pos.Line, _ = strconv.Atoi(m[1])
			if m[2] != "" {
				pos.Col, _ = strconv.Atoi(m[2])
			}
		}
		return nil, &AnalysisError{Pos: pos, Err: fmt.Errorf("invalid YAML: %w; fix the indentation or quoting at that line", err)}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, &AnalysisError{Pos: Position{File: path}, Err: fmt.Errorf("empty compose file")}
	}
	root := deref(doc.Content[0])
	if root.Kind != yaml.MappingNode {
		return nil, &AnalysisError{Pos: Position{File: path, Line: root.Line, Col: root.Column},
			Err: fmt.Errorf("top level is a %s, want a mapping with services", kindName(root.Kind))}
	}
	f := &composeFile{path: path, root: root}
	if _, s := mapGet(root, "services"); s != nil {
		f.services = deref(s)
	} else if looksV1(root) {
		f.v1 = true
		f.services = root
	}
	return f, nil
}

// looksV1 reports whether a mapping without `services` is a compose v1 file:
// top-level keys that are services (mappings with image or build).
func looksV1(root *yaml.Node) bool {
	for i := 0; i+1 < len(root.Content); i += 2 {
		v := deref(root.Content[i+1])
		if v.Kind != yaml.MappingNode {
			continue
		}
		if _, img := mapGet(v, "image"); img != nil {
			return true
		}
		if _, b := mapGet(v, "build"); b != nil {
			return true
		}
	}
	return false
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.SequenceNode:
		return "sequence"
	case yaml.ScalarNode:
		return "scalar"
	case yaml.MappingNode:
		return "mapping"
	}
	return "node"
}

// deref follows aliases.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 16; i++ {
		n = n.Alias
	}
	return n
}

// mapGet returns the key and value nodes of key in mapping m, looking at
// explicit keys first and then at `<<` merges.
func mapGet(m *yaml.Node, key string) (k, v *yaml.Node) {
	m = deref(m)
	if m == nil || m.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key && m.Content[i].Tag != "!!merge" {
			return m.Content[i], m.Content[i+1]
		}
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value != "<<" {
			continue
		}
		src := deref(m.Content[i+1])
		var srcs []*yaml.Node
		if src.Kind == yaml.SequenceNode {
			srcs = src.Content
		} else {
			srcs = []*yaml.Node{src}
		}
		for _, s := range srcs {
			if k, v := mapGet(s, key); k != nil {
				return k, v
			}
		}
	}
	return nil, nil
}

// mapKeys lists the keys of mapping m (explicit keys and merged ones).
func mapKeys(m *yaml.Node) []string {
	m = deref(m)
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := m.Content[i].Value
		if k == "<<" {
			src := deref(m.Content[i+1])
			srcs := []*yaml.Node{src}
			if src.Kind == yaml.SequenceNode {
				srcs = src.Content
			}
			for _, s := range srcs {
				for _, mk := range mapKeys(s) {
					if !seen[mk] {
						seen[mk] = true
						out = append(out, mk)
					}
				}
			}
			continue
		}
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

// child steps from n by one path element: a mapping key, a sequence index,
// or, in a sequence of "KEY=value" strings (environment, args, labels), the
// item whose key is elem.
func child(n *yaml.Node, elem string) (key, val *yaml.Node) {
	n = deref(n)
	if n == nil {
		return nil, nil
	}
	switch n.Kind {
	case yaml.MappingNode:
		return mapGet(n, elem)
	case yaml.SequenceNode:
		if i, err := strconv.Atoi(elem); err == nil {
			if i >= 0 && i < len(n.Content) {
				return n.Content[i], n.Content[i]
			}
			return nil, nil
		}
		for _, it := range n.Content {
			it = deref(it)
			if it.Kind != yaml.ScalarNode {
				continue
			}
			k := it.Value
			for j := 0; j < len(k); j++ {
				if k[j] == '=' {
					k = k[:j]
					break
				}
			}
			if k == elem {
				return it, it
			}
		}
	}
	return nil, nil
}

// nodeAt walks path from n; key is the node whose position names the place.
func nodeAt(n *yaml.Node, path ...string) (key, val *yaml.Node) {
	val = n
	for _, e := range path {
		key, val = child(val, e)
		if key == nil {
			return nil, nil
		}
	}
	return key, val
}

// scalar returns the value of a scalar node, "" otherwise.
func scalar(n *yaml.Node) string {
	n = deref(n)
	if n == nil || n.Kind != yaml.ScalarNode {
		return ""
	}
	return n.Value
}
