// Package pushbody decodes and validates a push body in one pass. The rules
// come from openapi.yaml (compiled at start from the embedded spec, never
// written per field), so validation still is the contract; but the body is
// read once, not decoded into generic maps for validation and then again
// into typed structs, and each row stays the JSON object the client sent:
// the statements read it with jsonb, so the keys an object carries are known
// all the way to Postgres.
//
// A push's cost is bounded before its rows are validated one by one: rows are
// counted as they stream past and the decoder stops at the row limit, and it
// stops validating after a bounded number of problems.
package pushbody

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"
)

// Body is a decoded, validated push.
type Body struct {
	tables  []Table // by table ordinal
	rows    int
	sum     [32]byte
	decoded bool
}

// Table is what a push carries for one table.
type Table struct {
	Name    string
	Rows    []Row    // rows of a deprecated alias first, then the table's own
	Deletes []Delete // ids to delete (tables whose rows have an id)
}

// Row is one pushed row.
type Row struct {
	// Source is the push property the row came from (the table's name, or a
	// deprecated alias) and Index its position there: what a 400 names.
	Source string
	Index  int
	// Key is the row's id, when it has one (HasKey).
	Key    uuid.UUID
	HasKey bool
	// Base is the row's base_version, when it has one (HasBase): the version
	// its edit started from, 0 for a row believed new.
	Base    int64
	HasBase bool
	// JSON is the object as the client sent it (with timestamps Postgres
	// cannot parse rewritten to UTC).
	JSON []byte
}

// Delete is one id to delete.
type Delete struct {
	Index int
	ID    uuid.UUID
	// Base is the delete's base_version, when it has one (HasBase, contract
	// 1.2): the version of the row the delete was decided on.
	Base    int64
	HasBase bool
}

// Decoded says whether a body was read into b at all (an empty request body
// leaves it untouched).
func (b *Body) Decoded() bool { return b.decoded }

// Tables are the push's tables by ordinal, one entry per table of the spec.
func (b *Body) Tables() []Table { return b.tables }

// Rows counts the rows and ids to delete the push carries.
func (b *Body) Rows() int { return b.rows }

// Sum is the SHA-256 of the body as decoded: an Idempotency-Key is bound to it.
func (b *Body) Sum() [32]byte { return b.sum }

// MarshalJSON writes the body back as a push request, for clients (tests,
// the benchmark) that build a Body.
func (b Body) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	first := true
	member := func(name string) {
		if !first {
			buf.WriteByte(',')
		}
		first = false
		q, _ := json.Marshal(name)
		buf.Write(q)
		buf.WriteByte(':')
	}
	var deletes []Table
	for _, t := range b.tables {
		if len(t.Rows) > 0 {
			member(t.Name)
			buf.WriteByte('[')
			for i, r := range t.Rows {
				if i > 0 {
					buf.WriteByte(',')
				}
				buf.Write(r.JSON)
			}
			buf.WriteByte(']')
		}
		if len(t.Deletes) > 0 {
			deletes = append(deletes, t)
		}
	}
	if len(deletes) > 0 {
		member("deletes")
		buf.WriteByte('{')
		for i, t := range deletes {
			if i > 0 {
				buf.WriteByte(',')
			}
			q, _ := json.Marshal(t.Name)
			buf.Write(q)
			buf.WriteString(":[")
			for j, d := range t.Deletes {
				if j > 0 {
					buf.WriteByte(',')
				}
				if d.HasBase {
					fmt.Fprintf(&buf, `{"id":"%s","base_version":%d}`, d.ID, d.Base)
					continue
				}
				buf.WriteByte('"')
				buf.WriteString(d.ID.String())
				buf.WriteByte('"')
			}
			buf.WriteByte(']')
		}
		buf.WriteByte('}')
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}
