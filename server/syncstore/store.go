// Package syncstore is the sync contract on Postgres: a push is one transaction
// of set-based sqlc statements, a pull is a gap-free walk of the contractor's
// change clock. Every statement is scoped by the contractor id it is given;
// nothing here reads a tenant from a request.
package syncstore

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/syncproxy/syncproxy/gen/db"
	"github.com/syncproxy/syncproxy/server/pgtx"
)

// Store runs pushes and pulls against one pool.
type Store struct {
	pool           *pgtx.Pool
	idempotencyTTL time.Duration
	maxPageBytes   int
	replicas       Replicas
}

// Options configure a Store.
type Options struct {
	IdempotencyTTL time.Duration // how long an Idempotency-Key is remembered
	MaxPageBytes   int           // bytes of rows one pull page holds (at least one row); <= 0: unbounded
	// Replicas, if not nil, may serve pull pages and digests (replica.go).
	Replicas Replicas
}

// New returns a Store on pool.
func New(pool *pgtx.Pool, o Options) *Store {
	s := &Store{pool: pool, idempotencyTTL: o.IdempotencyTTL, maxPageBytes: o.MaxPageBytes, replicas: o.Replicas}
	if s.replicas == nil {
		s.replicas = noReplicas{}
	}
	return s
}

// withTx runs fn in one transaction: it commits when fn returns nil and rolls
// back otherwise, so a push is applied whole or not at all.
// fn gets the transaction both as a connection (for statements that read
// through a budget, as a 409's rows do) and as queries.
func (s *Store) withTx(ctx context.Context, fn func(conn db.DBTX, q *db.Queries) error) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		return fn(tx, db.New(tx))
	})
	if err != nil {
		return fmt.Errorf("transaction: %w", err)
	}
	return nil
}
