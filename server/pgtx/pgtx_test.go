package pgtx_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/syncproxy/syncproxy/internal/pgcluster"
	"github.com/syncproxy/syncproxy/internal/testenv"
	"github.com/syncproxy/syncproxy/server/pgtx"
)

// The settings must hold on a direct connection and behind PgBouncer in
// transaction mode, in every exec mode the server may run in, and must never
// stay behind on the server connection (a pooler hands it to the next client).

const (
	database = "pgtx"
	timeout  = 1234 * time.Millisecond
	shown    = "1234ms" // current_setting('statement_timeout') under timeout
)

var env struct {
	cluster   *pgcluster.Cluster
	bouncer   *pgcluster.Bouncer // nil when pgbouncer is not installed
	noBouncer error
}

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	ctx := context.Background()
	cluster, err := testenv.StartCluster(ctx, database)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgtx harness:", err)
		return 1
	}
	defer cluster.Remove()
	env.cluster = cluster
	// One server connection: whatever a statement leaves on its session, the
	// next statement of any client sees.
	b, err := pgcluster.StartBouncer(ctx, cluster, pgcluster.BouncerOptions{PoolSize: 1, Log: os.Stderr})
	if err != nil {
		env.noBouncer = err
	} else {
		env.bouncer = b
		defer b.Stop()
	}
	return m.Run()
}

type target struct {
	name  string
	url   func() string
	modes []pgx.QueryExecMode
}

var allModes = []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeCacheDescribe,
	pgx.QueryExecModeDescribeExec, pgx.QueryExecModeExec, pgx.QueryExecModeSimpleProtocol}

// poolerModes are the modes that hold behind a transaction pooler; the others
// name a statement on one server connection and use it on the next.
var poolerModes = []pgx.QueryExecMode{pgx.QueryExecModeCacheDescribe, pgx.QueryExecModeExec, pgx.QueryExecModeSimpleProtocol}

var targets = []target{
	{"direct", func() string { return env.cluster.URL(database) }, allModes},
	{"pgbouncer", func() string { return env.bouncer.URL(database) }, poolerModes},
}

// forEach runs fn on a one-connection pool with settings, per target and mode.
func forEach(t *testing.T, s pgtx.Settings, fn func(t *testing.T, p *pgtx.Pool)) {
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			if tg.name == "pgbouncer" && env.bouncer == nil {
				if testenv.Pooled() {
					t.Fatal(env.noBouncer)
				}
				t.Skip(env.noBouncer)
			}
			for _, mode := range tg.modes {
				t.Run(mode.String(), func(t *testing.T) {
					cfg, err := pgxpool.ParseConfig(tg.url())
					if err != nil {
						t.Fatal(err)
					}
					cfg.MaxConns = 1
					cfg.ConnConfig.DefaultQueryExecMode = mode
					pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(pool.Close)
					fn(t, pgtx.New(pool, s))
				})
			}
		})
	}
}

