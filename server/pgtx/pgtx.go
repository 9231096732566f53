// Package pgtx applies the server's Postgres settings (today the statement
// timeout) to every transaction and every single statement it runs, in a way
// that holds behind a transaction-mode pooler (PgBouncer, Supavisor).
//
// Why not a connection setting: a pooler in transaction mode hands each
// transaction to whichever server connection is free, so session state is
// lost or, worse, leaks to another client. A statement_timeout sent as a
// startup parameter is refused by PgBouncer ("unsupported startup parameter")
// or, when told to ignore it, silently dropped; a SET on connect sticks to one
// server connection that others then use. What does hold is a setting local to
// the transaction, sent in the same round trip as the transaction's start:
//
//   - Begin sends "BEGIN; SET LOCAL statement_timeout = N" as one simple
//     query. The pooler assigns a server connection at BEGIN and keeps it
//     until COMMIT, so every statement of the transaction runs under it.
//   - Exec, Query, QueryRow and SendBatch outside a transaction send a pgx
//     batch: set_config('statement_timeout', N, true), then the statement (or
//     the caller's batch), ended by one Sync. Postgres runs everything before a Sync as one implicit
//     transaction, and the pooler keeps one server connection for it, so the
//     setting covers exactly that statement and nothing after it.
//
// Neither adds a round trip. pgtx_test checks both, direct and through a real
// PgBouncer in transaction mode with one server connection: the setting holds
// in every exec mode, cancels a slow statement, and is gone for the next
// client. server's TestStatementTimeout_CancelsAStatementThatWaits checks it
// on the server's real paths, and runs through PgBouncer under make
// test-pooler.
//
// A connection that is its own server connection (no pooler in between:
// server's SYNC_DB_EXEC_MODE=auto proves it) can carry the settings for its
// whole session instead: ApplyToSession sets them once, right after
// connecting, and marks the connection, and every transaction and statement
// on a marked connection is then sent as it is, without the SET LOCAL or the
// set_config in front (one statement fewer for Postgres to run each time; a
// pull page ran three). A mark names the values it applied, so a Pool with
// other settings still sends its own.
//
// With exec a statement's parsing runs under
// the setting too. Modes that prepare or describe a statement first
// (cache_statement, cache_describe) do that in a round trip of its own, the
// first time a connection sees the statement, outside the setting: it may
// wait on a lock until the request's deadline.
package pgtx

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Settings are applied to every transaction and statement of a Pool.
type Settings struct {
	// StatementTimeout cancels a statement that runs longer (SQLSTATE 57014).
	// 0 leaves the database's own setting in force.
	StatementTimeout time.Duration
}

// Pool is a pgxpool.Pool whose Begin, BeginTx, Exec, Query, QueryRow and
// SendBatch apply Settings. Everything else (Acquire, CopyFrom, Stat, Close)
// is the embedded pool's, without the settings: a connection from Acquire
// carries none unless it carries them for its session (ApplyToSession: the
// server's direct connections, where the statement timeout then covers
// everything run on them), and Pool.Pool is only for what cannot run in a
// transaction block, such as VACUUM.
type Pool struct {
	*pgxpool.Pool
	set     string // "SET LOCAL ..." statements run right after BEGIN; "" when there are none
	get     string // the same as one SELECT of set_config(..., true) calls, for single statements
	session string // the mark of a connection that carries these settings for its session
}

// New wraps pool; the caller still closes it.
func New(pool *pgxpool.Pool, s Settings) *Pool {
	p := &Pool{Pool: pool}
	if ms := s.millis(); ms != "" {
		p.set = "SET LOCAL statement_timeout = " + ms
		p.get = "SELECT set_config('statement_timeout', '" + ms + "', true)"
		p.session = s.mark()
	}
	return p
}

// millis is the statement timeout as an integer number of milliseconds,
// formatted here: nothing from outside is pasted into SQL. "" for none.
func (s Settings) millis() string {
	if s.StatementTimeout <= 0 {
		return ""
	}
	return strconv.FormatInt(max(s.StatementTimeout.Milliseconds(), 1), 10)
}

func (s Settings) mark() string { return "statement_timeout=" + s.millis() }

// sessionKey is where ApplyToSession marks a connection (pgconn's CustomData).
const sessionKey = "pgtx.session"

