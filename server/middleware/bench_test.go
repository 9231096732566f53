package middleware_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/syncproxy/syncproxy/gen/api"
	"github.com/syncproxy/syncproxy/server/middleware"
)

// BenchmarkValidateRequests_Push1000 is the spec validation of a push of
// 1,000 costbook_items: the first thing a push pays for, before any decode.
func BenchmarkValidateRequests_Push1000(b *testing.B) {
	validate, err := middleware.ValidateRequests()
	if err != nil {
		b.Fatal(err)
	}
	e := echo.New()
	h := validate(func(echo.Context) error { return nil })
	body := pushOf(b, 1000)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/api/sync/push", bytes.NewReader(body))
		req.Header.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
		if err := h(e.NewContext(req, httptest.NewRecorder())); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValidateRequests_Pull is the validation of a pull's query string.
func BenchmarkValidateRequests_Pull(b *testing.B) {
	validate, err := middleware.ValidateRequests()
	if err != nil {
		b.Fatal(err)
	}
	e := echo.New()
	h := validate(func(echo.Context) error { return nil })
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodGet, "/api/sync/pull?limit=1000&cursor=eyJ2IjoxfQ", nil)
		if err := h(e.NewContext(req, httptest.NewRecorder())); err != nil {
			b.Fatal(err)
		}
	}
}

// pushOf is a push body of n costbook_items with every client column set.
func pushOf(b *testing.B, n int) []byte {
	rows := make([]api.CostbookItemWrite, n)
	for i := range rows {
		name, desc, unit := fmt.Sprintf("Drywall sheet #%d", i), fmt.Sprintf("Gypsum board, item %d", i), "ea"
		cost, markup, sku, taxable := fmt.Sprintf("%d.50", i), "15.5", fmt.Sprintf("DW-%06d", i), i%2 == 0
		rows[i] = api.CostbookItemWrite{Id: uuid.New(), Name: name, Description: &desc, Unit: &unit,
			UnitCost: &cost, MarkupPercent: &markup, Sku: &sku, Taxable: &taxable}
	}
	body, err := json.Marshal(api.SyncPushRequest{CostbookItems: &rows})
	if err != nil {
		b.Fatal(err)
	}
	return body
}
