package apierror

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/labstack/echo/v4"
)

// A dead or stuck database must read as 503 UNAVAILABLE with Retry-After, so
// clients back off and retry instead of treating their request as wrong.
func TestClassify_DatabaseOutagesAre503(t *testing.T) {
	cases := map[string]error{
		"deadline":          fmt.Errorf("push: %w", context.DeadlineExceeded),
		"connect refused":   fmt.Errorf("resolve: %w", &pgconn.ConnectError{}),
		"connection reset":  fmt.Errorf("pull: %w", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}),
		"cut mid-query":     fmt.Errorf("pull: failed to receive message: %w", io.ErrUnexpectedEOF),
		"admin shutdown":    fmt.Errorf("tx: %w", &pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"}),
		"cannot connect":    &pgconn.PgError{Code: "57P03", Message: "the database system is starting up"},
		"too many clients":  &pgconn.PgError{Code: "53300", Message: "sorry, too many clients already"},
		"statement timeout": &pgconn.PgError{Code: "57014", Message: "canceling statement due to statement timeout"},
		"connection class":  &pgconn.PgError{Code: "08006", Message: "connection failure"},
	}
	for name, err := range cases {
		t.Run(name, func(t *testing.T) {
			e := Classify(err)
			if e.Status != http.StatusServiceUnavailable || e.RetryAfter <= 0 {
				t.Fatalf("Classify = %d (Retry-After %d), want 503 with Retry-After", e.Status, e.RetryAfter)
			}
		})
	}
}

func TestClassify_OtherErrors(t *testing.T) {
	if e := Classify(errors.New("boom")); e.Status != http.StatusInternalServerError {
		t.Errorf("plain error = %d, want 500", e.Status)
	}
	if e := Classify(&pgconn.PgError{Code: "22P02"}); e.Status != http.StatusBadRequest {
		t.Errorf("data exception = %d, want 400", e.Status)
	}
	limited := New(http.StatusTooManyRequests, "slow down")
	limited.RetryAfter = 3
	if e := Classify(fmt.Errorf("wrapped: %w", limited)); e.Status != http.StatusTooManyRequests || e.retryAfterHeader() != "3" {
		t.Errorf("rate limited = %d %q", e.Status, e.retryAfterHeader())
	}
}

func TestHandler_ClientGone_NotAnInternalError(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	e := echo.New()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequest(http.MethodGet, "/api/sync/pull", nil).WithContext(ctx)
	rec := httptest.NewRecorder()
	c := e.NewContext(req, rec)
	Handler(logger)(fmt.Errorf("pull: %w", context.Canceled), c)
	if rec.Code != StatusClientClosedRequest || !strings.Contains(rec.Body.String(), `"CLIENT_CLOSED_REQUEST"`) {
		t.Fatalf("status = %d %s, want 499 CLIENT_CLOSED_REQUEST (never a 5xx)", rec.Code, rec.Body)
	}
	if strings.Contains(logs.String(), `"level":"ERROR"`) || !strings.Contains(logs.String(), "client closed the request") {
		t.Fatalf("log = %s", logs.String())
	}
}