// ApplyToSession sets s on conn for its whole session and marks it, so that
// a Pool with the same settings sends its statements on it as they are. Only
// for a connection that is its own server connection: behind a transaction
// pooler the setting would stick to a server connection other clients get,
// and this connection's next transaction would run without it. Call it
// before the connection is used (pgxpool's AfterConnect).
func (s Settings) ApplyToSession(ctx context.Context, conn *pgx.Conn) error {
	ms := s.millis()
	if ms == "" {
		return nil
	}
	if _, err := conn.Exec(ctx, "SET statement_timeout = "+ms, pgx.QueryExecModeSimpleProtocol); err != nil {
		return fmt.Errorf("pgtx: apply the settings to the session: %w", err)
	}
	conn.PgConn().CustomData()[sessionKey] = s.mark()
	return nil
}

// carries says whether conn already has p's settings for its session.
func (p *Pool) carries(conn *pgx.Conn) bool {
	mark, _ := conn.PgConn().CustomData()[sessionKey].(string)
	return mark != "" && mark == p.session
}

// Begin starts a transaction whose first statement applies the settings, in
// the same round trip as BEGIN.
func (p *Pool) Begin(ctx context.Context) (pgx.Tx, error) {
	return p.BeginTx(ctx, pgx.TxOptions{})
}

// BeginTx is Begin with pgx's transaction options.
func (p *Pool) BeginTx(ctx context.Context, o pgx.TxOptions) (pgx.Tx, error) {
	if p.set == "" {
		return p.Pool.BeginTx(ctx, o)
	}
	c, err := p.Pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	if !p.carries(c.Conn()) {
		o.BeginQuery = beginSQL(o) + "; " + p.set
	}
	tx, err := c.BeginTx(ctx, o)
	if err != nil {
		c.Release()
		return nil, err
	}
	return &releasingTx{Tx: tx, conn: c}, nil
}

// releasingTx gives its connection back to the pool when it ends, as
// pgxpool's own transactions do.
type releasingTx struct {
	pgx.Tx
	conn *pgxpool.Conn
}

func (t *releasingTx) Commit(ctx context.Context) error {
	err := t.Tx.Commit(ctx)
	t.release()
	return err
}

func (t *releasingTx) Rollback(ctx context.Context) error {
	err := t.Tx.Rollback(ctx)
	t.release()
	return err
}

func (t *releasingTx) release() {
	if t.conn != nil {
		t.conn.Release()
		t.conn = nil
	}
}

// beginSQL is pgx's own BEGIN for o (TxOptions.beginSQL is unexported).
func beginSQL(o pgx.TxOptions) string {
	if o.BeginQuery != "" {
		return o.BeginQuery
	}
	var b strings.Builder
	b.WriteString("BEGIN")
	if o.IsoLevel != "" {
		b.WriteString(" ISOLATION LEVEL " + string(o.IsoLevel))
	}
	if o.AccessMode != "" {
		b.WriteString(" " + string(o.AccessMode))
	}
	if o.DeferrableMode != "" {
		b.WriteString(" " + string(o.DeferrableMode))
	}
	return b.String()
}

// Exec runs one statement with the settings, in one round trip. It takes a
// single statement; statements that refuse a transaction block (VACUUM,
// CREATE INDEX CONCURRENTLY) fail here: run them on Pool.Pool.
func (p *Pool) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if p.get == "" {
		return p.Pool.Exec(ctx, sql, args...)
	}
	br := p.SendBatch(ctx, one(sql, args))
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return tag, err
}

// Query runs one query with the settings, in one round trip. The rows hold a
// connection until they are closed or read to the end, as pgx's own do; on
// an error the connection is already given back.
func (p *Pool) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if p.get == "" {
		return p.Pool.Query(ctx, sql, args...)
	}
	br := p.SendBatch(ctx, one(sql, args))
	rows, err := br.Query()
	r := &batchRows{Rows: rows, batch: br}
	if err != nil {
		r.Close()
	}
	return r, err
}

// QueryRow runs one query with the settings, in one round trip, when its row
// is scanned.
func (p *Pool) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if p.get == "" {
		return p.Pool.QueryRow(ctx, sql, args...)
	}
	return batchRow{p: p, ctx: ctx, sql: sql, args: args}
}

