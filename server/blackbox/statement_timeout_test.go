package blackbox_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/syncproxy/syncproxy/internal/devicetest"
	"github.com/syncproxy/syncproxy/internal/testenv"
	"github.com/syncproxy/syncproxy/migrations"
	"github.com/syncproxy/syncproxy/server"
)

// TestStatementTimeout_CancelsAStatementThatWaits makes each kind of database
// work of the server wait on a lock that another session holds, and expects
// Postgres to cancel it after SYNC_STATEMENT_TIMEOUT (SQLSTATE 57014). These
// are the server's real paths: the tenant lookup and the pull's clock read
// (single statements), a push and the provisioning of a tenant
// (transactions). Under make test-pooler the server reaches Postgres through
// PgBouncer in transaction mode, where a statement_timeout sent as a startup
// parameter was refused or lost; here it must hold.
//
// If the timeout did not fire, the lock is let go after 30 s and the request
// succeeds: the test fails on what happened, never on how long it took.
func TestStatementTimeout_CancelsAStatementThatWaits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	serverURL, directURL := freshDatabase(t)
	cfg, err := testenv.Config(map[string]string{
		"DATABASE_URL":           serverURL,
		"SYNC_JWT_SECRET":        devicetest.Secret,
		"SYNC_RATE_LIMIT":        "0",
		"SYNC_STATEMENT_TIMEOUT": "1s",
		// Far above the statement timeout: what cancels is Postgres, not
		// the request's deadline.
		"SYNC_REQUEST_TIMEOUT": "2m",
	})
	if err != nil {
		t.Fatal(err)
	}
	pool, err := server.OpenPool(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	logs := &testenv.LogBuffer{}
	logger := logs.Logger(slog.LevelInfo)
	if err := migrations.Apply(ctx, pool, logger); err != nil {
		t.Fatal(err)
	}
	handler, err := testenv.NewHandler(cfg, pool, logger)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(handler)
	defer srv.Close()
	contractor, owner, err := testenv.NewTenant(ctx, pool, "Timeouts")
	if err != nil {
		t.Fatal(err)
	}
	d := env.DeviceFor(t, owner, contractor)
	d.URL = srv.URL

	// block holds a lock in an open transaction of its own, straight to
	// Postgres, until release (or 30 s).
	block := func(sql string, args ...any) (release func()) {
		t.Helper()
		conn, err := pgx.Connect(ctx, directURL)
		if err != nil {
			t.Fatal(err)
		}
		tx, err := conn.Begin(ctx)
		if err == nil {
			_, err = tx.Exec(ctx, sql, args...)
		}
		if err != nil {
			conn.Close(ctx)
			t.Fatalf("lock %q: %v", sql, err)
		}
		var once sync.Once
		letGo := func() {
			once.Do(func() {
				tx.Rollback(ctx) //nolint:errcheck // closing the connection ends it anyway
				conn.Close(ctx)
			})
		}
		timer := time.AfterFunc(30*time.Second, letGo)
		t.Cleanup(letGo)
		return func() { timer.Stop(); letGo() }
	}

	const clockRow = `SELECT 1 FROM sync_clock WHERE contractor_id = $1 FOR UPDATE`
	for _, c := range []struct {
		name string
		lock string
		args []any
		send func() devicetest.Response
	}{
		{"tenant lookup (canary)", `LOCK TABLE users IN ACCESS EXCLUSIVE MODE`, nil, func() devicetest.Response { return d.Canary() }},
		{"pull (clock read)", clockRow, []any{contractor}, func() devicetest.Response { return d.Pull(nil) }},
		{"push (transaction)", clockRow, []any{contractor}, func() devicetest.Response { return d.Push(limItem()) }},
	} {
		release := block(c.lock, c.args...)
		r := c.send()
		release()
		if r.Status == http.StatusOK {
			t.Errorf("%s answered 200 once the lock was let go after 30 s: the statement waited instead of timing out", c.name)
			continue
		}
		e := r.Envelope(t, http.StatusServiceUnavailable, "UNAVAILABLE")
		if line := logLineOf(logs, e.RequestId, "request failed"); !strings.Contains(line, "canceling statement due to statement timeout") {
			t.Errorf("%s: 503 for another reason than the statement timeout: %s", c.name, line)
		}
	}

	// Provisioning is tenant.Create's transaction (testenv.NewTenant calls it).
	release := block(`LOCK TABLE contractors IN ACCESS EXCLUSIVE MODE`)
	_, _, err = testenv.NewTenant(ctx, pool, "Blocked")
	release()
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "57014" {
		t.Errorf("provisioning a tenant (tenant.Create): err = %v, want the statement timeout (SQLSTATE 57014)", err)
	}
}

// logLineOf returns the log line of requestID whose message is msg, or "".
func logLineOf(logs *testenv.LogBuffer, requestID, msg string) string {
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, `"request_id":"`+requestID+`"`) && strings.Contains(line, `"msg":"`+msg+`"`) {
			return line
		}
	}
	return ""
}
