package lint

import (
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"

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

// Bounds on input, checked before compose-go loads a file (it expands
// every alias into Go values: a "billion laughs" of a few hundred bytes ran
// it out of memory). A file with 20 000 services stays far below both.
const (
	maxComposeBytes = 32 << 20
	maxYAMLNodes    = 4_000_000
)

// expandedNodes counts the nodes of n with every alias expanded, in time
// linear in the nodes as written (memo), stopping past maxYAMLNodes.
func expandedNodes(n *yaml.Node, memo map[*yaml.Node]int64) int64 {
	if n == nil {
		return 0
	}
	if v, ok := memo[n]; ok {
		return v
	}
	memo[n] = maxYAMLNodes + 1 // a recursive alias counts as too many
	total := int64(1)
	if n.Kind == yaml.AliasNode {
		total = expandedNodes(n.Alias, memo)
	}
	for _, c := range n.Content {
		total += expandedNodes(c, memo)
		if total > maxYAMLNodes {
			break
		}
	}
	total = min(total, maxYAMLNodes+1)
	memo[n] = total
	return total
}

// readBounded reads a compose file, refusing one past maxComposeBytes.
func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxComposeBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxComposeBytes {
		return nil, fmt.Errorf("larger than %d MiB; a compose file this large is refused", maxComposeBytes>>20)
	}
	return data, nil
}

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
	if n := expandedNodes(&doc, map[*yaml.Node]int64{}); n > maxYAMLNodes {
		return nil, &AnalysisError{Pos: Position{File: path}, Err: fmt.Errorf("YAML aliases expand this file to more than %d nodes (an alias bomb?); refused before loading: use fewer or smaller anchors", maxYAMLNodes)}
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
	if len(m.Content) >= 2*indexFrom {
		// Rules look services and volumes up by name once per rule and
		// service: a scan of a mapping of thousands made that quadratic.
		if i, ok := keyIndex(m, key); ok {
			return m.Content[i], m.Content[i+1]
		}
	} else {
		for i := 0; i+1 < len(m.Content); i += 2 {
			mapSteps.Add(1)
			if m.Content[i].Value == key && m.Content[i].Tag != "!!merge" {
				return m.Content[i], m.Content[i+1]
			}
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

// indexFrom is the number of keys from which a mapping is looked up
// through an index.
const indexFrom = 16

// mapSteps counts the keys compared by mapGet and the indexes built (tests
// assert that lookups stay linear overall).
var mapSteps atomic.Int64

type mapIndex struct {
	n    int // len(Content) when built
	keys map[string]int
}

var (
	indexMu sync.Mutex
	// indexes of large mappings, by node. Nodes are mutated in a few
	// places (a copy for compose-go): an entry is checked on every hit and
	// rebuilt when the mapping's length changed. Bounded: cleared when full.
	indexes = map[*yaml.Node]*mapIndex{}
)

// keyIndex returns the position in m.Content of the explicit key.
func keyIndex(m *yaml.Node, key string) (int, bool) {
	indexMu.Lock()
	idx := indexes[m]
	if idx == nil || idx.n != len(m.Content) {
		if len(indexes) >= 4096 {
			clear(indexes)
		}
		idx = &mapIndex{n: len(m.Content), keys: make(map[string]int, len(m.Content)/2)}
		for i := 0; i+1 < len(m.Content); i += 2 {
			mapSteps.Add(1)
			c := m.Content[i]
			if c.Tag == "!!merge" {
				continue
			}
			if _, dup := idx.keys[c.Value]; !dup {
				idx.keys[c.Value] = i
			}
		}
		indexes[m] = idx
	}
	i, ok := idx.keys[key]
	indexMu.Unlock()
	mapSteps.Add(1)
	if ok && m.Content[i].Value == key && m.Content[i].Tag != "!!merge" {
		return i, true
	}
	if ok {
		// Changed in place since: scan.
		for i := 0; i+1 < len(m.Content); i += 2 {
			if m.Content[i].Value == key && m.Content[i].Tag != "!!merge" {
				return i, true
			}
		}
	}
	return 0, false
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