// SendBatch sends b with the settings queued in front of its queries: still
// one round trip, and one implicit transaction up to the batch's Sync. The
// results are b's, in b's order.
func (p *Pool) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if p.get == "" {
		return p.Pool.SendBatch(ctx, b)
	}
	c, err := p.Pool.Acquire(ctx)
	if err != nil {
		return acquireFailed{err: err}
	}
	if p.carries(c.Conn()) {
		return &releasingBatch{BatchResults: c.Conn().SendBatch(ctx, b), conn: c}
	}
	withSettings := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, len(b.QueuedQueries)+1)}
	withSettings.Queue(p.get)
	withSettings.QueuedQueries = append(withSettings.QueuedQueries, b.QueuedQueries...)
	br := &releasingBatch{BatchResults: c.Conn().SendBatch(ctx, withSettings), conn: c}
	if _, err := br.Exec(); err != nil {
		return failedBatch{BatchResults: br, err: fmt.Errorf("apply settings: %w", err)}
	}
	return br
}

// releasingBatch gives its connection back to the pool when it is closed,
// as pgxpool's own batches do.
type releasingBatch struct {
	pgx.BatchResults
	conn *pgxpool.Conn
}

func (b *releasingBatch) Close() error {
	err := b.BatchResults.Close()
	if b.conn != nil {
		b.conn.Release()
		b.conn = nil
	}
	return err
}

// acquireFailed is a batch that never got a connection: every result is
// that error.
type acquireFailed struct{ err error }

func (a acquireFailed) Exec() (pgconn.CommandTag, error) { return pgconn.CommandTag{}, a.err }
func (a acquireFailed) Query() (pgx.Rows, error)         { return errRows{err: a.err}, a.err }
func (a acquireFailed) QueryRow() pgx.Row                { return errRow{err: a.err} }
func (a acquireFailed) Close() error                     { return a.err }

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// errRows is rows that failed before the first: pgx's own are unexported.
type errRows struct{ err error }

func (errRows) Close()                                       {}
func (r errRows) Err() error                                 { return r.err }
func (errRows) CommandTag() pgconn.CommandTag                { return pgconn.CommandTag{} }
func (errRows) FieldDescriptions() []pgconn.FieldDescription { return nil }
func (errRows) Next() bool                                   { return false }
func (r errRows) Scan(...any) error                          { return r.err }
func (r errRows) Values() ([]any, error)                     { return nil, r.err }
func (errRows) RawValues() [][]byte                          { return nil }
func (errRows) Conn() *pgx.Conn                              { return nil }

func one(sql string, args []any) *pgx.Batch {
	b := &pgx.Batch{}
	b.Queue(sql, args...)
	return b
}

type batchRow struct {
	p    *Pool
	ctx  context.Context
	sql  string
	args []any
}

func (r batchRow) Scan(dest ...any) error {
	br := r.p.SendBatch(r.ctx, one(r.sql, r.args))
	err := br.QueryRow().Scan(dest...)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return err // pgx.ErrNoRows as is: callers test for it
}

// batchRows releases the batch (and its connection) once the rows are done,
// and reports an error the batch's end brought.
type batchRows struct {
	pgx.Rows
	batch  pgx.BatchResults
	closed bool
	err    error
}

func (r *batchRows) Next() bool {
	if r.Rows.Next() {
		return true
	}
	r.Close()
	return false
}

func (r *batchRows) Close() {
	if r.closed {
		return
	}
	r.closed = true
	r.Rows.Close()
	if err := r.batch.Close(); err != nil {
		r.err = err
	}
}

func (r *batchRows) Err() error {
	if err := r.Rows.Err(); err != nil {
		return err
	}
	return r.err
}

// failedBatch is a batch whose settings failed: every result reports that
// error (having read its own, so that the batch's end is still read).
type failedBatch struct {
	pgx.BatchResults
	err error
}

func (f failedBatch) Exec() (pgconn.CommandTag, error) {
	f.BatchResults.Exec() //nolint:errcheck // f.err is the cause
	return pgconn.CommandTag{}, f.err
}

func (f failedBatch) Query() (pgx.Rows, error) {
	rows, _ := f.BatchResults.Query()
	return rows, f.err
}

func (f failedBatch) QueryRow() pgx.Row { return failedRow{f.BatchResults.QueryRow(), f.err} }

func (f failedBatch) Close() error {
	f.BatchResults.Close() //nolint:errcheck // f.err is the cause
	return f.err
}

type failedRow struct {
	pgx.Row
	err error
}

func (r failedRow) Scan(dest ...any) error {
	r.Row.Scan(dest...) //nolint:errcheck // r.err is the cause
	return r.err
}
