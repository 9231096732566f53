package syncstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"

	"github.com/syncproxy/syncproxy/gen/db"
	"github.com/syncproxy/syncproxy/server/pushbody"
)

// storedRow is a row as it stands in the database, for the conflict check.
type storedRow struct {
	key     uuid.UUID
	version int64 // sync_seq: the version of the push that last wrote it
	deleted bool
	row     json.RawMessage // as a pull delivers it; nil for a tombstone
}

// stored turns the rows of a Current<Table> query into storedRows.
func stored[R any](rows []R, err error, key func(*R) rowKey) ([]storedRow, error) {
	if err != nil {
		return nil, err
	}
	out := make([]storedRow, len(rows))
	for i := range rows {
		k := key(&rows[i])
		out[i] = storedRow{key: k.id, version: k.seq, deleted: k.deleted}
		if !k.deleted {
			if out[i].row, err = json.Marshal(&rows[i]); err != nil {
				return nil, fmt.Errorf("encode row: %w", err)
			}
		}
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
	Row            json.RawMessage // the row as a pull delivers it; nil when deleted or missing
}

// Conflicts is a push refused because rows changed since their base_version
// (contract 1.1): the client merges and pushes again with the new versions.
type Conflicts struct {
	List []Conflict
}

func (e *Conflicts) Error() string {
	return fmt.Sprintf("%d pushed rows changed since their base_version", len(e.List))
}

// checkBases compares, for every planned row that carries a base_version,
// its base with the stored row's version, in one query per table. It runs
// inside the push's transaction, after the contractor's clock row is locked,
// so no other push of this contractor can change the rows until it commits.
func checkBases(ctx context.Context, q *db.Queries, contractorID uuid.UUID, plan pushPlan) error {
	var conflicts []Conflict
	for _, u := range plan.upserts {
		if len(u.bases) == 0 {
			continue
		}
		keys := make([]uuid.UUID, 0, len(u.bases))
		for k := range u.bases {
			keys = append(keys, k)
		}
		rows, err := u.table.current(ctx, q, contractorID, keys)
		if err != nil {
			return fmt.Errorf("read %s for base_version: %w", u.table.name, err)
		}
		byKey := make(map[uuid.UUID]storedRow, len(rows))
		for _, r := range rows {
			byKey[r.key] = r
		}
		for _, k := range u.order {
			base, ok := u.bases[k]
			if !ok {
				continue
			}
			cur := byKey[k] // missing: version 0
			if base == cur.version {
				continue
			}
			conflicts = append(conflicts, Conflict{Table: u.table.name, ID: k, BaseVersion: base,
				CurrentVersion: cur.version, Deleted: cur.deleted, Row: cur.row})
		}
	}
	if len(conflicts) > 0 {
		return &Conflicts{List: conflicts}
	}
	return nil
}

// keyOf is the key a pushed row of t is stored under.
func keyOf(t *table, contractorID uuid.UUID, r pushbody.Row) uuid.UUID {
	if t.key == regular {
		return r.Key
	}
	return contractorID
}
