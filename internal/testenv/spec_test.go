package testenv

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestCheckedDoer_SpecCheck_FailsResponsesOutsideTheSpec: the harnesses rely
// on the check to fail a test whose response drifted from openapi.yaml, so a
// check that passes everything would hide every such drift.
func TestCheckedDoer_SpecCheck_FailsResponsesOutsideTheSpec(t *testing.T) {
	check, err := SpecCheck()
	if err != nil {
		t.Fatal(err)
	}
	var status int
	var body string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Request-Id", "req-1")
		w.WriteHeader(status)
		w.Write([]byte(body))
	}))
	defer srv.Close()
	c := NewClient(srv.URL, "tok", CheckedDoer{Doer: srv.Client(), Check: check})

	const canary = `{"ok":true,"userId":"0190d6a4-7d0e-7c3a-9a3e-2f4b5c6d7e8f","contractorId":"0190d6a4-7d0e-7c3a-9a3e-2f4b5c6d7e90","serverTime":"2025-01-15T12:00:00.000Z"}`
	cases := []struct {
		name, target string
		status       int
		body         string
		wantErr      string // "" passes
	}{
		{"a canary as the spec says", "/api/sync/canary", 200, canary, ""},
		{"a required field missing", "/api/sync/canary", 200, `{"ok":true}`, "does not match the spec"},
		{"a uuid that is not one", "/api/sync/canary", 200, strings.Replace(canary, "0190d6a4-7d0e-7c3a-9a3e-2f4b5c6d7e8f", "user-42", 1), "does not match the spec"},
		{"a status the operation does not declare", "/api/sync/canary", 418, `{}`, "does not match the spec"},
		{"no operation: unchecked", "/nope", 404, `not json`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body = tc.status, tc.body
			res, err := Do(context.Background(), c, http.MethodGet, tc.target, "", nil)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("want no error, got %v", err)
				}
				r, err := ReadResponse(res)
				if err != nil || r.Status != tc.status || string(r.Body) != tc.body {
					t.Fatalf("caller got %d %q (%v), want the response the check saw: %d %q", r.Status, r.Body, err, tc.status, tc.body)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}
