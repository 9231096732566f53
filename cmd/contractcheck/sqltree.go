package main

import (
	"encoding/json"
	"fmt"
)

// node is one object of libpg_query's JSON parse tree, e.g.
// {"RangeVar": {"relname": "costbook_items", ...}}. Its accessors return
// zero values for what is absent, so lookups chain without checks.
type node map[string]any

// parseTree parses SQL (one or more statements) into its JSON parse tree.
func parseTree(sql string) (node, error) {
	js, err := parseSQL(sql)
	if err != nil {
		return nil, err
	}
	var tree node
	if err := json.Unmarshal([]byte(js), &tree); err != nil {
		return nil, fmt.Errorf("decode parse tree: %w", err)
	}
	return tree, nil
}

func (n node) has(key string) bool {
	_, ok := n[key]
	return ok
}

func (n node) get(key string) node {
	m, _ := n[key].(map[string]any)
	return m
}

func (n node) list(key string) []node {
	items, _ := n[key].([]any)
	var nodes []node
	for _, it := range items {
		if m, ok := it.(map[string]any); ok {
			nodes = append(nodes, m)
		}
	}
	return nodes
}

func (n node) str(key string) string {
	s, _ := n[key].(string)
	return s
}

func (n node) num(key string) float64 {
	f, _ := n[key].(float64)
	return f
}

// walk calls visit on n and on every object below it, depth first.
func walk(n node, visit func(node)) {
	if n == nil {
		return
	}
	visit(n)
	for _, v := range n {
		walkValue(v, visit)
	}
}

func walkValue(v any, visit func(node)) {
	switch v := v.(type) {
	case map[string]any:
		walk(v, visit)
	case []any:
		for _, it := range v {
			walkValue(it, visit)
		}
	}
}
