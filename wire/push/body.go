// Package push is a push request's body as data: per table, the rows to
// upsert (each the JSON object a device sends) and the ids to delete. It is
// the Go type of openapi.yaml's SyncPushRequest (its x-go-type), so the
// generated client (gen/api) sends one with the typed PushChanges, and the
// server's decoder (server/pushbody) reads a request into one, validating it
// against the spec in the same pass.
//
// It imports nothing of the server: generated code and Go clients build on
// it. The rules a body must follow are the spec's, checked by the server;
// building a Body checks only that each row is a JSON object.
//
// The typed call encodes a Body with encoding/json, which writes each '<',
// '>' and '&' inside strings as six bytes (\u003c): a body full of them may
// pass the server's body limit that way, while MarshalJSON's own bytes,
// sent with PushChangesWithBody, keep them as one byte each.
package push

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/syncproxy/syncproxy/wire"
)

// Body is one push: rows to upsert and ids to delete, per table.
type Body struct {
	// Tables are the pushed tables. A body the server decoded holds one
	// entry per table of the spec, in TableName order, empty ones too (a
	// request the decoder never saw, an empty one, holds none); a client
	// lists only what it pushes, in any order.
	Tables []Table
	// Sum is the SHA-256 of the body as the server received it: an
	// Idempotency-Key is bound to it. The server's decoder sets it; a
	// client leaves it zero.
	Sum [32]byte
}

// Table is what a push carries for one table.
type Table struct {
	Name    string
	Rows    []Row    // rows of a deprecated alias first, then the table's own
	Deletes []Delete // ids to delete (tables whose rows have an id)
}

// Row is one pushed row.
type Row struct {
	// JSON is the object as the client sent it (the server's decoder
	// rewrites timestamps Postgres cannot parse to UTC). It is all a client
	// sets; the fields below are what the decoder read out of it.
	JSON []byte
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
}

// Delete is one id to delete.
type Delete struct {
	ID uuid.UUID
	// Base is the delete's base_version, when it has one (HasBase, contract
	// 1.2): the version of the row the delete was decided on.
	Base    int64
	HasBase bool
	// Index is the entry's position in the table's deletes, set by the
	// server's decoder (what a 400 names).
	Index int
}

// Upsert adds rows to table. A row is any value that encodes as a JSON
// object with the table's column names as keys (a struct with json tags, a
// map, or the object itself as json.RawMessage or []byte); keys it leaves
// out keep their stored value (contract 1.1: partial rows).
func (b *Body) Upsert(table string, rows ...any) error {
	t := b.table(table)
	for i, r := range rows {
		raw, err := object(r)
		if err != nil {
			return fmt.Errorf("push %s: row %d: %w", table, i, err)
		}
		t.Rows = append(t.Rows, Row{JSON: raw, Source: table, Index: len(t.Rows)})
	}
	return nil
}

// Delete adds ids to table's deletes, without a conflict check: the delete
// wins over whatever is stored (last write wins).
func (b *Body) Delete(table string, ids ...uuid.UUID) {
	t := b.table(table)
	for _, id := range ids {
		t.Deletes = append(t.Deletes, Delete{ID: id, Index: len(t.Deletes)})
	}
}

// DeleteAt adds a delete of id with a conflict check: base is the
// sync_version of the row the delete was decided on, and the push is a 409
// (nothing written) when the stored row has another.
func (b *Body) DeleteAt(table string, id uuid.UUID, base int64) {
	t := b.table(table)
	t.Deletes = append(t.Deletes, Delete{ID: id, Base: base, HasBase: true, Index: len(t.Deletes)})
}

// table returns the entry of name, added when the body has none.
func (b *Body) table(name string) *Table {
	for i := range b.Tables {
		if b.Tables[i].Name == name {
			return &b.Tables[i]
		}
	}
	b.Tables = append(b.Tables, Table{Name: name})
	return &b.Tables[len(b.Tables)-1]
}

func object(row any) ([]byte, error) {
	var raw []byte
	switch r := row.(type) {
	case json.RawMessage:
		raw = r
	case []byte:
		raw = r
	default:
		var err error
		if raw, err = wire.Marshal(row); err != nil {
			return nil, err
		}
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' || !json.Valid(raw) {
		return nil, errors.New("not a JSON object")
	}
	return raw, nil
}

// MarshalJSON writes the body as the push request the spec describes:
// `{"<table>": [rows…], "deletes": {"<table>": [ids…]}}`.
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
	for _, t := range b.Tables {
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

// UnmarshalJSON refuses: a push body the server reads is decoded and
// validated against the spec by server/pushbody in one pass, never by
// encoding/json, which would accept what the contract refuses.
func (b *Body) UnmarshalJSON([]byte) error {
	return errors.New("push.Body: decode a push with server/pushbody's Decoder (it validates against the spec), not encoding/json")
}
