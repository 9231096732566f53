package syncstore

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// cursor is where a client stands in its contractor's change history. It is
// opaque to clients (base64url JSON) and carries no tenant: it only narrows a
// query that is already scoped to the caller's contractor.
//
// A resting cursor (Horizon == 0 && !Paging) says "every change with seq <=
// Base has been delivered". A paging cursor additionally fixes the horizon of
// the page sequence in progress and the position reached inside it: tables
// before Table are done up to Horizon, table Table up to (Seq, ID).
type cursor struct {
	Version int       `json:"v"`
	Base    int64     `json:"b"`
	Tables  uint16    `json:"m"`
	Paging  bool      `json:"p,omitempty"`
	Horizon int64     `json:"h,omitempty"`
	At      int64     `json:"t,omitempty"` // horizon time, Unix microseconds
	Table   int       `json:"i,omitempty"`
	Seq     int64     `json:"s,omitempty"`
	ID      uuid.UUID `json:"k,omitempty"`
	Full    bool      `json:"f,omitempty"` // a full-state walk: no tombstones
	Since   int64     `json:"z,omitempty"` // since filter, Unix microseconds; 0 = none
}

const cursorVersion = 1

// noneDelivered is the Base of a walk that starts from nothing: seq 0 rows
// (contractors provisioned with plain SQL) are still delivered.
const noneDelivered = -1

// endOfTable sorts after every id: (Base, endOfTable) is "after all of seq Base".
var endOfTable = uuid.UUID{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

func (c cursor) encode() string {
	c.Version = cursorVersion
	b, err := json.Marshal(c)
	if err != nil {
		panic(fmt.Sprintf("cursor: %v", err)) // plain struct: cannot fail
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (cursor, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, fmt.Errorf("not a cursor issued by this server")
	}
	var c cursor
	if err := json.Unmarshal(raw, &c); err != nil || c.Version != cursorVersion {
		return cursor{}, fmt.Errorf("not a cursor issued by this server")
	}
	if c.Base < noneDelivered || c.Horizon < 0 || c.Table < 0 || c.Table >= len(pullTables) ||
		(c.Paging && c.Horizon < c.Base) {
		return cursor{}, fmt.Errorf("cursor is corrupt")
	}
	return c, nil
}

func microsTime(us int64) time.Time { return time.UnixMicro(us).UTC() }
