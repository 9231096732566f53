package syncstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/syncproxy/syncproxy/gen/api"
	"github.com/syncproxy/syncproxy/gen/db"
	"github.com/syncproxy/syncproxy/wire"
)

// PullRequest is a pull's query, already validated against the spec.
type PullRequest struct {
	Cursor string
	Since  *time.Time
	Limit  int      // rows per page
	Tables []string // empty: all tables
	// MinVersion is a version the page must see, besides the cursor's: a
	// held pull woken by the push of version V sets V, so that a replica
	// that has not replayed V does not answer it with nothing new. 0: none.
	MinVersion int64
	// Current: the page must hold every change committed before the
	// request came (a live pull then waits for later ones only, which wake
	// it): a replica serves it only once it has replayed the primary's
	// version as it was then (one read of the clock row on the primary).
	Current bool
}

// Pull returns one page of contractorID's rows.
//
// Why it cannot miss a change: a walk first reads the contractor's clock with
// FOR SHARE, which waits for any push still in flight; every push holds the
// clock row lock until it commits and gets the next seq. So when the clock
// reads N, every change with seq <= N has committed and no change with seq <=
// N can still appear. The walk delivers (Base, N] table by table; the next
// walk starts at Base = N. A row rewritten during a walk gets a seq > N and
// comes in the next walk (delivered twice at worst, never zero times).
//
// Why a delta with nothing new is one statement: the clock row also holds,
// per table, the seq of the last push that wrote it (read in the same row
// version as N), and a walk visits only the tables changed after Base.
func (s *Store) Pull(ctx context.Context, contractorID uuid.UUID, req PullRequest) (*Page, error) {
	want, err := requestedTables(req.Tables)
	if err != nil {
		return nil, err
	}
	c, err := startingCursor(req, want)
	if err != nil {
		return nil, err
	}
	if req.Current && len(s.replicas.Candidates()) > 0 {
		if primary, err := db.New(s.pool).PeekClock(ctx, contractorID); err == nil {
			req.MinVersion = max(req.MinVersion, primary.Seq)
		} // else the primary's own path reports it
	}
	if page, served, err := s.pullFromReplica(ctx, contractorID, req, c); served {
		return page, err
	}
	page, err := s.pullFromPrimary(ctx, contractorID, req, c)
	if err == nil {
		s.replicas.Served(opPull, Primary)
	}
	return page, err
}

// pullFromPrimary reads the page on the primary: see Pull.
func (s *Store) pullFromPrimary(ctx context.Context, contractorID uuid.UUID, req PullRequest, c cursor) (*Page, error) {
	// Each read is its own implicit transaction with the statement timeout
	// (server/pgtx): nothing holds a connection between them, so a pull
	// works behind a transaction pooler.
	q := db.New(s.pool)

	if !c.Paging {
		clock, err := q.ReadClock(ctx, contractorID)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("pull: contractor %s has no sync clock", contractorID)
		}
		if err != nil {
			return nil, fmt.Errorf("pull: read clock: %w", err)
		}
		if c.Base > clock.Seq {
			return nil, errFutureCursor
		}
		if err := c.stillKnown(clock.PurgedSeq, clock.PurgedAt, startedFrom(req)); err != nil {
			return nil, err
		}
		changed, err := changedTables(clock.TableSeqs, c.Base)
		if err != nil {
			return nil, fmt.Errorf("pull: %w", err)
		}
		c = c.startWalk(clock.Seq, clock.Now.UnixMicro(), changed)
	} else {
		// A later page of a walk: a purge may have removed tombstones of
		// the walk since its first page.
		marks, err := q.PeekClock(ctx, contractorID)
		if err != nil {
			return nil, fmt.Errorf("pull: read purge marks: %w", err)
		}
		if c.Horizon > marks.Seq {
			return nil, errFutureCursor
		}
		if err := c.stillKnown(marks.PurgedSeq, marks.PurgedAt, startedFrom(req)); err != nil {
			return nil, err
		}
	}
	return s.walk(ctx, s.pool, contractorID, c, req.Limit)
}

