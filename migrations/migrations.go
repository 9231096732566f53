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
	"github.com/jackc/pgx/v5/pgxpool"
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

// Apply runs every migration not yet recorded, and reports what it did.
func Apply(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate: connect: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(lockID)); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, int64(lockID)) //nolint:errcheck // released with the session anyway
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	applied, err := appliedVersions(ctx, conn.Conn())
	if err != nil {
		return err
	}
	for _, version := range Versions() {
		if applied[version] {
			continue
		}
		start := time.Now()
		sql, err := files.ReadFile(version)
		if err != nil {
			return fmt.Errorf("migrate: read %s: %w", version, err)
		}
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, string(sql)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, version)
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate: apply %s: %w", version, err)
		}
		logger.Info("migration applied", "version", version, "duration_ms", time.Since(start).Milliseconds())
	}
	return nil
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
