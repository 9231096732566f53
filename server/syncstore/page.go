package syncstore

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strconv"
	"sync"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/syncproxy/syncproxy/gen/api"
	"github.com/syncproxy/syncproxy/gen/db"
	"github.com/syncproxy/syncproxy/wire"
)

// Page is one pull response, its rows already encoded: a page is bounded in
// bytes as well as rows, so each row is encoded once, as it is read, into its
// table's buffer, and the page ends early (hasMore) when the next row would
// not fit (it always holds at least one row).
type Page struct {
	serverTime api.Timestamp
	cursor     string
	hasMore    bool
	walk       walkSpan    // set when the page ends its walk (!hasMore)
	tables     []tablePage // by ordinal
	budget     pageBudget
}

// tablePage is one table's part of a page.
type tablePage struct {
	rows    *rowBuffer // encoded live rows, comma-separated; nil until the first
	n       int
	deleted []uuid.UUID
}

// rowBuffer is a table's encoded rows and the encoder that writes them,
// reused from page to page (Page.Release): growing a fresh buffer to a
// page's size on every pull cleared and copied it over and over (a sixth of
// a full pull's CPU in the server, make bench's profile of issue 23).
type rowBuffer struct {
	bytes.Buffer
	enc *json.Encoder
}

var rowBuffers = sync.Pool{New: func() any {
	b := &rowBuffer{}
	b.enc = wire.NewJSONEncoder(&b.Buffer)
	return b
}}

// maxPooledRowBuffer: a buffer that grew past this (a page of huge rows) is
// left to the collector rather than kept for the next page.
const maxPooledRowBuffer = 16 << 20

// encode appends row's JSON to the table's rows when the page's budget
// admits it (its bytes and a comma), and reports whether it did. The row is
// encoded straight into the table's buffer, not into one of its own first.
// more is how many rows are expected after this one: the first row's size
// sizes the buffer for them once, instead of doubling it a dozen times.
func (t *tablePage) encode(row any, budget *pageBudget, more int) (bool, error) {
	if t.rows == nil {
		t.rows = rowBuffers.Get().(*rowBuffer)
	}
	start := t.rows.Len()
	if t.n > 0 {
		t.rows.WriteByte(',')
	}
	at := t.rows.Len()
	if err := t.rows.enc.Encode(row); err != nil {
		t.rows.Truncate(start)
		return false, err
	}
	t.rows.Truncate(t.rows.Len() - 1) // the encoder's newline
	if !budget.admit(t.rows.Len() - at + 1) {
		t.rows.Truncate(start)
		return false, nil
	}
	t.n++
	if t.n == 1 && more > 0 {
		want := (t.rows.Len() + 1) * more * 9 / 8
		if budget.max > 0 {
			want = min(want, budget.max-budget.used)
		}
		if want > t.rows.Available() {
			t.rows.Grow(want)
		}
	}
	return true, nil
}

func (t *tablePage) encoded() []byte {
	if t.rows == nil {
		return nil
	}
	return t.rows.Bytes()
}

func newPage(serverTime api.Timestamp, maxBytes int) *Page {
	return &Page{serverTime: serverTime, tables: make([]tablePage, len(tables)), budget: pageBudget{max: maxBytes}}
}

// Release gives the page's buffers back for the next page; the page is
// empty afterwards. Call it once the page is written.
func (p *Page) Release() {
	for i := range p.tables {
		t := &p.tables[i]
		if t.rows != nil && t.rows.Cap() <= maxPooledRowBuffer {
			t.rows.Reset()
			rowBuffers.Put(t.rows)
		}
		*t = tablePage{}
	}
}

// Cursor, HasMore and ServerTime are the page's envelope fields.
func (p *Page) Cursor() string              { return p.cursor }
func (p *Page) HasMore() bool               { return p.hasMore }
func (p *Page) ServerTime() api.Timestamp   { return p.serverTime }
func (p *Page) rowsOf(table int) (int, int) { return p.tables[table].n, len(p.tables[table].deleted) }

// walkSpan is the versions a complete walk delivered: every change after
// base (noneDelivered: from nothing) up to horizon.
type walkSpan struct {
	base, horizon int64
}

// Delivered is, for a page that ended its walk (hasMore false), the version
// the device now holds every change up to (the walk's horizon), and how many
// versions it was behind when the walk began (all of them for a walk from
// nothing). ok is false for a page with more to come.
func (p *Page) Delivered() (version, behind int64, ok bool) {
	if p.hasMore {
		return 0, 0, false
	}
	return p.walk.horizon, p.walk.horizon - max(0, p.walk.base), true
}

// Version is, for a page without more (HasMore false), the version of the
// contractor's changes it delivered up to; a live pull waits for a later one.
func (p *Page) Version() int64 { return p.walk.horizon }

// Empty says whether the page brings nothing: no row, no tombstone, no more.
func (p *Page) Empty() bool {
	if p.hasMore {
		return false
	}
	for i := range p.tables {
		if p.tables[i].n > 0 || len(p.tables[i].deleted) > 0 {
			return false
		}
	}
	return true
}

