package syncstore

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/bits"
	"time"

	"github.com/google/uuid"
)

// cursor is where a client stands in its contractor's change history. It is
// opaque to clients (base64url JSON) and carries no tenant: it only narrows a
// query that is already scoped to the caller's contractor.
//
// A resting cursor (!Paging) says "every change with seq <= Base of the
// tables in Tables has been delivered". A paging cursor also fixes the walk
// in progress: its horizon, the tables it visits (Walk), those it walks in
// full because the previous cursor did not cover them (Full), and the
// position reached: tables before Table are done up to Horizon, table Table
// up to (Seq, ID).
type cursor struct {
	Base    int64
	Tables  tableSet
	Paging  bool
	Horizon int64
	At      int64 // horizon time, Unix microseconds
	Walk    tableSet
	Full    tableSet
	Table   int
	Seq     int64
	ID      uuid.UUID
	Since   int64 // since filter, Unix microseconds; 0 = none
}

// cursorVersion 2 names tables by an unbounded set of ordinals; version 1
// (a 16-bit mask) is still read, so devices keep their cursors across the
// upgrade.
const cursorVersion = 2

// wireCursor is the JSON form of both versions.
type wireCursor struct {
	Version int        `json:"v"`
	Base    int64      `json:"b"`
	Paging  bool       `json:"p,omitempty"`
	Horizon int64      `json:"h,omitempty"`
	At      int64      `json:"t,omitempty"`
	Table   int        `json:"i,omitempty"`
	Seq     int64      `json:"s,omitempty"`
	ID      *uuid.UUID `json:"k,omitempty"`
	Since   int64      `json:"z,omitempty"`
	// version 2
	Tables string `json:"ts,omitempty"`
	Walk   string `json:"ws,omitempty"`
	Full   string `json:"fs,omitempty"`
	// version 1
	Mask    uint16 `json:"m,omitempty"`
	FullAll bool   `json:"f,omitempty"`
}

// noneDelivered is the Base of a walk that starts from nothing: seq 0 rows
// (contractors provisioned with plain SQL) are still delivered.
const noneDelivered = -1

