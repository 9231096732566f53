package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/url"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/syncproxy/syncproxy/internal/pgcluster"
	"github.com/syncproxy/syncproxy/migrations"
)

// column is one column of a migrated table, as information_schema reports it.
type column struct {
	name       string
	udt        string // udt_name: uuid, text, numeric, int4, bool, timestamptz, date, jsonb, ...
	nullable   bool
	hasDefault bool
	defaultSQL string
	// defaultJSON is the default evaluated by Postgres as JSON (to_jsonb),
	// what a new row holds; "" when it could not be evaluated.
	defaultJSON string
}

// table is a migrated table's columns in declaration order.
type table struct {
	name    string
	columns []column
}

func (t *table) column(name string) (column, bool) {
	for _, c := range t.columns {
		if c.name == name {
			return c, true
		}
	}
	return column{}, false
}

// migratedTables applies the migrations (the same migrations.Apply the server
// runs at start) to a fresh database and reads back every table of schema
// public. The database lives on a throwaway cluster, or, with clusterURL, on
// an existing cluster that the caller owns (tests share one): then a fresh
// database is created on it and dropped afterwards.
func migratedTables(ctx context.Context, clusterURL string) (map[string]*table, error) {
	pool, cleanup, err := migratedDatabase(ctx, clusterURL)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	rows, err := pool.Query(ctx, `
		SELECT table_name, column_name, udt_name, is_nullable = 'YES', column_default IS NOT NULL, coalesce(column_default, '')
		FROM information_schema.columns
		WHERE table_schema = 'public' AND table_name <> 'schema_migrations'
		ORDER BY table_name, ordinal_position`)
	if err != nil {
		return nil, fmt.Errorf("read information_schema.columns: %w", err)
	}
	tables := map[string]*table{}
	for rows.Next() {
		var tableName string
		var c column
		if err := rows.Scan(&tableName, &c.name, &c.udt, &c.nullable, &c.hasDefault, &c.defaultSQL); err != nil {
			return nil, fmt.Errorf("read information_schema.columns: %w", err)
		}
		t := tables[tableName]
		if t == nil {
			t = &table{name: tableName}
			tables[tableName] = t
		}
		t.columns = append(t.columns, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read information_schema.columns: %w", err)
	}
	for _, t := range tables {
		for i, c := range t.columns {
			if !c.hasDefault {
				continue
			}
			// A default that does not evaluate on its own (it names
			// something else) stays unknown; comparing it is then a problem.
			var v string
			if err := pool.QueryRow(ctx, "SELECT to_jsonb("+c.defaultSQL+")::text").Scan(&v); err == nil {
				t.columns[i].defaultJSON = v
			}
		}
	}
	return tables, nil
}

// migratedDatabase is a fresh database (see freshDatabase) with the
// migrations applied by the same migrations.Apply the server runs at start;
// cleanup closes the pool and drops the database. Migrations that do not
// apply are a *driftError.
func migratedDatabase(ctx context.Context, clusterURL string) (pool *pgxpool.Pool, cleanup func(), err error) {
	dbURL, drop, err := freshDatabase(ctx, clusterURL)
	if err != nil {
		return nil, nil, err
	}
	pool, err = pgxpool.New(ctx, dbURL)
	if err != nil {
		drop()
		return nil, nil, err
	}
	cleanup = func() { pool.Close(); drop() }
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := migrations.Apply(ctx, pool, quiet); err != nil {
		cleanup()
		return nil, nil, &driftError{fmt.Sprintf("the migrations do not apply to an empty database: %v", err)}
	}
	return pool, cleanup, nil
}

// driftError is a failure caused by the repository's content (a migration
// that does not apply), reported as drift rather than as an inability to run.
type driftError struct{ msg string }

func (e *driftError) Error() string { return e.msg }

func freshDatabase(ctx context.Context, clusterURL string) (dbURL string, cleanup func(), err error) {
	if clusterURL == "" {
		cluster, err := pgcluster.StartTemp(ctx, io.Discard)
		if err != nil {
			return "", nil, err
		}
		if err := cluster.CreateDatabase(ctx, "contractcheck"); err != nil {
			cluster.Remove()
			return "", nil, err
		}
		return cluster.URL("contractcheck"), func() { cluster.Remove() }, nil
	}
	u, err := url.Parse(clusterURL)
	if err != nil {
		return "", nil, fmt.Errorf("-cluster-url: %w", err)
	}
	suffix := make([]byte, 6)
	if _, err := rand.Read(suffix); err != nil {
		return "", nil, err
	}
	name := "contractcheck_" + hex.EncodeToString(suffix)
	admin, err := pgx.Connect(ctx, clusterURL)
	if err != nil {
		return "", nil, fmt.Errorf("-cluster-url: %w", err)
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		admin.Close(ctx)
		return "", nil, fmt.Errorf("create database %s: %w", name, err)
	}
	u.Path = "/" + name
	return u.String(), func() {
		bg := context.WithoutCancel(ctx)
		admin.Exec(bg, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)") //nolint:errcheck // best effort: the cluster is the caller's scratch
		admin.Close(bg)
	}, nil
}
