package server

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/syncproxy/syncproxy/internal/pgcluster"
	"github.com/syncproxy/syncproxy/server/config"
)

// TestExecModeAuto_CachesStatementsOnDirectConnectionsOnly: with the
// default SYNC_DB_EXEC_MODE (auto), every connection straight to Postgres
// prepares its statements once (cache_statement: a named prepared statement
// stays on the backend), and every connection through PgBouncer in
// transaction mode prepares none (exec), because the next transaction may
// run on a server connection that never saw the statement. Several
// connections each, opened at once, so that none escapes the verdict.
func TestExecModeAuto_CachesStatementsOnDirectConnectionsOnly(t *testing.T) {
	ctx := context.Background()
	cluster, bouncer := clusterAndBouncer(t)
	cases := []struct {
		name     string
		url      string
		want     pgx.QueryExecMode
		prepared bool
		session  string // statement_timeout on the session, outside pgtx
	}{
		// A direct connection also carries the statement timeout for its
		// session (pgtx then sends nothing in front of its statements);
		// behind the pooler the session is the pooler's to share: untouched.
		{"direct", cluster.URL("app"), pgx.QueryExecModeCacheStatement, true, "1234ms"},
		{"behind PgBouncer in transaction mode", bouncer.URL("app"), pgx.QueryExecModeExec, false, "0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pool := autoPool(t, c.url, 3)
			conns := make([]*pgxpool.Conn, 3)
			for i := range conns {
				conn, err := pool.Acquire(ctx)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Release()
				conns[i] = conn
			}
			for i, conn := range conns {
				if got := conn.Conn().Config().DefaultQueryExecMode; got != c.want {
					t.Errorf("connection %d: mode %v, want %v", i, got, c.want)
				}
				// One transaction: behind the pooler both statements run on
				// the same server connection, whose prepared statements are
				// then the ones this client left there.
				tx, err := conn.Begin(ctx)
				if err != nil {
					t.Fatal(err)
				}
				var one, prepared int
				if err := tx.QueryRow(ctx, "SELECT $1::int", 1).Scan(&one); err != nil {
					t.Fatalf("connection %d: %v", i, err)
				}
				if err := tx.QueryRow(ctx, "SELECT count(*) FROM pg_prepared_statements WHERE statement = 'SELECT $1::int'").Scan(&prepared); err != nil {
					t.Fatalf("connection %d: %v", i, err)
				}
				if err := tx.Commit(ctx); err != nil {
					t.Fatal(err)
				}
				if (prepared > 0) != c.prepared {
					t.Errorf("connection %d: %d prepared statements of the query on its backend, want prepared=%v", i, prepared, c.prepared)
				}
				var session string
				if err := conn.QueryRow(ctx, "SELECT current_setting('statement_timeout')").Scan(&session); err != nil || session != c.session {
					t.Errorf("connection %d: statement_timeout %q on the session (%v), want %q", i, session, err, c.session)
				}
			}
		})
	}
}

// TestExecModeAuto_ConnectionBehindAPoolerAfterADirectOne_Refused: an
// endpoint proven direct that later answers through a pooler (a failover
// to another address) never gets a connection with prepared statements
// through: the connection opened with them is refused once its backend
// turns out not to be the cancel key's, and the next one uses exec.
func TestExecModeAuto_ConnectionBehindAPoolerAfterADirectOne_Refused(t *testing.T) {
	ctx := context.Background()
	_, bouncer := clusterAndBouncer(t)
	auto := &autoExecMode{fallback: pgx.QueryExecModeExec, verdict: endpointDirect}
	cc, err := pgx.ParseConfig(bouncer.URL("app"))
	if err != nil {
		t.Fatal(err)
	}
	connect := func() (*pgx.Conn, error) {
		c := cc.Copy()
		if err := auto.beforeConnect(ctx, c); err != nil {
			return nil, err
		}
		conn, err := pgx.ConnectConfig(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close(context.Background()) })
		return conn, auto.afterConnect(ctx, conn)
	}
	if _, err := connect(); err == nil {
		t.Fatal("a connection with prepared statements through PgBouncer was accepted")
	}
	conn, err := connect()
	if err != nil {
		t.Fatalf("the next connection: %v", err)
	}
	if got := conn.Config().DefaultQueryExecMode; got != pgx.QueryExecModeExec {
		t.Fatalf("the next connection's mode is %v, want exec", got)
	}
}

// autoPool is the server's pool on url with the default exec mode.
func autoPool(t *testing.T, url string, conns int) *pgxpool.Pool {
	t.Helper()
	cfg, err := config.Load(func(name string) string {
		return map[string]string{"DATABASE_URL": url, "SYNC_JWT_SECRET": "0123456789abcdef-secret"}[name]
	})
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.DBExecAuto {
		t.Fatal("the default SYNC_DB_EXEC_MODE is not auto")
	}
	cfg.DBMaxConns = int32(conns)
	cfg.StatementTimeout = 1234 * time.Millisecond
	pc, err := PoolConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), pc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// clusterAndBouncer starts a throwaway cluster with a database "app" and a
// PgBouncer in transaction mode in front of it. PgBouncer is required (CI
// installs it): the pooler half of auto's verdict is its reason to exist.
func clusterAndBouncer(t *testing.T) (*pgcluster.Cluster, *pgcluster.Bouncer) {
	t.Helper()
	ctx := context.Background()
	cluster, err := pgcluster.StartTemp(ctx, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cluster.Remove() })
	if err := cluster.CreateDatabase(ctx, "app"); err != nil {
		t.Fatal(err)
	}
	bouncer, err := pgcluster.StartBouncer(ctx, cluster, pgcluster.BouncerOptions{PoolSize: 2, Log: os.Stderr})
	if errors.Is(err, pgcluster.ErrNoBouncer) {
		t.Fatalf("%v: %s", err, pgcluster.BouncerInstallHint)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := bouncer.Stop(); err != nil {
			t.Error(err)
		}
	})
	return cluster, bouncer
}