// leftOnSession is the statement_timeout the next statement on the same
// server connection sees without pgtx: with one server connection, that of
// any later client.
func leftOnSession(t *testing.T, p *pgtx.Pool) string {
	t.Helper()
	var s string
	if err := p.Pool.QueryRow(context.Background(), "SELECT current_setting('statement_timeout')").Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSettings_HoldForTheStatementAndLeaveNothingBehind(t *testing.T) {
	ctx := context.Background()
	const q = "SELECT current_setting('statement_timeout') WHERE $1::int = 1"
	cases := []struct {
		name string
		run  func(p *pgtx.Pool) (string, error)
	}{
		{"QueryRow", func(p *pgtx.Pool) (s string, err error) {
			err = p.QueryRow(ctx, q, 1).Scan(&s)
			return s, err
		}},
		{"Query", func(p *pgtx.Pool) (string, error) {
			rows, err := p.Query(ctx, q, 1)
			if err != nil {
				return "", err
			}
			return pgx.CollectExactlyOneRow(rows, pgx.RowTo[string])
		}},
		{"Exec", func(p *pgtx.Pool) (string, error) {
			// Exec returns no value: prove the setting through its effect.
			_, err := p.Exec(ctx, "DO $$ BEGIN IF current_setting('statement_timeout') <> '"+shown+"' THEN RAISE 'statement_timeout is %', current_setting('statement_timeout'); END IF; END $$")
			return shown, err
		}},
		{"SendBatch", func(p *pgtx.Pool) (s string, err error) {
			// The caller's callbacks get the caller's results, in order.
			var n int32
			b := &pgx.Batch{}
			b.Queue("SELECT $1::int", 7).QueryRow(func(r pgx.Row) error { return r.Scan(&n) })
			b.Queue(q, 1).QueryRow(func(r pgx.Row) error { return r.Scan(&s) })
			if err := p.SendBatch(ctx, b).Close(); err != nil {
				return "", err
			}
			if n != 7 {
				return "", fmt.Errorf("first result = %d, want 7: results out of order", n)
			}
			return s, nil
		}},
		{"Begin", func(p *pgtx.Pool) (s string, err error) {
			err = pgx.BeginFunc(ctx, p, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, "SELECT 1"); err != nil { // a statement after the first still has it
					return err
				}
				return tx.QueryRow(ctx, q, 1).Scan(&s)
			})
			return s, err
		}},
		{"BeginTx read only", func(p *pgtx.Pool) (s string, err error) {
			err = pgx.BeginTxFunc(ctx, p, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
				var ro string
				if err := tx.QueryRow(ctx, "SELECT current_setting('transaction_read_only')").Scan(&ro); err != nil {
					return err
				}
				if ro != "on" {
					return fmt.Errorf("transaction_read_only = %s: the options were lost", ro)
				}
				return tx.QueryRow(ctx, q, 1).Scan(&s)
			})
			return s, err
		}},
	}
	forEach(t, pgtx.Settings{StatementTimeout: timeout}, func(t *testing.T, p *pgtx.Pool) {
		for _, c := range cases {
			got, err := c.run(p)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if got != shown {
				t.Errorf("%s: statement_timeout = %q, want %q", c.name, got, shown)
			}
			if left := leftOnSession(t, p); left != "0" {
				t.Errorf("%s left statement_timeout = %q on the server connection, want 0", c.name, left)
			}
		}
	})
}

// The timeout cancels a statement that runs over it, whichever way it is sent.
// pg_sleep(30) against 100 ms (only the sleep runs under it): the test asserts
// the cause, never a duration.
func TestSettings_CancelAStatementOverTheTimeout(t *testing.T) {
	ctx := context.Background()
	const slow = "SELECT pg_sleep($1::float8)::text"
	cases := map[string]func(p *pgtx.Pool) error{
		"QueryRow": func(p *pgtx.Pool) error {
			var s string
			return p.QueryRow(ctx, slow, 30).Scan(&s)
		},
		"Query": func(p *pgtx.Pool) error {
			rows, err := p.Query(ctx, slow, 30)
			if err != nil {
				return err
			}
			rows.Close()
			return rows.Err()
		},
		"Exec": func(p *pgtx.Pool) error {
			_, err := p.Exec(ctx, slow, 30)
			return err
		},
		"SendBatch": func(p *pgtx.Pool) error {
			b := &pgx.Batch{}
			b.Queue(slow, 30)
			return p.SendBatch(ctx, b).Close()
		},
		"Begin": func(p *pgtx.Pool) error {
			return pgx.BeginFunc(ctx, p, func(tx pgx.Tx) error {
				_, err := tx.Exec(ctx, slow, 30)
				return err
			})
		},
	}
	forEach(t, pgtx.Settings{StatementTimeout: 100 * time.Millisecond}, func(t *testing.T, p *pgtx.Pool) {
		for name, run := range cases {
			err := run(p)
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) || pgErr.Code != "57014" {
				t.Errorf("%s: err = %v, want the statement timeout (SQLSTATE 57014)", name, err)
			}
			// The connection is usable again (and was given back: the pool has one).
			if left := leftOnSession(t, p); left != "0" {
				t.Errorf("%s left statement_timeout = %q on the server connection, want 0", name, left)
			}
		}
	})
}

