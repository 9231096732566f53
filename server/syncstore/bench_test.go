package syncstore

import (
	"encoding/json"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/syncproxy/syncproxy/gen/api"
	"github.com/syncproxy/syncproxy/gen/db"
	"github.com/syncproxy/syncproxy/internal/contract"
	"github.com/syncproxy/syncproxy/server/pushbody"
	"github.com/syncproxy/syncproxy/wire"
	"github.com/syncproxy/syncproxy/wire/push"
)

// The hot paths of a sync without the database: planning a decoded 1,000-row
// push (dedupe and the JSON array its statement reads), and encoding a
// 1,000-row page. Decoding the body is measured in server/pushbody.

const benchRows = 1000

// benchDuplicates rows of a push repeat an earlier id, so dedupe has work.
const benchDuplicates = 50

func BenchmarkPlanPush_1000(b *testing.B) {
	body := decodeBench(b, benchPushBody(b))
	contractorID := uuid.New()
	b.ReportAllocs()
	for b.Loop() {
		p, err := planPush(contractorID, body)
		if err != nil {
			b.Fatal(err)
		}
		if u := p.upserts[0]; len(u.order) != benchRows-benchDuplicates || u.deduped != benchDuplicates {
			b.Fatalf("planned %d rows, %d deduped; want %d, %d", len(u.order), u.deduped, benchRows-benchDuplicates, benchDuplicates)
		}
	}
}

// BenchmarkEncodePullPage_1000 is a full 1,000-row page of costbook_items:
// each row encoded as it is collected, then the page written.
func BenchmarkEncodePullPage_1000(b *testing.B) {
	now := wire.NewTimestamp(time.Date(2025, 1, 15, 12, 0, 0, 0, time.UTC))
	contractorID := uuid.New()
	rows := make([]db.CostbookItem, benchRows)
	for i := range rows {
		desc, unit, sku := fmt.Sprintf("Gypsum board, moisture resistant, item %d", i), "ea", fmt.Sprintf("DW-%06d", i)
		cost, markup := wire.Decimal(fmt.Sprintf("%d.50", i)), wire.Decimal("15.5")
		rows[i] = db.CostbookItem{
			ContractorID: contractorID, ID: uuid.New(), Name: fmt.Sprintf("Drywall sheet #%d", i),
			Description: &desc, Unit: &unit, UnitCost: &cost, MarkupPercent: &markup, Sku: &sku,
			Taxable: i%2 == 0, CreatedAt: now, UpdatedAt: now, SyncSeq: int64(i),
		}
	}
	items, _ := tableNamed("costbook_items")
	b.ReportAllocs()
	var n int64
	for b.Loop() {
		page := newPage(now, 8<<20)
		r := read{limit: benchRows, budget: &page.budget}
		if _, _, _, err := collect(rows, nil, r, &page.tables[items.ordinal], func(x *db.CostbookItem) rowKey {
			return rowKey{x.SyncSeq, x.ID, false}
		}); err != nil {
			b.Fatal(err)
		}
		page.hasMore, page.cursor = true, cursor{Base: 1, Paging: true, Horizon: 10, Table: 2, Seq: 5, ID: uuid.New()}.encode()
		var err error
		if n, err = page.WriteTo(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(n)
}

// benchPushBody is a push of benchRows costbook_items, the last
// benchDuplicates of which repeat earlier ids.
func benchPushBody(b *testing.B) []byte {
	rows := make([]map[string]any, benchRows)
	for i := range rows {
		id := uuid.New()
		if i >= benchRows-benchDuplicates {
			id = rows[i-(benchRows-benchDuplicates)]["id"].(uuid.UUID)
		}
		name, desc, unit := fmt.Sprintf("Drywall sheet #%d", i), fmt.Sprintf("Gypsum board, moisture resistant, item %d", i), "ea"
		cost, markup, sku, taxable := fmt.Sprintf("%d.50", i), "15.5", fmt.Sprintf("DW-%06d", i), i%2 == 0
		rows[i] = map[string]any{"id": id, "name": name, "description": desc, "unit": unit,
			"unit_cost": cost, "markup_percent": markup, "sku": sku, "taxable": taxable}
	}
	body, err := json.Marshal(map[string]any{"costbook_items": rows})
	if err != nil {
		b.Fatal(err)
	}
	return body
}

func decodeBench(tb testing.TB, body []byte) *push.Body {
	doc, err := api.GetSwagger()
	if err != nil {
		tb.Fatal(err)
	}
	dec, err := pushbody.Compile(contract.FromDoc(doc), pushbody.Limits{MaxRows: 10000, MaxJSONValueBytes: 1 << 20})
	if err != nil {
		tb.Fatal(err)
	}
	var out push.Body
	if err := dec.DecodeBytes(body, &out); err != nil {
		tb.Fatal(err)
	}
	return &out
}
