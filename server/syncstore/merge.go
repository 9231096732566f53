package syncstore

import (
	"bytes"
	"fmt"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/google/uuid"

	"github.com/syncproxy/syncproxy/wire/push"
)

// mergeByKey collapses the entries of one key into one row, in order of their
// first appearance: a later entry's columns override an earlier one's, so two
// partial edits of one row in one push both land (contract 1.1). It returns
// the merged rows, their keys, and the base_version of each key that has one.
// Entries of one key must agree on base_version: they describe one edit.
func mergeByKey(t *table, contractorID uuid.UUID, rows []push.Row) (merged [][]byte, order []uuid.UUID, bases map[uuid.UUID]int64, err error) {
	type group struct {
		first   push.Row // every later entry carries its base_version, or none like it
		objects [][]byte
	}
	groups := map[uuid.UUID]*group{}
	for _, r := range rows {
		k := keyOf(t, contractorID, r)
		g, seen := groups[k]
		if !seen {
			g = &group{first: r}
			groups[k] = g
			order = append(order, k)
		}
		if seen && (r.HasBase != g.first.HasBase || (r.HasBase && r.Base != g.first.Base)) {
			return nil, nil, nil, &RejectedRow{Source: r.Source, Index: r.Index, Field: "base_version",
				Reason:  fmt.Sprintf("entries of one row must carry the same base_version (entry %d of %s carries another)", g.first.Index, g.first.Source),
				Message: "entries of one row in one push disagree on base_version"}
		}
		g.objects = append(g.objects, r.JSON)
	}
	merged = make([][]byte, len(order))
	for i, k := range order {
		g := groups[k]
		if g.first.HasBase {
			if bases == nil {
				bases = map[uuid.UUID]int64{}
			}
			bases[k] = g.first.Base
		}
		if len(g.objects) == 1 {
			merged[i] = g.objects[0]
			continue
		}
		if merged[i], err = mergeObjects(g.objects); err != nil {
			return nil, nil, nil, fmt.Errorf("merge %s rows: %w", t.name, err)
		}
	}
	return merged, order, bases, nil
}

// mergeObjects lays JSON objects over each other, left to right: members
// keep the position of their first appearance and the value of their last.
// The objects were validated by the push decoder.
func mergeObjects(objects [][]byte) ([]byte, error) {
	type member struct {
		name  []byte // as written (quoted)
		value []byte
	}
	var members []member
	at := map[string]int{} // unquoted name -> index in members
	for _, obj := range objects {
		dec := jsontext.NewDecoder(bytes.NewReader(obj))
		if _, err := dec.ReadToken(); err != nil {
			return nil, err
		}
		for dec.PeekKind() == '"' {
			// A value read is valid only until the next read: keep copies.
			name, err := dec.ReadValue()
			if err != nil {
				return nil, err
			}
			m := member{name: bytes.Clone(name)}
			unquoted, err := jsontext.AppendUnquote(nil, m.name)
			if err != nil {
				return nil, err
			}
			value, err := dec.ReadValue()
			if err != nil {
				return nil, err
			}
			m.value = bytes.Clone(value)
			if i, ok := at[string(unquoted)]; ok {
				members[i].value = m.value
			} else {
				at[string(unquoted)] = len(members)
				members = append(members, m)
			}
		}
	}
	var out bytes.Buffer
	out.WriteByte('{')
	for i, m := range members {
		if i > 0 {
			out.WriteByte(',')
		}
		out.Write(m.name)
		out.WriteByte(':')
		out.Write(m.value)
	}
	out.WriteByte('}')
	return out.Bytes(), nil
}