// What callers test for passes through unchanged, and rows give their
// connection back once read: on a one-connection pool the next call would
// otherwise wait forever (bounded here by the context).
func TestPool_BehavesAsPgxpool(t *testing.T) {
	forEach(t, pgtx.Settings{StatementTimeout: timeout}, func(t *testing.T, p *pgtx.Pool) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var n int
		if err := p.QueryRow(ctx, "SELECT 1 WHERE $1::int = 0", 1).Scan(&n); !errors.Is(err, pgx.ErrNoRows) {
			t.Fatalf("no row: err = %v, want pgx.ErrNoRows", err)
		}
		rows, err := p.Query(ctx, "SELECT g FROM generate_series(1, $1::int) g", 3)
		if err != nil {
			t.Fatal(err)
		}
		got, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil || len(got) != 3 || got[2] != 3 {
			t.Fatalf("rows = %v, %v; want [1 2 3]", got, err)
		}
		// Rows closed before the end give the connection back too.
		rows, err = p.Query(ctx, "SELECT g FROM generate_series(1, $1::int) g", 1000)
		if err != nil {
			t.Fatal(err)
		}
		rows.Next()
		rows.Close()
		tag, err := p.Exec(ctx, "SELECT g FROM generate_series(1, $1::int) g", 2)
		if err != nil || tag.RowsAffected() != 2 {
			t.Fatalf("exec: %v, %v; want SELECT 2", tag, err)
		}
		var pgErr *pgconn.PgError
		if err := p.QueryRow(ctx, "SELECT 1/$1::int", 0).Scan(&n); !errors.As(err, &pgErr) || pgErr.Code != "22012" {
			t.Fatalf("division by zero: err = %v, want SQLSTATE 22012", err)
		}
		if err := p.QueryRow(ctx, "SELECT 1").Scan(&n); err != nil || n != 1 {
			t.Fatalf("after an error: %v, %v", n, err)
		}
	})
}

// Zero settings leave the database's own statement_timeout alone.
func TestSettings_Zero_SendNothing(t *testing.T) {
	forEach(t, pgtx.Settings{}, func(t *testing.T, p *pgtx.Pool) {
		var s string
		if err := p.QueryRow(context.Background(), "SELECT current_setting('statement_timeout')").Scan(&s); err != nil || s != "0" {
			t.Fatalf("statement_timeout = %q, %v; want the default 0", s, err)
		}
	})
}

// A call that fails before its statement runs (here: a cancelled context)
// reports why and gives the connection back: on a one-connection pool the
// next call would otherwise wait forever (bounded here by the context).
func TestPool_FailedCall_GivesTheConnectionBack(t *testing.T) {
	forEach(t, pgtx.Settings{StatementTimeout: timeout}, func(t *testing.T, p *pgtx.Pool) {
		cancelled, cancel := context.WithCancel(context.Background())
		cancel()
		calls := map[string]func() error{
			"Exec": func() error { _, err := p.Exec(cancelled, "SELECT 1"); return err },
			"Query": func() error {
				rows, err := p.Query(cancelled, "SELECT 1")
				if rows != nil {
					rows.Close()
				}
				return err
			},
			"QueryRow":  func() error { var n int; return p.QueryRow(cancelled, "SELECT 1").Scan(&n) },
			"SendBatch": func() error { b := &pgx.Batch{}; b.Queue("SELECT 1"); return p.SendBatch(cancelled, b).Close() },
		}
		ctx, stop := context.WithTimeout(context.Background(), 30*time.Second)
		defer stop()
		for name, call := range calls {
			if err := call(); !errors.Is(err, context.Canceled) {
				t.Errorf("%s: err = %v, want context.Canceled", name, err)
			}
			var n int
			if err := p.QueryRow(ctx, "SELECT 1").Scan(&n); err != nil {
				t.Fatalf("after a failed %s: %v", name, err)
			}
		}
	})
}

