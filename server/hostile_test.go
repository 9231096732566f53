package server_test

// Hostile input (CONTRACT.md, "Hostile input costs little and breaks
// nothing"): each test performs one attack of issue 11 over real HTTP, raw
// sockets where a Go client would refuse to send it, against the real server
// on the harness database.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/syncproxy/syncproxy/internal/testenv"
)

// logLines returns the server's log lines that carry requestID, decoded.
func logLines(t *testing.T, logs *testenv.LogBuffer, requestID string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var entry map[string]any
		if json.Unmarshal(sc.Bytes(), &entry) == nil && entry["request_id"] == requestID {
			out = append(out, entry)
		}
	}
	return out
}

var labelMethod = regexp.MustCompile(`method="([^"]*)"`)

// TestHostile_OddMethods_CreateNoSeriesAndLogNoMethodText: any token is a
// valid HTTP method, and the raw method was a label value: ten requests with
// a 900 KB method, no token needed, grew /metrics from 5 to 158 MB and the
// server by 800 MiB until restart.
func TestHostile_OddMethods_CreateNoSeriesAndLogNoMethodText(t *testing.T) {
	t.Parallel()
	base, logs := limServer(t, limConfig(t, nil), env.pool, nil)
	scrape := func() string {
		r := limDo(t, base, http.MethodGet, "/metrics", "", nil)
		if r.status != http.StatusOK {
			t.Fatalf("/metrics = %d", r.status)
		}
		return string(r.body)
	}
	scrape() // the scrape's own series exist before the baseline
	before := scrape()

	huge := strings.Repeat("Z", 100_000)
	methods := []string{huge, huge + "Y", "ZZZZZZZZ-" + uuid.NewString(), "get", "PROPFIND"}
	for i, method := range methods {
		for j, path := range []string{"/x", "/api/sync/push", "/healthz"} {
			id := fmt.Sprintf("odd-method-%d-%d", i, j)
			req, err := http.NewRequest(method, base+path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("X-Request-Id", id)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("method %.20q %s: %v", method, path, err)
			}
			raw, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode < 400 || res.StatusCode >= 500 {
				t.Fatalf("method %.20q %s = %d %s, want a 4xx", method, path, res.StatusCode, truncate(raw))
			}
			entry := limLogEntry(t, logs, id)
			line, _ := json.Marshal(entry)
			if len(line) > 2048 || strings.Contains(string(line), "ZZZZ") {
				t.Fatalf("access log line of method %.20q is %d bytes: %.300s", method, len(line), line)
			}
			if entry["method"] != "OTHER" {
				t.Errorf("access log method = %.40q, want OTHER", entry["method"])
			}
		}
	}

	after := scrape()
	known := map[string]bool{"GET": true, "HEAD": true, "POST": true, "PUT": true, "PATCH": true,
		"DELETE": true, "CONNECT": true, "OPTIONS": true, "TRACE": true, "OTHER": true}
	for _, m := range labelMethod.FindAllStringSubmatch(after, -1) {
		if !known[m[1]] {
			t.Fatalf("/metrics has the method label value %.40q (%d bytes)", m[1], len(m[1]))
		}
	}
	// Fifteen requests may add the OTHER series of three routes, a few KB;
	// one series per request would add megabytes.
	if grown := len(after) - len(before); grown > 64<<10 {
		t.Fatalf("/metrics grew by %d bytes after 15 requests with odd methods", grown)
	}
	if strings.Contains(logs.String(), "ZZZZ") {
		t.Fatal("the method's text reached the log")
	}
}

// TestHostile_MalformedQuery_400NamesParameter: URL.Query() drops a pair it
// cannot parse without a word, so `?tables=costbook_items;drop` pulled every
// table and `?cursor=%%%` answered a full pull; a parameter given twice was
// resolved by picking one.
func TestHostile_MalformedQuery_400NamesParameter(t *testing.T) {
	t.Parallel()
	d := newTenant(t)
	cases := []struct {
		name, query, field string
	}{
		{"';' in tables", "tables=costbook_items;drop", "tables"},
		{"';' separating parameters", "limit=10;tables=estimates", "limit"},
		{"';' in an unknown name", "x;y=1", ""},
		{"bad %-escape in cursor", "cursor=%%%", "cursor"},
		{"truncated %-escape in tables", "tables=estimates%2", "tables"},
		{"bad %-escape in a name", "%zz=1", ""},
		{"value not UTF-8", "tables=%ff", "tables"},
		{"since twice", "since=2025-01-01T00:00:00Z&since=2025-01-02T00:00:00Z", "since"},
		{"limit twice", "limit=1&limit=2", "limit"},
		{"cursor twice", "cursor=a&cursor=b", "cursor"},
		{"tables twice (one comma-separated value)", "tables=estimates&tables=pdf_settings", "tables"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := d.as(t).do(http.MethodGet, "/api/sync/pull?"+tc.query, nil, nil)
			e := r.envelope(t, http.StatusBadRequest, "BAD_REQUEST")
			assertDetails(t, e, wantDetail{"", -1, tc.field})
		})
	}
	// What parses is still served, filter applied (the tenant's contractors
	// row is not in the page): escapes, and names the contract does not know
	// (ignored, as they always were).
	for _, q := range []string{"tables=estimates%2Cpdf_settings", "tables=estimates,pdf_settings&contractor_id=x&contractor_id=y"} {
		r := d.do(http.MethodGet, "/api/sync/pull?"+q, nil, nil)
		if r.status != http.StatusOK {
			t.Fatalf("?%s = %d %s", q, r.status, truncate(r.body))
		}
		var page map[string]json.RawMessage
		r.decode(t, &page)
		assertOnlyTables(t, page)
	}
}

