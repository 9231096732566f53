package pgcluster

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// poolerEnv is testenv.PoolerEnv (testenv imports this package): under make
// test-pooler, a missing pgbouncer fails these tests instead of skipping them.
const poolerEnv = "SYNC_TEST_POOLER"

func needBouncer(t *testing.T) {
	t.Helper()
	if _, err := findBouncer(""); err != nil {
		if os.Getenv(poolerEnv) == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
}

// TestBouncer_TransactionMode: the bouncer behaves as a production
// transaction pooler does, which is what the pooled suites rely on. With one
// server connection, two open clients run on the same Postgres backend (in
// session mode the second would wait for the first to disconnect), and a
// client sending a startup parameter the pooler does not know is refused.
func TestBouncer_TransactionMode(t *testing.T) {
	needBouncer(t)
	t.Parallel()
	ctx, c := tempCluster(t)
	b, err := StartBouncer(ctx, c, BouncerOptions{PoolSize: 1, Log: testLog{t}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Stop(); err != nil {
			t.Error(err)
		}
	})
	if b.Port() == c.Port() || !strings.Contains(b.URL("app"), ":"+strconv.Itoa(b.Port())+"/app") {
		t.Fatalf("bouncer URL %s (port %d) does not point at the bouncer", b.URL("app"), b.Port())
	}
	if err := c.CreateDatabase(ctx, "app"); err != nil {
		t.Fatal(err)
	}

	var pids [2]int32
	for i := range pids {
		conn, err := pgx.Connect(ctx, b.URL("app"))
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		defer conn.Close(context.Background())
		// The simple protocol: pgx's default would prepare a named
		// statement on the shared backend, and the second client's
		// would collide with it (42P05), the very failure the server avoids.
		if err := conn.QueryRow(ctx, "SELECT pg_backend_pid()", pgx.QueryExecModeSimpleProtocol).Scan(&pids[i]); err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
	}
	if pids[0] != pids[1] {
		t.Fatalf("two clients ran on backends %d and %d with a pool of one: not transaction pooling", pids[0], pids[1])
	}

	cfg, err := pgx.ParseConfig(b.URL("app"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["statement_timeout"] = "1000"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err == nil {
		conn.Close(ctx)
		t.Fatal("the bouncer accepted a statement_timeout startup parameter; a production pooler refuses it")
	}
	if !strings.Contains(err.Error(), "unsupported startup parameter") {
		t.Fatalf("refused for another reason: %v", err)
	}
}

func TestBouncer_StopEndsItAndRemovesItsDirectory(t *testing.T) {
	needBouncer(t)
	t.Parallel()
	ctx, c := tempCluster(t)
	b, err := StartBouncer(ctx, c, BouncerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := ping(ctx, b.URL("postgres")); err != nil {
		t.Fatalf("query through the bouncer: %v", err)
	}
	if err := b.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := ping(ctx, b.URL("postgres")); err == nil {
		t.Fatal("the bouncer still answers after Stop")
	}
	if _, err := os.Stat(b.dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("%s still exists after Stop (%v)", b.dir, err)
	}
	if err := ping(ctx, c.URL("postgres")); err != nil {
		t.Fatalf("the cluster went down with the bouncer: %v", err)
	}
}

// A missing pgbouncer is an error that says how to install it, never a
// silent fallback to a direct connection.
func TestBouncer_MissingBinary_SaysHowToInstall(t *testing.T) {
	t.Parallel()
	_, err := StartBouncer(context.Background(), nil, BouncerOptions{Binary: "/nonexistent/pgbouncer"})
	if !errors.Is(err, ErrNoBouncer) {
		t.Fatalf("err = %v, want ErrNoBouncer", err)
	}
	if !strings.Contains(err.Error(), "apt-get install -y pgbouncer") {
		t.Fatalf("the error does not say how to install pgbouncer: %v", err)
	}
}