// TestSettings_AppliedToTheSession_NothingSentInFront: on a connection that
// carries the settings for its session (ApplyToSession, which the server
// does on connections proven direct), statements and transactions go out as
// they are, without set_config or SET LOCAL in front, and the timeout still
// holds and cancels; a Pool with other settings on the same connection
// still sends its own.
func TestSettings_AppliedToTheSession_NothingSentInFront(t *testing.T) {
	ctx := context.Background()
	settings := pgtx.Settings{StatementTimeout: timeout}
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeExec} {
		t.Run(mode.String(), func(t *testing.T) {
			cfg, err := pgxpool.ParseConfig(env.cluster.URL(database))
			if err != nil {
				t.Fatal(err)
			}
			cfg.MaxConns = 1
			cfg.ConnConfig.DefaultQueryExecMode = mode
			sent := &sentSQL{}
			cfg.ConnConfig.Tracer = sent
			cfg.AfterConnect = settings.ApplyToSession
			pool, err := pgxpool.NewWithConfig(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(pool.Close)
			p := pgtx.New(pool, settings)
			const q = "SELECT current_setting('statement_timeout')"
			var got []string
			var s string
			if err := p.QueryRow(ctx, q).Scan(&s); err != nil {
				t.Fatal(err)
			}
			got = append(got, s)
			if err := pgx.BeginFunc(ctx, p, func(tx pgx.Tx) error { return tx.QueryRow(ctx, q).Scan(&s) }); err != nil {
				t.Fatal(err)
			}
			got = append(got, s)
			b := &pgx.Batch{}
			b.Queue(q).QueryRow(func(r pgx.Row) error { return r.Scan(&s) })
			if err := p.SendBatch(ctx, b).Close(); err != nil {
				t.Fatal(err)
			}
			got = append(got, s)
			for i, g := range got {
				if g != shown {
					t.Errorf("call %d: statement_timeout = %q, want %q", i, g, shown)
				}
			}
			if front := sent.matching("set_config", "SET LOCAL"); len(front) > 0 {
				t.Errorf("sent in front of the statements on a connection that carries the settings: %q", front)
			}
			// Still cancelled, alone and in a transaction.
			var pgErr *pgconn.PgError
			short := pgtx.Settings{StatementTimeout: 100 * time.Millisecond}
			raw, err := pgxpool.NewWithConfig(ctx, func() *pgxpool.Config {
				c := cfg.Copy()
				c.AfterConnect = short.ApplyToSession
				return c
			}())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(raw.Close)
			slow := pgtx.New(raw, short)
			if _, err := slow.Exec(ctx, "SELECT pg_sleep(3)"); !errors.As(err, &pgErr) || pgErr.Code != "57014" {
				t.Errorf("a slow statement: %v, want the statement timeout (SQLSTATE 57014)", err)
			}
			err = pgx.BeginFunc(ctx, slow, func(tx pgx.Tx) error { _, err := tx.Exec(ctx, "SELECT pg_sleep(3)"); return err })
			if !errors.As(err, &pgErr) || pgErr.Code != "57014" {
				t.Errorf("a slow statement in a transaction: %v, want the statement timeout (SQLSTATE 57014)", err)
			}
			// Other settings on the same connection: sent, as without a session.
			other := pgtx.New(pool, pgtx.Settings{StatementTimeout: 4321 * time.Millisecond})
			if err := other.QueryRow(ctx, q).Scan(&s); err != nil || s != "4321ms" {
				t.Errorf("a Pool with other settings: statement_timeout = %q, %v; want 4321ms", s, err)
			}
			if err := pgx.BeginFunc(ctx, other, func(tx pgx.Tx) error { return tx.QueryRow(ctx, q).Scan(&s) }); err != nil || s != "4321ms" {
				t.Errorf("a Pool with other settings, in a transaction: statement_timeout = %q, %v; want 4321ms", s, err)
			}
		})
	}
}

// sentSQL records the SQL of every statement and batch entry sent.
type sentSQL struct {
	mu  sync.Mutex
	sql []string
}

func (s *sentSQL) add(sql string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sql = append(s.sql, sql)
}

func (s *sentSQL) matching(parts ...string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, q := range s.sql {
		for _, p := range parts {
			if strings.Contains(q, p) {
				out = append(out, q)
				break
			}
		}
	}
	return out
}

func (s *sentSQL) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	s.add(d.SQL)
	return ctx
}
func (s *sentSQL) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (s *sentSQL) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}
func (s *sentSQL) TraceBatchQuery(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	s.add(d.SQL)
}
func (s *sentSQL) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}