// walk reads the page of c on conn: up to limit rows of the tables c still
// has to walk, from where it stands up to its horizon.
func (s *Store) walk(ctx context.Context, conn db.DBTX, contractorID uuid.UUID, c cursor, limit int) (*Page, error) {
	page := newPage(wire.NewTimestamp(microsTime(c.At)), s.maxPageBytes)
	var since *api.Timestamp
	if c.Since != 0 {
		t := wire.NewTimestamp(microsTime(c.Since))
		since = &t
	}
	remaining := limit
	for i := c.Table; i < len(tables); i++ {
		if !c.Walk.has(i) {
			continue
		}
		r := read{contractorID: contractorID, horizon: c.Horizon, afterSeq: c.Base, afterID: endOfTable,
			withDeleted: true, since: since, limit: remaining, budget: &page.budget}
		if c.Full.has(i) {
			r.afterSeq, r.withDeleted = noneDelivered, false
		}
		if i == c.Table {
			r.afterSeq, r.afterID = c.Seq, c.ID
		}
		if r.afterSeq > r.horizon || (r.afterSeq == r.horizon && r.afterID == endOfTable) {
			continue // nothing of this table lies in (after, horizon]
		}
		t := &tables[i]
		taken, last, more, err := t.pull(ctx, db.New(page.budget.limit(conn)), r, &page.tables[i])
		if err != nil {
			return nil, fmt.Errorf("pull %s: %w", t.name, err)
		}
		remaining -= taken
		if more || page.budget.cut {
			next := c
			next.Table, next.Seq, next.ID = i, r.afterSeq, r.afterID
			if taken > 0 {
				next.Seq, next.ID = last.seq, last.id
			}
			page.hasMore, page.cursor = true, next.encode()
			return page, nil
		}
	}
	page.cursor = cursor{Base: c.Horizon, Tables: c.Tables}.encode()
	page.walk = walkSpan{base: c.Base, horizon: c.Horizon}
	return page, nil
}

// startedFrom names the parameter a pull's walk starts from.
func startedFrom(req PullRequest) string {
	if req.Cursor == "" {
		return "since"
	}
	return "cursor"
}

// requestedTables is the set of the tables a pull asks for (all when none).
func requestedTables(names []string) (tableSet, error) {
	var set tableSet
	if len(names) == 0 {
		for i := range tables {
			set.add(i)
		}
		return set, nil
	}
	for _, name := range names {
		t, ok := tableNamed(name)
		if !ok {
			return nil, fmt.Errorf("pull: no table %q", name) // the spec's enum let it through: a wiring bug
		}
		set.add(t.ordinal)
	}
	return set, nil
}

func tableNamed(name string) (*table, bool) {
	for i := range tables {
		if tables[i].name == name {
			return &tables[i], true
		}
	}
	return nil, false
}

// startingCursor is where this request starts: the cursor it carries, or a
// full walk (no cursor), or a walk filtered by since. A cursor issued for
// other tables than asked for is accepted: tables it does not cover come in
// full, the others as a delta, so a server that gains a table (or an app
// that syncs one more) never strands a device.
func startingCursor(req PullRequest, want tableSet) (cursor, error) {
	if req.Cursor == "" {
		c := cursor{Base: noneDelivered, Tables: want}
		if req.Since != nil {
			c.Since = req.Since.UnixMicro()
		} else {
			c.Full = want
		}
		return c, nil
	}
	if req.Since != nil {
		return cursor{}, ErrCursorAndSince
	}
	c, err := decodeCursor(req.Cursor)
	if err != nil {
		return cursor{}, err
	}
	if c.Paging && !c.Tables.equal(want) {
		// A walk in progress for other tables: start over from its base,
		// which covers the tables it did not walk in full.
		c = cursor{Base: c.Base, Tables: c.Tables.minus(c.Full), Since: c.Since}
	}
	if !c.Paging {
		c.Full = want.minus(c.Tables)
		c.Tables = want
	}
	return c, nil
}

// errFutureCursor is a cursor past the versions this contractor has reached:
// issued for another contractor, or forged (contract 1.2: a 400).
var errFutureCursor = &BadCursor{Reason: "not a cursor this server issued for this contractor: it is ahead of its changes"}

