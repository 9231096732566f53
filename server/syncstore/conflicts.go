package syncstore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"

	"github.com/syncproxy/syncproxy/gen/db"
	"github.com/syncproxy/syncproxy/internal/contract"
	"github.com/syncproxy/syncproxy/wire"
	"github.com/syncproxy/syncproxy/wire/push"
)

// storedRow is a row as it stands in the database, for a 409.
type storedRow struct {
	key     uuid.UUID
	version int64 // sync_seq: the version of the push that last wrote it
	deleted bool
	row     json.RawMessage // as a pull delivers it; nil for a tombstone
}

// stored turns the rows of a Current<Table> query into storedRows, each row
// encoded (and copied out of enc) as a pull delivers it.
func stored[R any](rows []R, err error, enc *wire.Encoder, key func(*R) rowKey) ([]storedRow, error) {
	if err != nil {
		return nil, err
	}
	out := make([]storedRow, len(rows))
	for i := range rows {
		k := key(&rows[i])
		out[i] = storedRow{key: k.id, version: k.seq, deleted: k.deleted}
		if !k.deleted {
			b, err := enc.Encode(&rows[i])
			if err != nil {
				return nil, fmt.Errorf("encode row: %w", err)
			}
			out[i].row = bytes.Clone(b)
		}
	}
	return out, nil
}

// keysOf turns the rows of a Versions<Table> (or Current<Table>) query into
// their keys and versions.
func keysOf[R any](rows []R, err error, key func(*R) rowKey) ([]rowKey, error) {
	if err != nil {
		return nil, err
	}
	out := make([]rowKey, len(rows))
	for i := range rows {
		out[i] = key(&rows[i])
	}
	return out, nil
}

// Conflict is one pushed row whose base_version is not the stored row's
// version: the push wrote nothing.
type Conflict struct {
	Table          string
	ID             uuid.UUID // the row's key; a singleton's is its contractor
	BaseVersion    int64
	CurrentVersion int64           // 0 when no such row is stored
	Deleted        bool            // the stored row is a tombstone
	Row            json.RawMessage // the row as a pull delivers it; nil when deleted, missing or omitted
	// RowOmitted: the row exists, but the 409 had no room left for it
	// (contract 1.2); the client pulls it.
	RowOmitted bool
}

// Conflicts is a push refused because rows changed since their base_version
// (contract 1.1): the client merges and pushes again with the new versions.
type Conflicts struct {
	List []Conflict
	// Omitted counts the conflicts whose row did not fit in MaxRowBytes.
	Omitted     int
	MaxRowBytes int
}

func (e *Conflicts) Error() string {
	return fmt.Sprintf("%d pushed rows changed since their base_version (%d rows omitted)", len(e.List), e.Omitted)
}

// checkBases compares, for every planned row and delete that carries a
// base_version, its base with the stored row's version, in one query per
// table and kind. It runs inside the push's transaction, after the
// contractor's clock row is locked, so no other push of this contractor can
// change the rows until it commits.
//
// What a 409 costs is bounded like a pull page (contract 1.2): the check
// reads versions only, and the conflicting rows are then read and encoded
// while they fit in maxRowBytes (at least one, as a page); the others are
// marked RowOmitted. Reading every conflicting row in full let a 2.4 KB push
// of 28 stale ids answer 176 MB.
func checkBases(ctx context.Context, tx db.DBTX, contractorID uuid.UUID, plan pushPlan, maxRowBytes int) error {
	q := db.New(tx)
	var conflicts []Conflict
	for _, u := range plan.upserts {
		found, err := conflictsOf(ctx, q, contractorID, u.table, u.order, u.bases)
		if err != nil {
			return err
		}
		conflicts = append(conflicts, found...)
	}
	// Deletes with a base (contract 1.2): a delete of a row edited (or
	// deleted) since is refused like an edit, so the device learns of it.
	for _, d := range plan.deletions {
		found, err := conflictsOf(ctx, q, contractorID, d.table, d.ids, d.bases)
		if err != nil {
			return err
		}
		conflicts = append(conflicts, found...)
	}
	if len(conflicts) == 0 {
		return nil
	}
	omitted, err := conflictRows(ctx, tx, contractorID, conflicts, maxRowBytes)
	if err != nil {
		return err
	}
	return &Conflicts{List: conflicts, Omitted: omitted, MaxRowBytes: maxRowBytes}
}

// conflictRows fills in the rows of live conflicts, table by table, while
// they fit in maxRowBytes, and marks the others omitted. A query stops
// returning rows once the budget is full (the rest are discarded as they
// arrive, never held).
func conflictRows(ctx context.Context, tx db.DBTX, contractorID uuid.UUID, conflicts []Conflict, maxRowBytes int) (omitted int, err error) {
	budget := pageBudget{max: maxRowBytes}
	var enc wire.Encoder
	for start := 0; start < len(conflicts); {
		end := start
		for end < len(conflicts) && conflicts[end].Table == conflicts[start].Table {
			end++
		}
		group := conflicts[start:end]
		start = end
		at := map[uuid.UUID]*Conflict{}
		var keys []uuid.UUID
		for i := range group {
			if c := &group[i]; !c.Deleted && c.CurrentVersion != 0 {
				at[c.ID] = c
				keys = append(keys, c.ID)
			}
		}
		if len(keys) > 0 && !budget.cut {
			t, _ := tableNamed(group[0].Table)
			rows, err := t.current(ctx, db.New(budget.limit(tx)), contractorID, keys, &enc)
			if err != nil {
				return 0, fmt.Errorf("read %s rows for a 409: %w", t.name, err)
			}
			for _, r := range rows {
				c := at[r.key]
				if c == nil || r.row == nil || r.version != c.CurrentVersion {
					continue // under the clock lock this cannot change; never pass a row off as another
				}
				if !budget.admit(len(r.row) + 1) {
					budget.cut = true
					break
				}
				c.Row = r.row
			}
		}
		for _, k := range keys {
			if c := at[k]; c.Row == nil {
				c.RowOmitted = true
				omitted++
			}
		}
	}
	return omitted, nil
}

// conflictsOf reads the versions of the keys of t that carry a base and
// returns those whose version is not their base, in the order of keys.
func conflictsOf(ctx context.Context, q *db.Queries, contractorID uuid.UUID, t *table, order []uuid.UUID, bases map[uuid.UUID]int64) ([]Conflict, error) {
	if len(bases) == 0 {
		return nil, nil
	}
	keys := make([]uuid.UUID, 0, len(bases))
	for k := range bases {
		keys = append(keys, k)
	}
	versions, err := t.versions(ctx, q, contractorID, keys)
	if err != nil {
		return nil, fmt.Errorf("read %s for base_version: %w", t.name, err)
	}
	byKey := make(map[uuid.UUID]rowKey, len(versions))
	for _, v := range versions {
		byKey[v.id] = v
	}
	var conflicts []Conflict
	for _, k := range order {
		base, ok := bases[k]
		if !ok {
			continue
		}
		cur := byKey[k] // missing: version 0
		if base == cur.seq {
			continue
		}
		conflicts = append(conflicts, Conflict{Table: t.name, ID: k, BaseVersion: base,
			CurrentVersion: cur.seq, Deleted: cur.deleted})
	}
	return conflicts, nil
}

// keyOf is the key a pushed row of t is stored under.
func keyOf(t *table, contractorID uuid.UUID, r push.Row) uuid.UUID {
	if t.key == contract.Regular {
		return r.Key
	}
	return contractorID
}