// endOfTable sorts after every id: (Base, endOfTable) is "after all of seq Base".
var endOfTable = uuid.UUID{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

func (c cursor) encode() string {
	w := wireCursor{Version: cursorVersion, Base: c.Base, Paging: c.Paging, Horizon: c.Horizon, At: c.At,
		Table: c.Table, Seq: c.Seq, Since: c.Since,
		Tables: c.Tables.String(), Walk: c.Walk.String(), Full: c.Full.String()}
	if c.Paging {
		w.ID = &c.ID
	}
	b, err := json.Marshal(w)
	if err != nil {
		panic(fmt.Sprintf("cursor: %v", err)) // plain struct: cannot fail
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (cursor, error) {
	foreign := &BadCursor{Reason: "not a cursor issued by this server"}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, foreign
	}
	var w wireCursor
	if err := json.Unmarshal(raw, &w); err != nil {
		return cursor{}, foreign
	}
	c := cursor{Base: w.Base, Paging: w.Paging, Horizon: w.Horizon, At: w.At, Table: w.Table, Seq: w.Seq, Since: w.Since}
	if w.ID != nil {
		c.ID = *w.ID
	}
	switch w.Version {
	case 1:
		// Version 1 walked every table of the mask, in full or not.
		c.Tables = tableSetOfMask(uint64(w.Mask))
		if c.Paging {
			c.Walk = c.Tables
		}
		if w.FullAll {
			c.Full = c.Tables
		}
	case cursorVersion:
		for _, f := range []struct {
			text string
			set  *tableSet
		}{{w.Tables, &c.Tables}, {w.Walk, &c.Walk}, {w.Full, &c.Full}} {
			if *f.set, err = parseTableSet(f.text); err != nil {
				return cursor{}, &BadCursor{Reason: "cursor is corrupt"}
			}
		}
	default:
		return cursor{}, foreign
	}
	if c.Base < noneDelivered || c.Horizon < 0 || c.Table < 0 || c.Table >= len(tables) ||
		(c.Paging && c.Horizon < c.Base) || c.Tables.empty() {
		return cursor{}, &BadCursor{Reason: "cursor is corrupt"}
	}
	if reason := c.unissuable(); reason != "" {
		return cursor{}, &BadCursor{Reason: "not a cursor this server issues: " + reason}
	}
	return c, nil
}

// unissuable says why c has a shape no walk of the server produces, or "".
// The shape of a cursor is public (base64url JSON), so a client can write
// any; a forged one was answered with a page of a time out of range, walked
// tables it did not cover, or skipped a 410 (a delta from before everything
// is checked against no purge mark). What the server issues:
//
//   - a resting cursor: Base >= 0 (the version delivered up to) and its
//     tables, nothing else;
//   - a paging cursor: a horizon at or above Base, the horizon's time, the
//     tables walked and walked in full (both among its tables), the table
//     reached (one walked) and the (seq, id) reached in it, within the walk;
//     a walk from before everything (Base -1) either walks every table in
//     full or filters by since.
//
// Whether Base and the horizon are versions the contractor has reached is
// the clock's to say (Pull).
func (c cursor) unissuable() string {
	if !c.Paging {
		switch {
		case c.Base == noneDelivered:
			return "a resting cursor names the version it was delivered up to"
		case c.Horizon != 0 || c.At != 0 || c.Since != 0 || !c.Walk.empty() || !c.Full.empty() ||
			c.Table != 0 || c.Seq != 0 || c.ID != uuid.Nil:
			return "a resting cursor carries no walk"
		}
		return ""
	}
	delta := c.Tables.minus(c.Full)
	switch {
	case !inTimestampRange(c.At):
		return "its time is outside years 0001 to 9999"
	case c.Since != 0 && !inTimestampRange(c.Since):
		return "its since is outside years 0001 to 9999"
	case c.Since != 0 && c.Base != noneDelivered:
		return "since filters a walk from before everything only"
	case c.Base == noneDelivered && c.Since == 0 && !delta.empty():
		return "a walk from before everything is in full or filtered by since"
	case !c.Walk.minus(c.Tables).empty() || !c.Full.minus(c.Tables).empty():
		return "it walks tables it does not cover"
	case !c.Walk.has(c.Table):
		return "the table it has reached is not one it walks"
	case c.Seq > c.Horizon || c.Seq < noneDelivered || (!c.Full.has(c.Table) && c.Seq < c.Base):
		return "the position it has reached lies outside its walk"
	}
	return ""
}

// The range of times a timestamp of the contract holds, in Unix
// microseconds: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999Z.
var (
	minMicros = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	maxMicros = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro() - 1
)

func inTimestampRange(us int64) bool { return us >= minMicros && us <= maxMicros }

func microsTime(us int64) time.Time { return time.UnixMicro(us).UTC() }

// tableSet is a set of table ordinals, of any size.
type tableSet []uint64

func (s tableSet) has(i int) bool {
	return i/64 < len(s) && s[i/64]&(1<<(i%64)) != 0
}

func (s *tableSet) add(i int) {
	for len(*s) <= i/64 {
		*s = append(*s, 0)
	}
	(*s)[i/64] |= 1 << (i % 64)
}

func (s tableSet) empty() bool {
	for _, w := range s {
		if w != 0 {
			return false
		}
	}
	return true
}

// minus returns s without the members of o.
func (s tableSet) minus(o tableSet) tableSet {
	var out tableSet
	for i := range s.members() {
		if !o.has(i) {
			out.add(i)
		}
	}
	return out
}

// members yields the ordinals in s, ascending.
func (s tableSet) members() func(func(int) bool) {
	return func(yield func(int) bool) {
		for w, word := range s {
			for word != 0 {
				b := bits.TrailingZeros64(word)
				if !yield(w*64 + b) {
					return
				}
				word &^= 1 << b
			}
		}
	}
}

func tableSetOfMask(mask uint64) tableSet {
	if mask == 0 {
		return nil
	}
	return tableSet{mask}
}

// String is the set as hex bytes, lowest ordinals first; "" when empty.
func (s tableSet) String() string {
	var b []byte
	for _, w := range s {
		for i := 0; i < 8; i++ {
			b = append(b, byte(w>>(8*i)))
		}
	}
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return hex.EncodeToString(b)
}

func parseTableSet(text string) (tableSet, error) {
	b, err := hex.DecodeString(text)
	if err != nil {
		return nil, err
	}
	var s tableSet
	for i, v := range b {
		for bit := 0; bit < 8; bit++ {
			if v&(1<<bit) != 0 {
				s.add(i*8 + bit)
			}
		}
	}
	return s, nil
}

// CursorVersion is the version a cursor stands at, for tests and tools
// that check that cursors never go back: a resting cursor's version
// delivered up to, or the horizon of the walk a paging cursor is in (paging
// true). The cursor stays opaque to clients.
func CursorVersion(s string) (version int64, paging bool, err error) {
	c, err := decodeCursor(s)
	if err != nil {
		return 0, false, err
	}
	if c.Paging {
		return c.Horizon, true, nil
	}
	return c.Base, false, nil
}