// EmptyPage is the page of nothing new with cursor and serverTime, which
// delivered up to version: what a held pull answers when its time runs out
// (the cursor is still good).
func EmptyPage(cursor string, serverTime api.Timestamp, version int64) *Page {
	p := newPage(serverTime, 0)
	p.cursor = cursor
	p.walk = walkSpan{base: version, horizon: version}
	return p
}

// Outcomes counts the page's live rows and tombstones per table.
func (p *Page) Outcomes() []TableOutcome {
	out := make([]TableOutcome, len(tables))
	for i, t := range tables {
		live, deleted := p.rowsOf(i)
		out[i] = TableOutcome{Table: t.name, Upserted: live, Deleted: deleted}
	}
	return out
}

// WriteTo writes the page as the contract's SyncPullResponse: every table's
// array, present and empty when it has no rows, and every deletable table in
// `deleted`. Each table's rows go out from the buffer they were encoded into
// as they were read: assembling the body in one buffer first copied every
// byte of the page once more (a 1,000-row page is ~400 KB) and held two
// copies of it at once.
func (p *Page) WriteTo(w io.Writer) (int64, error) {
	pw := pageWriter{w: w}
	pw.str(`{"ok":true,"serverTime":`)
	ts, _ := json.Marshal(p.serverTime)
	pw.bytes(ts)
	pw.str(`,"cursor":`)
	pw.str(strconv.Quote(p.cursor)) // base64url: nothing to escape
	pw.str(`,"hasMore":`)
	pw.str(strconv.FormatBool(p.hasMore))
	for i, t := range tables {
		pw.str(`,"` + t.name + `":[`)
		pw.bytes(p.tables[i].encoded())
		pw.str(`]`)
	}
	pw.str(`,"deleted":{`)
	first := true
	for i, t := range tables {
		if !t.deletable {
			continue
		}
		if !first {
			pw.str(`,`)
		}
		first = false
		pw.str(`"` + t.name + `":[`)
		for j, id := range p.tables[i].deleted {
			if j > 0 {
				pw.str(`,`)
			}
			pw.str(`"` + id.String() + `"`)
		}
		pw.str(`]`)
	}
	pw.str("}}\n")
	return pw.n, pw.err
}

// Len is the number of bytes WriteTo writes (the response's Content-Length).
func (p *Page) Len() int64 {
	n, _ := p.WriteTo(io.Discard)
	return n
}

// pageWriter writes the pieces of a page and keeps the count and the first
// error.
type pageWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (pw *pageWriter) bytes(b []byte) {
	if pw.err != nil || len(b) == 0 {
		return
	}
	n, err := pw.w.Write(b)
	pw.n += int64(n)
	pw.err = err
}

func (pw *pageWriter) str(s string) {
	if pw.err != nil {
		return
	}
	n, err := io.WriteString(pw.w, s)
	pw.n += int64(n)
	pw.err = err
}

// pageBudget bounds a page in bytes: the JSON it holds, and on the way in,
// the bytes its queries may bring into memory (a table's LIMIT alone would
// let a page of large rows hold gigabytes).
type pageBudget struct {
	max  int  // bytes of encoded rows one page may hold; <= 0: unbounded
	used int  // bytes of encoded rows taken
	rows int  // rows and tombstones taken
	cut  bool // a query stopped early because the page was full
}

// admit takes n bytes for one more row, unless the page already holds a row
// and n would overflow it.
func (b *pageBudget) admit(n int) bool {
	if b.max > 0 && b.rows > 0 && b.used+n > b.max {
		return false
	}
	b.used += n
	b.rows++
	return true
}

// limit wraps a connection so that the rows a query returns stop once their
// raw size would overflow what the page has left: the generated queries
// collect every row they are sent, and the rest of the result is discarded
// row by row as the query is closed, never held.
func (b *pageBudget) limit(conn db.DBTX) db.DBTX {
	if b.max <= 0 {
		return conn
	}
	return &budgetedConn{DBTX: conn, budget: b}
}

type budgetedConn struct {
	db.DBTX
	budget *pageBudget
}

func (c *budgetedConn) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	rows, err := c.DBTX.Query(ctx, sql, args...)
	if err != nil {
		return rows, err
	}
	return &budgetedRows{Rows: rows, budget: c.budget}, nil
}

type budgetedRows struct {
	pgx.Rows
	budget *pageBudget
	read   int // raw bytes of the rows returned so far
	n      int
}

func (r *budgetedRows) Next() bool {
	if !r.Rows.Next() {
		return false
	}
	size := 0
	for _, v := range r.Rows.RawValues() {
		size += len(v)
	}
	left := r.budget.max - r.budget.used
	if (r.budget.rows > 0 || r.n > 0) && r.read+size > left {
		r.budget.cut = true
		return false
	}
	r.read += size
	r.n++
	return true
}
