package main

import (
	"fmt"
	"os"
	"slices"

	"gopkg.in/yaml.v3"
)

// keyOrder recovers the order in which the spec lists mapping keys. kin-openapi
// keeps properties in Go maps; Swift properties and initializer arguments in
// the order of the spec read like the contract (id, name, ... created_at).
type keyOrder struct {
	root *yaml.Node
}

func loadKeyOrder(path string) (*keyOrder, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &keyOrder{root: &doc}, nil
}

// ordered returns keys in the order of the mapping at path; keys the spec does
// not list there (or a path that cannot be followed) come after, sorted.
func (o *keyOrder) ordered(path []string, keys []string) []string {
	want := map[string]bool{}
	for _, k := range keys {
		want[k] = true
	}
	var out []string
	if node := o.lookup(path); node != nil && node.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(node.Content); i += 2 {
			k := node.Content[i].Value
			if want[k] {
				out = append(out, k)
				delete(want, k)
			}
		}
	}
	var rest []string
	for k := range want {
		rest = append(rest, k)
	}
	slices.Sort(rest)
	return append(out, rest...)
}

func (o *keyOrder) lookup(path []string) *yaml.Node {
	if o == nil || o.root == nil || path == nil {
		return nil
	}
	node := o.root
	if node.Kind == yaml.DocumentNode && len(node.Content) == 1 {
		node = node.Content[0]
	}
	for _, key := range path {
		node = child(node, key)
		if node == nil {
			return nil
		}
	}
	return node
}

func child(node *yaml.Node, key string) *yaml.Node {
	for node.Kind == yaml.AliasNode {
		node = node.Alias
	}
	switch node.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(node.Content); i += 2 {
			if node.Content[i].Value == key {
				return node.Content[i+1]
			}
		}
	case yaml.SequenceNode:
		for i, item := range node.Content {
			if fmt.Sprint(i) == key {
				return item
			}
		}
	}
	return nil
}
