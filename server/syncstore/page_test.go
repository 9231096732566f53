package syncstore

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/syncproxy/syncproxy/gen/db"
	"github.com/syncproxy/syncproxy/wire"
)

// TestPage_WrittenAsEncodedReleasedAndReused: a page's rows are encoded
// straight into buffers that Release hands to the next page. Each page, the
// next one on a reused buffer included, is exactly its own rows, as valid
// JSON of the length Len announced (the response's Content-Length), and a
// row the byte budget refuses leaves no trace in it.
func TestPage_WrittenAsEncodedReleasedAndReused(t *testing.T) {
	now := wire.NewTimestamp(time.Date(2025, 1, 15, 12, 0, 0, 0, time.UTC))
	items, _ := tableNamed("costbook_items")
	rowsOf := func(round, n int) []db.CostbookItem {
		rows := make([]db.CostbookItem, n)
		for i := range rows {
			rows[i] = db.CostbookItem{ID: uuid.New(), Name: fmt.Sprintf("round %d item %d", round, i), CreatedAt: now, UpdatedAt: now, SyncSeq: int64(i + 1)}
		}
		return rows
	}
	for round := range 5 {
		rows := rowsOf(round, 3+round)
		// Room for all but the last row: the budget refuses it.
		one, _ := json.Marshal(&rows[0])
		page := newPage(now, (len(one)+1)*(len(rows)-1)+len(rows)/2)
		r := read{limit: len(rows), budget: &page.budget}
		taken, _, more, err := collect(rows, nil, r, &page.tables[items.ordinal], func(x *db.CostbookItem) rowKey { return rowKey{x.SyncSeq, x.ID, false} })
		if err != nil || taken != len(rows)-1 || !more {
			t.Fatalf("round %d: collect took %d of %d rows, more %v, %v; want all but the last, more", round, taken, len(rows), more, err)
		}
		var out bytes.Buffer
		n, err := page.WriteTo(&out)
		if err != nil || n != int64(out.Len()) || n != page.Len() {
			t.Fatalf("round %d: wrote %d bytes (%d in the buffer, Len %d), %v", round, n, out.Len(), page.Len(), err)
		}
		var decoded struct {
			CostbookItems []db.CostbookItem `json:"costbook_items"`
		}
		if err := json.Unmarshal(out.Bytes(), &decoded); err != nil {
			t.Fatalf("round %d: the page is not JSON: %v\n%s", round, err, out.Bytes())
		}
		if len(decoded.CostbookItems) != len(rows)-1 {
			t.Fatalf("round %d: %d rows on the page, want %d", round, len(decoded.CostbookItems), len(rows)-1)
		}
		for i, got := range decoded.CostbookItems {
			if got.ID != rows[i].ID || got.Name != rows[i].Name {
				t.Fatalf("round %d: row %d is %s %q, want %s %q", round, i, got.ID, got.Name, rows[i].ID, rows[i].Name)
			}
		}
		page.Release()
	}
}
