package syncstore

import (
	"context"

	"github.com/google/uuid"

	"github.com/syncproxy/syncproxy/gen/api"
	"github.com/syncproxy/syncproxy/gen/db"
	"github.com/syncproxy/syncproxy/internal/contract"
	"github.com/syncproxy/syncproxy/wire"
)

// table is one synced table: what the spec says about it and the sqlc
// statements that write and read it. The entries live in tables.gen.go,
// generated from openapi.yaml by cmd/tablegen; nothing here names a table.
type table struct {
	name      string
	ordinal   int
	key       contract.KeyKind
	deletable bool

	// upsert writes rows, a JSON array of pushed objects, in one statement.
	upsert func(ctx context.Context, q *db.Queries, w write, rows []byte) (int64, error)
	// remove tombstones ids (deletable tables only).
	remove func(ctx context.Context, q *db.Queries, w write, ids []uuid.UUID) (int64, error)
	// pull reads the next rows of r into the page.
	pull func(ctx context.Context, q *db.Queries, r read, p *tablePage) (taken int, last position, more bool, err error)
	// versions reads the version of each stored key of keys (the one row of
	// a table keyed by the contractor), tombstones included: the conflict
	// check compares them with the pushed base_versions.
	versions func(ctx context.Context, q *db.Queries, contractorID uuid.UUID, keys []uuid.UUID) ([]rowKey, error)
	// current reads the stored rows of keys as a pull delivers them, encoded
	// with enc, for a 409; q may stop returning rows early (the 409's budget).
	current func(ctx context.Context, q *db.Queries, contractorID uuid.UUID, keys []uuid.UUID, enc *wire.Encoder) ([]storedRow, error)
	// digest counts the live rows and sums their digest (mod 2^64, decimal).
	digest func(ctx context.Context, q *db.Queries, contractorID uuid.UUID) (rows int64, sum string, err error)
	// markTombstones and purgeTombstones retire the tombstones older than a
	// cutoff, of every contractor (deletable tables only).
	markTombstones  func(ctx context.Context, q *db.Queries, cutoff api.Timestamp) (int64, error)
	purgeTombstones func(ctx context.Context, q *db.Queries, cutoff api.Timestamp) (int64, error)
	// counted and deleted are the table's fields in the push response.
	counted func(*api.TableCounts) *int
	deleted func(*api.DeleteCounts) *int
}

// Table is what callers outside the store know of a synced table.
type Table struct {
	Name    string
	Ordinal int
	Key     contract.KeyKind // how its rows are keyed, as the spec says
	// Keyed (Key is contract.Regular) says rows carry their own uuid id
	// (every other table holds one row per contractor); Singleton (Key is
	// contract.Singleton): one row per contractor, keyed by the contractor.
	Keyed, Singleton bool
	Deletable        bool // deletes leave tombstones (pull's `deleted`)
}

// Tables lists the synced tables in their stable order: the registry the
// tests and the benchmark iterate, so a new table is covered without a
// hand-kept list.
func Tables() []Table {
	out := make([]Table, len(tables))
	for i, t := range tables {
		out[i] = Table{Name: t.name, Ordinal: t.ordinal, Key: t.key,
			Keyed: t.key == contract.Regular, Singleton: t.key == contract.Singleton, Deletable: t.deletable}
	}
	return out
}

// write is what one statement of a push needs besides its rows.
type write struct {
	contractorID uuid.UUID
	seq          int64
	now          api.Timestamp
}
