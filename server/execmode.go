package server

import (
	"context"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/syncproxy/syncproxy/server/pgtx"
)

// autoExecMode is SYNC_DB_EXEC_MODE=auto: named prepared statements
// (cache_statement) on a connection that reaches Postgres itself, and the
// pooler-safe mode on any other. Postgres then parses and plans a statement
// once per connection instead of on every request where it safely can.
//
// A connection is direct when the backend that answers it is the one whose
// process id came with the cancel key at startup (pgconn's PID). A pooler
// (PgBouncer, Supavisor, in any pool mode) answers the startup itself and
// sends a cancel key of its own, so the two differ: behind it, the next
// transaction may run on another server connection, where a statement
// prepared on the first does not exist ("prepared statement ... does not
// exist"). A pooler that does carry protocol-level prepared statements
// (PgBouncer >= 1.21 with max_prepared_statements) is still taken for a
// pooler: never guessed safe.
//
// The mode of a connection is fixed when it is opened (pgx reads it from the
// connection's config), so the first connection is preceded by a probe of
// the endpoint, and every connection opened in cache_statement is checked
// again once open: if the endpoint turned into a pooler (a failover to
// another address), that connection is refused and every later one uses the
// pooler-safe mode.
type autoExecMode struct {
	fallback pgx.QueryExecMode // for connections not proven direct: exec
	// session is applied to every connection proven direct for its whole
	// session (pgtx.Settings.ApplyToSession), so pgtx sends nothing in front
	// of its statements there.
	session pgtx.Settings

	mu      sync.Mutex
	verdict endpointKind // what the probe or a later connection found
}

type endpointKind int

const (
	endpointUnknown endpointKind = iota
	endpointDirect
	endpointPooled
)

// beforeConnect sets the mode of the connection about to be opened.
func (a *autoExecMode) beforeConnect(ctx context.Context, cc *pgx.ConnConfig) error {
	kind, err := a.endpoint(ctx, cc)
	if err != nil {
		return err
	}
	cc.DefaultQueryExecMode = a.fallback
	if kind == endpointDirect {
		cc.DefaultQueryExecMode = pgx.QueryExecModeCacheStatement
	}
	return nil
}

// endpoint is the verdict on cc's endpoint, probing it with a connection of
// its own the first time. Connects wait for the probe rather than guess.
func (a *autoExecMode) endpoint(ctx context.Context, cc *pgx.ConnConfig) (endpointKind, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.verdict != endpointUnknown {
		return a.verdict, nil
	}
	probe := cc.Copy()
	probe.DefaultQueryExecMode = a.fallback
	conn, err := pgx.ConnectConfig(ctx, probe)
	if err != nil {
		return endpointUnknown, err // the pool's own connect would fail the same way
	}
	defer conn.Close(context.WithoutCancel(ctx))
	direct, _, err := isDirect(ctx, conn)
	if err != nil {
		return endpointUnknown, fmt.Errorf("exec mode auto: probe: %w", err)
	}
	a.verdict = endpointPooled
	if direct {
		a.verdict = endpointDirect
	}
	return a.verdict, nil
}

// afterConnect refuses a connection opened with cached statements that is
// not direct after all, and turns every later connection pooler-safe; a
// direct one gets the session settings.
func (a *autoExecMode) afterConnect(ctx context.Context, conn *pgx.Conn) error {
	if conn.Config().DefaultQueryExecMode != pgx.QueryExecModeCacheStatement {
		return nil
	}
	direct, backend, err := isDirect(ctx, conn)
	if err != nil {
		return fmt.Errorf("exec mode auto: %w", err)
	}
	if !direct {
		a.mu.Lock()
		a.verdict = endpointPooled
		a.mu.Unlock()
		return fmt.Errorf("exec mode auto: the connection reaches backend %d but its cancel key names %d: a pooler now stands "+
			"in front of the database, so this connection (prepared statements) is dropped and the next ones use %s",
			backend, conn.PgConn().PID(), a.fallback)
	}
	return a.session.ApplyToSession(ctx, conn)
}

// isDirect asks the backend for its process id and compares it with the one
// the startup's cancel key named. The simple protocol prepares nothing.
func isDirect(ctx context.Context, conn *pgx.Conn) (direct bool, backend uint32, err error) {
	if err := conn.QueryRow(ctx, "SELECT pg_backend_pid()", pgx.QueryExecModeSimpleProtocol).Scan(&backend); err != nil {
		return false, 0, fmt.Errorf("read pg_backend_pid(): %w", err)
	}
	return backend == conn.PgConn().PID(), backend, nil
}
