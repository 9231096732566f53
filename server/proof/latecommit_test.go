package proof_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/syncproxy/syncproxy/gen/db"
	"github.com/syncproxy/syncproxy/internal/devicetest"
)

// naiveReader is the design this server must not have: remember the server's
// time of the last pull and ask for `updated_at > since` next time.
type naiveReader struct {
	contractorID uuid.UUID
	since        time.Time
}

// pull returns the ids of costbook_items changed since the last pull and moves
// since to now(), as a timestamp-cursor server would answer `serverTime`.
func (n *naiveReader) pull(t *testing.T) map[uuid.UUID]bool {
	t.Helper()
	ctx := context.Background()
	var serverTime time.Time
	if err := env.Pool.QueryRow(ctx, "SELECT now()").Scan(&serverTime); err != nil {
		t.Fatal(err)
	}
	rows, err := env.Pool.Query(ctx,
		"SELECT id FROM costbook_items WHERE contractor_id = $1 AND updated_at > $2", n.contractorID, n.since)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[uuid.UUID]bool{}
	for rows.Next() {
		var id uuid.UUID
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		got[id] = true
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	n.since = serverTime
	return got
}

// TestPull_CursorNeverMissesLateCommit_NaiveSinceDoes stages the interleaving
// that loses data with timestamp cursors, deterministically:
//
//  1. a push takes its timestamp and writes its row, but has not committed;
//  2. a reader pulls: the row is invisible (uncommitted), and the reader's new
//     `since` is later than the row's updated_at;
//  3. the push commits.
//
// A naive `updated_at > since` reader never sees that row: it committed "in
// the past" of a since that was already handed out. Our pull cannot miss it,
// because timestamps are not what it compares. A push takes the next value of
// the contractor's clock with an UPDATE of the sync_clock row and holds that
// row lock until it commits; a pull first reads the clock with FOR SHARE, which
// waits for the push in flight. So when a pull reads seq = N, every push with
// seq <= N has committed (its rows are visible to the pull's later statements)
// and every push that has not yet committed will get seq > N: it falls into
// the next walk. The late push above makes the pull wait, then is delivered.
// The same lock is why `since=serverTime` is safe too: serverTime is read
// under the share lock, and a later push reads its timestamp only after taking
// the lock, so it is always later than any serverTime already handed out.
func TestPull_CursorNeverMissesLateCommit_NaiveSinceDoes(t *testing.T) {
	ctx := context.Background()
	d := env.NewTenant(t)
	early := uuid.New()
	d.MustPush(map[string]any{"costbook_items": []map[string]any{{"id": early, "name": "early"}}})

	// Both readers are up to date before the late push begins.
	rest, err := d.Walk("", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	cursor, serverTime := rest[len(rest)-1].Cursor, rest[len(rest)-1].ServerTime
	naive := &naiveReader{contractorID: d.ContractorID}
	if got := naive.pull(t); !got[early] {
		t.Fatalf("naive reader: first pull lacks the early row: %v", got)
	}

	// 1. The late push: exactly what syncstore.Push does — advance the clock,
	// upsert with the clock's seq and time — with its commit held back.
	tx, err := env.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	q := db.New(tx)
	clock, err := q.AdvanceClock(ctx, db.AdvanceClockParams{ContractorID: d.ContractorID, Tables: []string{"costbook_items"}})
	if err != nil {
		t.Fatal(err)
	}
	late := uuid.New()
	rows, _ := json.Marshal([]map[string]any{{"id": late, "name": "late"}})
	if n, err := q.UpsertCostbookItems(ctx, db.UpsertCostbookItemsParams{
		ContractorID: d.ContractorID, Now: clock.Now, Seq: clock.Seq, Rows: rows,
	}); err != nil || n != 1 {
		t.Fatalf("late upsert: %d rows, %v", n, err)
	}

	// 2. Readers pull while it is open. The naive one answers at once, without it.
	if got := naive.pull(t); got[late] {
		t.Fatal("naive reader saw an uncommitted row")
	}
	type result struct {
		pages []devicetest.Page
		err   error
	}
	byCursor, bySince := make(chan result, 1), make(chan result, 1)
	go func() {
		pages, err := d.Walk(cursor, "", 0)
		byCursor <- result{pages, err}
	}()
	go func() {
		pages, err := d.Walk("", serverTime, 0)
		bySince <- result{pages, err}
	}()
	// Both real pulls must queue behind the late push's clock lock (visible
	// in pg_stat_activity); neither may answer while it is open.
	answeredEarly := func() error {
		for name, ch := range map[string]chan result{"cursor": byCursor, "since": bySince} {
			select {
			case r := <-ch:
				return fmt.Errorf("pull by %s answered while a push was in flight (holding the late row: %v): %v",
					name, pagesHold(r.pages, "costbook_items", late), r.err)
			default:
			}
		}
		return nil
	}
	env.AwaitLockWaiters(t, 2, "sync_clock", answeredEarly)
	if err := answeredEarly(); err != nil {
		t.Fatal(err)
	}

	// 3. The late push commits.
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	for name, ch := range map[string]chan result{"cursor": byCursor, "since": bySince} {
		r := <-ch
		if r.err != nil {
			t.Fatalf("pull by %s: %v", name, r.err)
		}
		if !pagesHold(r.pages, "costbook_items", late) {
			t.Fatalf("pull by %s missed the late-committing push", name)
		}
	}

	// The naive reader's since is already past the late row's updated_at: it
	// will never see a row that is committed and in the table.
	if got := naive.pull(t); got[late] {
		t.Fatal("naive reader saw the late row; the interleaving was not staged")
	}
	var committed bool
	if err := env.Pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM costbook_items WHERE contractor_id = $1 AND id = $2)",
		d.ContractorID, late).Scan(&committed); err != nil || !committed {
		t.Fatalf("late row committed = %v, %v", committed, err)
	}
	if got := naive.pull(t); len(got) != 0 {
		t.Fatalf("naive reader: nothing changed, got %v", got)
	}
}

func pagesHold(pages []devicetest.Page, table string, id uuid.UUID) bool {
	for _, p := range pages {
		for _, row := range p.Rows[table] {
			if row["id"] == id.String() {
				return true
			}
		}
	}
	return false
}
