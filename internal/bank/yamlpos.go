package bank

import (
	"strconv"

	"gopkg.in/yaml.v3"
)

// yamlDoc keeps the node tree of a YAML file to find where a key is written.
type yamlDoc struct {
	root *yaml.Node
}

func parseYAMLDoc(data []byte) (*yamlDoc, error) {
	var n yaml.Node
	if err := yaml.Unmarshal(data, &n); err != nil {
		return nil, err
	}
	return &yamlDoc{root: &n}, nil
}

// line returns the line of the deepest key of path that exists (mapping keys
// by name, sequence items by their decimal index), or 1 if none does.
func (d *yamlDoc) line(path ...string) int {
	if d == nil || d.root == nil {
		return 0
	}
	n := d.root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	best := 1
	for _, key := range path {
		next := child(n, key)
		if next == nil {
			return best
		}
		best = next.key.Line
		n = next.value
	}
	return best
}

type keyValue struct{ key, value *yaml.Node }

func child(n *yaml.Node, key string) *keyValue {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				return &keyValue{n.Content[i], n.Content[i+1]}
			}
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			if strconv.Itoa(i) == key {
				return &keyValue{item, item}
			}
		}
	}
	return nil
}
