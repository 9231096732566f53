package apierror

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// A value Postgres refuses is the client's 400, in the client's words: what
// Postgres names as identifiers is kept, its message (which quotes the value
// and speaks of types and encodings) is not.
func TestClassify_DatabaseRefusals_400WithoutDatabaseText(t *testing.T) {
	cases := []struct {
		name             string
		err              *pgconn.PgError
		table, field     string
		reasonContaining string
	}{
		{"numeric overflow", &pgconn.PgError{Code: "22003", Message: "value overflows numeric format"}, "", "", "out of the range"},
		{"not UTF-8", &pgconn.PgError{Code: "22021", Message: `invalid byte sequence for encoding "UTF8": 0xff`}, "", "", "UTF-8"},
		{"time zone", &pgconn.PgError{Code: "22009", Message: `time zone displacement out of range: "9999-12-31T23:59:59-23:59"`}, "", "", "time zone"},
		{"unknown data exception", &pgconn.PgError{Code: "22P99", Message: "some future SQLSTATE"}, "", "", "cannot be stored"},
		{"not null", &pgconn.PgError{Code: "23502", Message: `null value in column "name" of relation "costbook_items" violates not-null constraint`,
			TableName: "costbook_items", ColumnName: "name"}, "costbook_items", "name", "required"},
		{"check", &pgconn.PgError{Code: "23514", Message: `new row for relation "estimates" violates check constraint "estimates_status_check"`,
			TableName: "estimates", ConstraintName: "estimates_status_check"}, "estimates", "", "estimates_status_check"},
		{"unknown integrity violation", &pgconn.PgError{Code: "23P99", Message: "a future constraint kind"}, "", "", "constraint"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := Classify(fmt.Errorf("push: %w", tc.err))
			if e.Status != http.StatusBadRequest {
				t.Fatalf("status = %d, want 400", e.Status)
			}
			body, err := json.Marshal(e.Envelope("rid"))
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(body), tc.err.Message) {
				t.Fatalf("the envelope carries the database's message: %s", body)
			}
			if !strings.Contains(e.Message, tc.reasonContaining) {
				t.Errorf("message %q lacks %q", e.Message, tc.reasonContaining)
			}
			if tc.table == "" && tc.field == "" {
				if len(e.Details) != 0 {
					t.Fatalf("details = %s, want none", body)
				}
				return
			}
			if len(e.Details) != 1 {
				t.Fatalf("details = %s, want one", body)
			}
			d := e.Details[0]
			if got := deref(d.Table); got != tc.table {
				t.Errorf("table = %q, want %q", got, tc.table)
			}
			if got := deref(d.Field); got != tc.field {
				t.Errorf("field = %q, want %q", got, tc.field)
			}
		})
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// A body that breaks off fails with the errors of a cut database connection;
// marked where it is read, it is the client's 400 whatever wraps it.
func TestClassify_BodyUnreadable_400NotUnavailable(t *testing.T) {
	for _, cause := range []error{io.ErrUnexpectedEOF, fmt.Errorf("read tcp: %w", io.ErrUnexpectedEOF)} {
		e := Classify(fmt.Errorf("validate: %w", BodyUnreadable(cause)))
		if e.Status != http.StatusBadRequest || e.RetryAfter != 0 {
			t.Fatalf("Classify = %d (Retry-After %d), want 400", e.Status, e.RetryAfter)
		}
	}
}

// net/http's own replies become the envelope; a handler's response, whose
// headers net/http sorts and dates, is never taken for one.
func TestParsePlainReply(t *testing.T) {
	plain := "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request: invalid header value"
	status, text, ok := parsePlainReply([]byte(plain))
	if !ok || status != 400 || text != "400 Bad Request: invalid header value" {
		t.Fatalf("parsePlainReply = %d %q %v", status, text, ok)
	}
	for _, handlerResponse := range []string{
		"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nDate: Mon, 01 Jan 2026 00:00:00 GMT\r\n\r\nx",
		"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nDate: Mon, 01 Jan 2026 00:00:00 GMT\r\n\r\n",
		`{"ok":true}`,
		"HTTP/1.1 ",
	} {
		if _, _, ok := parsePlainReply([]byte(handlerResponse)); ok {
			t.Errorf("taken for net/http's reply: %q", handlerResponse)
		}
	}
}
