package bench

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/syncproxy/syncproxy/gen/api"
	"github.com/syncproxy/syncproxy/gen/db"
	"github.com/syncproxy/syncproxy/server/pgtx"
	"github.com/syncproxy/syncproxy/server/syncstore"
)

// The raw side is the physical limit: the server's own generated statements,
// driven directly with pgx, without HTTP, auth, validation or decoding.

// rawPush does in one transaction exactly what a push does in the database:
// advance the contractor's clock, then the set-based upsert of the rows.
func rawPush(ctx context.Context, pool *pgtx.Pool, contractorID uuid.UUID, rows json.RawMessage) (int64, error) {
	var n int64
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		q := db.New(tx)
		clock, err := q.AdvanceClock(ctx, db.AdvanceClockParams{ContractorID: contractorID, Tables: []string{"costbook_items"}})
		if err != nil {
			return fmt.Errorf("advance clock: %w", err)
		}
		n, err = q.UpsertCostbookItems(ctx, db.UpsertCostbookItemsParams{
			ContractorID: contractorID, Now: clock.Now, Seq: clock.Seq, Rows: rows,
		})
		return err
	})
	return n, err
}

// endOfTable sorts after every id, as the server's cursor does.
var endOfTable = uuid.UUID{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// rawPull is a full pull of contractorID's costbook items with the server's
// paging (read the clock, then pages of limit rows in (sync_seq, id) order,
// fetching one more to learn whether more remain), each page encoded as the
// server's response type. It returns the rows read, the pages and the bytes
// encoded.
func rawPull(ctx context.Context, pool *pgtx.Pool, contractorID uuid.UUID, limit int) (rows, pages int, encoded int64, err error) {
	q := db.New(pool)
	clock, err := q.ReadClock(ctx, contractorID)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("read clock: %w", err)
	}
	afterSeq, afterID := int64(-1), endOfTable
	for {
		items, err := q.PullCostbookItems(ctx, db.PullCostbookItemsParams{
			ContractorID: contractorID, Horizon: clock.Seq, AfterSeq: afterSeq, AfterID: afterID,
			MaxRows: int32(limit + 1),
		})
		if err != nil {
			return rows, pages, encoded, fmt.Errorf("pull costbook_items: %w", err)
		}
		more := len(items) > limit
		if more {
			items = items[:limit]
		}
		page := emptyPage(clock.Now)
		page["costbook_items"], page["hasMore"] = items, more
		b, err := json.Marshal(page)
		if err != nil {
			return rows, pages, encoded, fmt.Errorf("encode page: %w", err)
		}
		rows, pages, encoded = rows+len(items), pages+1, encoded+int64(len(b))
		if !more || len(items) == 0 {
			return rows, pages, encoded, nil
		}
		last := items[len(items)-1]
		afterSeq, afterID = last.SyncSeq, last.ID
	}
}

// emptyPage is a pull response with every table of the registry present and
// empty, as the server's pages are.
func emptyPage(now api.Timestamp) map[string]any {
	page := map[string]any{"ok": true, "serverTime": now, "cursor": "raw", "hasMore": false}
	deleted := map[string]any{}
	for _, t := range syncstore.Tables() {
		page[t.Name] = []struct{}{}
		if t.Deletable {
			deleted[t.Name] = []uuid.UUID{}
		}
	}
	page["deleted"] = deleted
	return page
}
