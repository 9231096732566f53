package syncstore

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/syncproxy/syncproxy/gen/api"
	"github.com/syncproxy/syncproxy/gen/db"
)

// Digest is, per table, how many live rows the contractor has and the digest
// of their ids and versions, at one horizon.
type Digest struct {
	ServerTime api.Timestamp
	Cursor     string // a resting cursor at the horizon, for the tables asked for
	Tables     []TableDigest
}

// TableDigest is one table's figures.
type TableDigest struct {
	Table  string
	Count  int64
	Digest string // the sum mod 2^64, as a decimal string
}

// Digest computes the figures of the tables asked for (all when none) in one
// read-only snapshot. The snapshot sees the clock at seq N exactly when every
// push up to N has committed and none after it (pushes commit in seq order),
// so the figures are the state at N, and the cursor says so: a device that
// has pulled up to it computes the same over its replica.
func (s *Store) Digest(ctx context.Context, contractorID uuid.UUID, tableNames []string) (Digest, error) {
	want, err := requestedTables(tableNames)
	if err != nil {
		return Digest{}, err
	}
	if d, served, err := s.digestFromReplica(ctx, contractorID, want); served {
		return d, err
	}
	var d Digest
	err = pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		q := db.New(tx)
		clock, err := q.DigestClock(ctx, contractorID)
		if err != nil {
			return fmt.Errorf("read clock: %w", err)
		}
		d, err = digestAt(ctx, q, contractorID, want, clock.Seq, clock.Now)
		return err
	})
	if err != nil {
		return Digest{}, fmt.Errorf("digest: %w", err)
	}
	s.replicas.Served(opDigest, Primary)
	return d, nil
}

// digestAt computes the figures of the tables in want through q, whose
// snapshot holds the contractor's changes up to seq and none after.
func digestAt(ctx context.Context, q *db.Queries, contractorID uuid.UUID, want tableSet, seq int64, at api.Timestamp) (Digest, error) {
	d := Digest{ServerTime: at, Cursor: cursor{Base: seq, Tables: want}.encode()}
	for i := range want.members() {
		if i >= len(tables) {
			continue
		}
		t := &tables[i]
		n, sum, err := t.digest(ctx, q, contractorID)
		if err != nil {
			return Digest{}, fmt.Errorf("digest %s: %w", t.name, err)
		}
		d.Tables = append(d.Tables, TableDigest{Table: t.name, Count: n, Digest: sum})
	}
	return d, nil
}
