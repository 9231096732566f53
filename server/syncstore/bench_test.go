package syncstore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/syncproxy/syncproxy/gen/api"
	"github.com/syncproxy/syncproxy/gen/db"
	"github.com/syncproxy/syncproxy/server/middleware"
	"github.com/syncproxy/syncproxy/wire"
)

// The hot paths of a sync without the database: what the server spends on a
// 1,000-row push before its transaction, and on encoding a 1,000-row page.

const benchRows = 1000

// benchDuplicates rows of a push repeat an earlier id, so dedupe has work.
const benchDuplicates = 50

// BenchmarkPushPath_1000 is a push of 1,000 costbook_items up to its
// transaction. "all" runs the real chain without auth and the database: Echo,
// spec validation, the generated strict handler's bind, planPush (dedupe,
// last wins, and the re-encode of the rows for jsonb_to_recordset) and the
// response; the other sub-benchmarks are its parts.
func BenchmarkPushPath_1000(b *testing.B) {
	body := benchPushBody(b)
	validate, err := middleware.ValidateRequests()
	if err != nil {
		b.Fatal(err)
	}
	contractorID := uuid.New()
	request := func() *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/api/sync/push", bytes.NewReader(body))
		r.Header.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
		return r
	}
	checkPlan := func(b *testing.B, p pushPlan) {
		if u := p.upserts[2]; u.count != benchRows-benchDuplicates || u.deduped != benchDuplicates {
			b.Fatalf("planned %d rows, %d deduped; want %d, %d", u.count, u.deduped, benchRows-benchDuplicates, benchDuplicates)
		}
	}
	e := echo.New()

	b.Run("validate", func(b *testing.B) {
		h := validate(func(echo.Context) error { return nil })
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			if err := h(e.NewContext(request(), httptest.NewRecorder())); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("bind", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			var req api.SyncPushRequest
			if err := new(echo.DefaultBinder).BindBody(e.NewContext(request(), httptest.NewRecorder()), &req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("plan", func(b *testing.B) {
		var req api.SyncPushRequest
		if err := json.Unmarshal(body, &req); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			p, err := planPush(contractorID, req)
			if err != nil {
				b.Fatal(err)
			}
			checkPlan(b, p)
		}
	})
	b.Run("all", func(b *testing.B) {
		e := echo.New()
		e.Use(validate)
		api.RegisterHandlers(e, api.NewStrictHandler(planOnly{b: b, contractorID: contractorID, check: checkPlan}, nil))
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, request())
			if rec.Code != http.StatusOK {
				b.Fatalf("status %d: %s", rec.Code, rec.Body.String())
			}
		}
	})
}

// planOnly is a strict server whose push plans and answers without a database.
type planOnly struct {
	api.StrictServerInterface // nil: only PushChanges is called
	b                         *testing.B
	contractorID              uuid.UUID
	check                     func(*testing.B, pushPlan)
}

func (s planOnly) PushChanges(_ context.Context, req api.PushChangesRequestObject) (api.PushChangesResponseObject, error) {
	p, err := planPush(s.contractorID, *req.Body)
	if err != nil {
		return nil, err
	}
	s.check(s.b, p)
	return api.PushChanges200JSONResponse{Body: emptyPushResponse(wire.NewTimestamp(time.Now()))}, nil
}

// BenchmarkEncodePullPage_1000 is the JSON encoding of a full 1,000-row page
// of costbook_items, as the strict handler writes it.
func BenchmarkEncodePullPage_1000(b *testing.B) {
	now := wire.NewTimestamp(time.Date(2025, 1, 15, 12, 0, 0, 0, time.UTC))
	page := emptyPullResponse(now)
	contractorID := uuid.New()
	for i := range benchRows {
		desc, unit, sku := fmt.Sprintf("Gypsum board, moisture resistant, item %d", i), "ea", fmt.Sprintf("DW-%06d", i)
		cost, markup := wire.Decimal(fmt.Sprintf("%d.50", i)), wire.Decimal("15.5")
		page.CostbookItems = append(page.CostbookItems, db.CostbookItem{
			ContractorID: contractorID, ID: uuid.New(), Name: fmt.Sprintf("Drywall sheet #%d", i),
			Description: &desc, Unit: &unit, UnitCost: &cost, MarkupPercent: &markup, Sku: &sku,
			Taxable: i%2 == 0, CreatedAt: now, UpdatedAt: now, SyncSeq: int64(i),
		})
	}
	page.HasMore, page.Cursor = true, cursor{Base: 1, Paging: true, Horizon: 10, Table: 2, Seq: 5, ID: uuid.New()}.encode()
	b.ReportAllocs()
	var n int
	for b.Loop() {
		out, err := json.Marshal(page)
		if err != nil {
			b.Fatal(err)
		}
		n = len(out)
	}
	b.SetBytes(int64(n))
}

// benchPushBody is a push of benchRows costbook_items, the last
// benchDuplicates of which repeat earlier ids.
func benchPushBody(b *testing.B) []byte {
	rows := make([]api.CostbookItemWrite, benchRows)
	for i := range rows {
		id := uuid.New()
		if i >= benchRows-benchDuplicates {
			id = rows[i-(benchRows-benchDuplicates)].Id
		}
		name, desc, unit := fmt.Sprintf("Drywall sheet #%d", i), fmt.Sprintf("Gypsum board, moisture resistant, item %d", i), "ea"
		cost, markup, sku, taxable := fmt.Sprintf("%d.50", i), "15.5", fmt.Sprintf("DW-%06d", i), i%2 == 0
		rows[i] = api.CostbookItemWrite{Id: id, Name: name, Description: &desc, Unit: &unit,
			UnitCost: &cost, MarkupPercent: &markup, Sku: &sku, Taxable: &taxable}
	}
	body, err := json.Marshal(api.SyncPushRequest{CostbookItems: &rows})
	if err != nil {
		b.Fatal(err)
	}
	return body
}