// stillKnown says whether the server still keeps every deletion the walk
// must deliver: tombstones purged after the cursor's base (purgedSeq), or at
// or after its since (purgedAt), are gone, and a delta without them would
// silently keep deleted rows on the device (contract 1.1: 410). Every delta
// is checked one way or the other: a walk from before everything that is
// not in full carries a since (decodeCursor refuses it otherwise).
// param names what the walk came from: the request's cursor or its since.
func (c cursor) stillKnown(purgedSeq int64, purgedAt *api.Timestamp, param string) error {
	delta := c.Base != noneDelivered && !c.Tables.minus(c.Full).empty()
	if (delta && c.Base < purgedSeq) || (c.Since != 0 && purgedAt != nil && c.Since <= purgedAt.UnixMicro()) {
		return &ResyncRequired{Parameter: param}
	}
	return nil
}

// startWalk fixes a walk's horizon and the tables it visits: every table
// walked in full, and the others changed after Base (a since walk starts
// before everything, so it visits every table).
func (c cursor) startWalk(horizon, at int64, changed func(int) bool) cursor {
	c.Paging, c.Horizon, c.At = true, horizon, at
	c.Walk = nil
	for i := range c.Tables.members() {
		if i < len(tables) && (c.Full.has(i) || c.Base == noneDelivered || changed(i)) {
			c.Walk.add(i)
		}
	}
	c.Table, c.Seq, c.ID = 0, c.Base, endOfTable
	if first, ok := c.Walk.first(); ok {
		c.Table = first
		if c.Full.has(first) {
			c.Seq = noneDelivered
		}
	}
	return c
}

// changedTables reads the clock's per-table seqs: table i changed after base
// when the last push that wrote it has a greater seq. A table missing from
// the map has not been written since the map began (see migrations).
func changedTables(raw json.RawMessage, base int64) (func(int) bool, error) {
	var seqs map[string]int64
	if err := json.Unmarshal(raw, &seqs); err != nil {
		return nil, fmt.Errorf("decode sync_clock.table_seqs: %w", err)
	}
	return func(i int) bool { return seqs[tables[i].name] > base }, nil
}

func (s tableSet) equal(o tableSet) bool {
	for i := range max(len(s), len(o)) {
		var a, b uint64
		if i < len(s) {
			a = s[i]
		}
		if i < len(o) {
			b = o[i]
		}
		if a != b {
			return false
		}
	}
	return true
}

func (s tableSet) first() (int, bool) {
	for i := range s.members() {
		return i, true
	}
	return 0, false
}

// read is one table's slice of a page: rows with sync_seq in (after, horizon],
// continuing after (afterSeq, afterID) in (sync_seq, id) order.
type read struct {
	contractorID uuid.UUID
	horizon      int64
	afterSeq     int64
	afterID      uuid.UUID
	withDeleted  bool
	since        *api.Timestamp
	limit        int // rows wanted; one more is fetched to learn whether the table has more
	budget       *pageBudget
}

func (r read) maxRows() int32 { return int32(r.limit + 1) }

// position is the (sync_seq, id) of the last row a page took from a table.
type position struct {
	seq int64
	id  uuid.UUID
}

type rowKey struct {
	seq     int64
	id      uuid.UUID
	deleted bool
}

// collect moves up to r.limit rows into the page (live rows encoded into the
// table's array, tombstones into its deleted ids) until the page is full.
func collect[R any](rows []R, err error, r read, p *tablePage, key func(*R) rowKey) (int, position, bool, error) {
	if err != nil {
		return 0, position{}, false, err
	}
	more := len(rows) > r.limit
	if more {
		rows = rows[:r.limit]
	}
	var last position
	taken := 0
	for i := range rows {
		k := key(&rows[i])
		if k.deleted {
			if !r.budget.admit(len(`"00000000-0000-0000-0000-000000000000",`)) {
				return taken, last, true, nil
			}
			p.deleted = append(p.deleted, k.id)
		} else {
			ok, err := p.encode(&rows[i], r.budget, len(rows)-i-1)
			if err != nil {
				return taken, last, false, fmt.Errorf("encode row: %w", err)
			}
			if !ok {
				return taken, last, true, nil
			}
		}
		last = position{k.seq, k.id}
		taken++
	}
	return taken, last, more, nil
}
