package middleware_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/syncproxy/syncproxy/server/middleware"
)

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