// leakMarkers are fragments of database and Go error text; none may reach a
// response body.
var leakMarkers = []string{
	"pq:", "ERROR:", "SQLSTATE", "strconv.", "json:", "cannot convert", "invalid byte sequence",
	"overflows", "displacement", "json.Number", "float64", "want int32", "*api.", "api.", "wire.",
	"Go struct", "unmarshal", "invalid syntax", "value out of range", "error binding",
}

// TestHostile_ErrorBodies_CarryNoDatabaseOrGoText sends each request that made
// the database's or Go's own words the client's message. They still answer
// 400; the words go to the log, at warn with the request id.
func TestHostile_ErrorBodies_CarryNoDatabaseOrGoText(t *testing.T) {
	t.Parallel()
	id := uuid.NewString()
	cases := []struct {
		name  string
		send  func(d *device) response
		field string // the detail's field, if the request names one
		log   string // the cause the log keeps, if the database found it
	}{
		{"number beyond numeric in a JSON column", func(d *device) response {
			return d.push(`{"estimates":[{"id":"` + id + `","number":"1","line_items":[1e999999]}]}`)
		}, "", "overflows"},
		{"number beyond numeric deep in a JSON object", func(d *device) response {
			return d.push(`{"estimate_events":[{"id":"` + id + `","estimate_id":"` + id + `","kind":"k","payload":{"a":1e999999}}]}`)
		}, "", "overflows"},
		{"time zone offset Postgres refuses", func(d *device) response {
			return d.push(`{"estimate_events":[{"id":"` + id + `","estimate_id":"` + id + `","kind":"k","occurred_at":"9999-12-31T23:59:59-23:59"}]}`)
		}, "", ""},
		{"integer beyond float64", func(d *device) response {
			return d.push(`{"costbook_folders":[{"id":"` + id + `","name":"x","sort_order":1e400}]}`)
		}, "sort_order", ""},
		{"body beyond float64", func(d *device) response { return d.push(`1e999`) }, "", ""},
		{"integer in exponent form", func(d *device) response {
			return d.push(`{"costbook_folders":[{"id":"` + id + `","name":"x","sort_order":1e2}]}`)
		}, "sort_order", ""},
		{"limit in hex", func(d *device) response { return d.do(http.MethodGet, "/api/sync/pull?limit=0x10", nil, nil) }, "limit", ""},
		{"limit in exponent form", func(d *device) response { return d.do(http.MethodGet, "/api/sync/pull?limit=1e3", nil, nil) }, "limit", ""},
		{"limit beyond int64", func(d *device) response {
			return d.do(http.MethodGet, "/api/sync/pull?limit=99999999999999999999", nil, nil)
		}, "limit", ""},
		{"Idempotency-Key not UTF-8", func(d *device) response {
			return d.push(`{}`, map[string]string{"Idempotency-Key": "k-\xff\xfe"})
		}, "Idempotency-Key", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := newTenant(t).as(t)
			r := tc.send(d)
			e := r.envelope(t, http.StatusBadRequest, "BAD_REQUEST")
			if leak, ok := hasAny(string(r.body), leakMarkers...); ok {
				t.Fatalf("the body carries %q: %s", leak, r.body)
			}
			if tc.field != "" {
				found := false
				for _, detail := range e.Details {
					found = found || (detail.Field != nil && *detail.Field == tc.field)
				}
				if !found {
					t.Fatalf("details %s do not name %s", mustJSON(t, e.Details), tc.field)
				}
			}
			if tc.log != "" {
				warned := false
				for _, l := range logLines(t, env.logs, e.RequestId) {
					warned = warned || (l["level"] == "WARN" && strings.Contains(fmt.Sprint(l["err"]), tc.log))
				}
				if !warned {
					t.Fatalf("the log has no warn line with %q for request %s", tc.log, e.RequestId)
				}
			}
		})
	}
}

// TestHostile_IdempotencyKeyNotText_400NamesHeader: a key of bytes Postgres
// cannot store failed in the database with its own message; a tab or a C1
// control character was stored as part of the key.
func TestHostile_IdempotencyKeyNotText_400NamesHeader(t *testing.T) {
	t.Parallel()
	d := newTenant(t)
	body := map[string]any{"costbook_items": []any{map[string]any{"id": uuid.New(), "name": "x"}}}
	for name, keys := range map[string][]string{
		"not UTF-8":      {"k-\xff"},
		"tab":            {"k-\tk"},
		"C1 control":     {"k-\u0085"},
		"given twice":    {"k-1", "k-2"},
		"UTF-8 overlong": {"k-\xc0\xaf"},
	} {
		t.Run(name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, env.server.URL+"/api/sync/push", strings.NewReader(string(mustJSON(t, body))))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+d.token)
			req.Header.Set("Content-Type", "application/json")
			for _, k := range keys {
				req.Header.Add("Idempotency-Key", k)
			}
			e := d.as(t).send(req).envelope(t, http.StatusBadRequest, "BAD_REQUEST")
			assertDetails(t, e, wantDetail{"", -1, "Idempotency-Key"})
		})
	}
	if n := sqlCount(t, `SELECT count(*) FROM costbook_items WHERE contractor_id = $1`, d.contractorID); n != 0 {
		t.Fatalf("%d rows written by rejected pushes", n)
	}
	if n := sqlCount(t, `SELECT count(*) FROM idempotency_keys WHERE contractor_id = $1`, d.contractorID); n != 0 {
		t.Fatalf("%d keys stored by rejected pushes", n)
	}
}
