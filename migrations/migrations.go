// Package migrations embeds the schema (the *.sql files beside this one, which
// sqlc also reads) and applies it. Files are applied in name order, each in its
// own transaction, and recorded in schema_migrations; they are append-only.
package migrations

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
)

//go:embed *.sql
var files embed.FS

// lockID serialises concurrent migrators (two servers starting at once).
const lockID = 0x73796e6370726f78 // "syncprox"

// Versions lists the embedded migrations in the order they apply.
func Versions() []string {
	names, err := fs.Glob(files, "*.sql")
	if err != nil {
		panic(err) // the pattern is constant
	}
	sort.Strings(names)
	return names
}

// Beginner starts transactions: a *pgxpool.Pool, or the server's *pgtx.Pool,
// which applies its statement timeout to each.
type Beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Apply runs every migration not yet recorded, and reports what it did.
//
// Each migration is one transaction that first takes a transaction-scoped
// advisory lock, then reads what is applied: two servers starting at once
// apply each migration once, the second waits and then finds nothing to do.
// A session lock (pg_advisory_lock, then pg_advisory_unlock) is not safe
// behind a transaction pooler: the two calls may run on two server
// connections, and the lock stays held by one that nobody unlocks.
func Apply(ctx context.Context, db Beginner, logger *slog.Logger) error {
	for {
		var applied string
		start := time.Now()
		err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
			var err error
			applied, err = applyNext(ctx, tx)
			return err
		})
		if err != nil {
			return err
		}
		if applied == "" {
			return nil
		}
		logger.Info("migration applied", "version", applied, "duration_ms", time.Since(start).Milliseconds())
	}
}

// applyNext applies the first pending migration in tx, under the lock, and
// returns its version; "" when none is pending.
func applyNext(ctx context.Context, tx pgx.Tx) (string, error) {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(lockID)); err != nil {
		return "", fmt.Errorf("migrate: lock: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return "", fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	pending, err := Pending(ctx, tx)
	if err != nil || len(pending) == 0 {
		return "", err
	}
	version := pending[0]
	sql, err := files.ReadFile(version)
	if err != nil {
		return "", fmt.Errorf("migrate: read %s: %w", version, err)
	}
	if _, err := tx.Exec(ctx, string(sql)); err != nil {
		return "", fmt.Errorf("migrate: apply %s: %w", version, err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, version); err != nil {
		return "", fmt.Errorf("migrate: record %s: %w", version, err)
	}
	return version, nil
}

// querier is what reading schema_migrations needs: a pool, a conn or a tx.
type querier interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}

// Pending lists embedded migrations the database has not applied; /readyz is
// not ready while it is non-empty.
func Pending(ctx context.Context, q querier) ([]string, error) {
	applied, err := appliedVersions(ctx, q)
	if err != nil {
		return nil, err
	}
	var pending []string
	for _, v := range Versions() {
		if !applied[v] {
			pending = append(pending, v)
		}
	}
	return pending, nil
}

func appliedVersions(ctx context.Context, q querier) (map[string]bool, error) {
	rows, err := q.Query(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return nil, fmt.Errorf("migrate: read schema_migrations: %w", err)
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("migrate: read schema_migrations: %w", err)
	}
	applied := make(map[string]bool, len(versions))
	for _, v := range versions {
		applied[v] = true
	}
	return applied, nil
}
