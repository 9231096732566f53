package blackbox_test

// Hostile input (docs/contract.md, "Hostile input costs little and breaks
// nothing"): each test performs one attack of issue 11 over real HTTP, raw
// sockets where a Go client would refuse to send it, against the real server
// on the harness database.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/syncproxy/syncproxy/internal/devicetest"
	"github.com/syncproxy/syncproxy/internal/testenv"
	"github.com/syncproxy/syncproxy/server/config"
)

// readRaw reads one response from conn, waiting at most a generous while (a
// server that never answers fails the test instead of stalling it).
func readRaw(t *testing.T, conn net.Conn) devicetest.Response {
	t.Helper()
	if err := conn.SetReadDeadline(time.Now().Add(60 * time.Second)); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("read response body: %v", err)
	}
	return devicetest.Response{Status: res.StatusCode, Header: res.Header, Body: body}
}

func dial(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn.(*net.TCPConn)
}

func write(t *testing.T, conn net.Conn, s string) {
	t.Helper()
	if _, err := io.WriteString(conn, s); err != nil {
		t.Fatalf("write: %v", err)
	}
}

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

// waitForAccessLog waits until the request's access-log line is written (a
// request whose client hung up has no answer to wait for) and returns every
// line of the request.
func waitForAccessLog(t *testing.T, logs *testenv.LogBuffer, requestID string) []map[string]any {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		lines := logLines(t, logs, requestID)
		for _, l := range lines {
			if l["msg"] == "request" {
				return lines
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no access log line for request %s:\n%s", requestID, logs.Tail(20))
		}
	}
}

var labelMethod = regexp.MustCompile(`method="([^"]*)"`)

// TestHostile_OddMethods_CreateNoSeriesAndLogNoMethodText: any token is a
// valid HTTP method, and the raw method was a label value: ten requests with
// a 900 KB method, no token needed, grew /metrics from 5 to 158 MB and the
// server by 800 MiB until restart.
func TestHostile_OddMethods_CreateNoSeriesAndLogNoMethodText(t *testing.T) {
	t.Parallel()
	base, logs := env.Listen(t, env.DefaultConfig(t, nil), env.Pool, nil)
	scrape := func() string {
		r := limDo(t, base, http.MethodGet, "/metrics", "", nil)
		if r.Status != http.StatusOK {
			t.Fatalf("/metrics = %d", r.Status)
		}
		return string(r.Body)
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
				t.Fatalf("method %.20q %s = %d %s, want a 4xx", method, path, res.StatusCode, devicetest.Truncate(raw))
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

// TestHostile_BodyBreaksOff_400AtWarn_NotADatabaseOutage: a body that ends
// before its Content-Length, or stalls past SYNC_READ_TIMEOUT, failed with
// the errors of a database connection cut mid-query and was answered 503
// "database unavailable", logged at ERROR and counted as a server error.
func TestHostile_BodyBreaksOff_400AtWarn_NotADatabaseOutage(t *testing.T) {
	t.Parallel()
	addr, logs := env.Serve(t, env.DefaultConfig(t, map[string]string{"SYNC_READ_TIMEOUT": "1s", "SYNC_RATE_LIMIT": "0"}), nil)
	d := env.NewTenant(t)
	head := func(requestID string) string {
		return "POST /api/sync/push HTTP/1.1\r\nHost: syncproxy\r\nAuthorization: Bearer " + d.Token +
			"\r\nContent-Type: application/json\r\nContent-Length: 1000\r\nX-Request-Id: " + requestID + "\r\n\r\n" +
			`{"costbook_items":[{"id":"` + uuid.NewString() + `",`
	}
	cases := []struct {
		name string
		// breakOff sends a request whose body breaks off and returns the
		// answer, if the client can still read one.
		breakOff func(t *testing.T, requestID string) *devicetest.Response
	}{
		{"Content-Length not reached, client half-closes", func(t *testing.T, requestID string) *devicetest.Response {
			conn := dial(t, addr)
			write(t, conn, head(requestID))
			if err := conn.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			r := readRaw(t, conn)
			return &r
		}},
		{"Content-Length not reached, client closes", func(t *testing.T, requestID string) *devicetest.Response {
			conn := dial(t, addr)
			write(t, conn, head(requestID))
			conn.Close()
			return nil
		}},
		{"body slower than SYNC_READ_TIMEOUT", func(t *testing.T, requestID string) *devicetest.Response {
			conn := dial(t, addr)
			write(t, conn, head(requestID)) // and nothing more: the read timeout ends it
			r := readRaw(t, conn)
			return &r
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			requestID := "broken-body-" + uuid.NewString()[:8]
			if r := tc.breakOff(t, requestID); r != nil {
				e := r.Envelope(t, http.StatusBadRequest, "BAD_REQUEST")
				if e.RequestId != requestID {
					t.Fatalf("requestId = %q, want %q", e.RequestId, requestID)
				}
			}
			lines := waitForAccessLog(t, logs, requestID)
			warned := false
			for _, l := range lines {
				switch {
				case l["level"] == "ERROR":
					t.Fatalf("a body that broke off was logged as an error: %v", l)
				case l["msg"] == "request" && l["status"] != 400.0:
					t.Fatalf("access log status = %v, want 400", l["status"])
				case l["level"] == "WARN":
					warned = true
				}
			}
			if !warned {
				t.Fatalf("no warn line for request %s: %v", requestID, lines)
			}
		})
	}
	metrics := string(limDo(t, "http://"+addr, http.MethodGet, "/metrics", "", nil).Body)
	if errs := limGrep(metrics, `syncproxy_http_errors_total{`); strings.Contains(errs, `status="5`) ||
		!strings.Contains(errs, `syncproxy_http_errors_total{code="BAD_REQUEST",status="400"} 3`) {
		t.Fatalf("errors counted as:\n%s\nwant three 400s and no 5xx", errs)
	}
	if n := sqlCount(t, `SELECT count(*) FROM costbook_items WHERE contractor_id = $1`, d.ContractorID); n != 0 {
		t.Fatalf("%d rows written from broken bodies", n)
	}
}

// TestHostile_MalformedQuery_400NamesParameter: URL.Query() drops a pair it
// cannot parse without a word, so `?tables=costbook_items;drop` pulled every
// table and `?cursor=%%%` answered a full pull; a parameter given twice was
// resolved by picking one.
func TestHostile_MalformedQuery_400NamesParameter(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
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
			r := d.As(t).Do(http.MethodGet, "/api/sync/pull?"+tc.query, nil, nil)
			e := r.Envelope(t, http.StatusBadRequest, "BAD_REQUEST")
			assertDetails(t, e, wantDetail{"", -1, tc.field})
		})
	}
	// What parses is still served, filter applied (the tenant's contractors
	// row is not in the page): escapes, and names the contract does not know
	// (ignored, as they always were).
	for _, q := range []string{"tables=estimates%2Cpdf_settings", "tables=estimates,pdf_settings&contractor_id=x&contractor_id=y"} {
		r := d.Do(http.MethodGet, "/api/sync/pull?"+q, nil, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("?%s = %d %s", q, r.Status, devicetest.Truncate(r.Body))
		}
		var page map[string]json.RawMessage
		r.Decode(t, &page)
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
// 400, naming the field where there is one.
func TestHostile_ErrorBodies_CarryNoDatabaseOrGoText(t *testing.T) {
	t.Parallel()
	id := uuid.NewString()
	cases := []struct {
		name  string
		send  func(d *devicetest.Device) devicetest.Response
		field string // the detail's field, if the request names one
	}{
		// Found by the decoder since contract 1.2 (a number is bounded in
		// digits as stored), before the database could say "overflows".
		{"number beyond numeric in a JSON column", func(d *devicetest.Device) devicetest.Response {
			return d.Push(`{"estimates":[{"id":"` + id + `","number":"1","line_items":[1e999999]}]}`)
		}, "line_items/0"},
		{"number beyond numeric deep in a JSON object", func(d *devicetest.Device) devicetest.Response {
			return d.Push(`{"estimate_events":[{"id":"` + id + `","estimate_id":"` + id + `","kind":"k","payload":{"a":1e999999}}]}`)
		}, "payload/a"},
		{"time zone offset Postgres refuses", func(d *devicetest.Device) devicetest.Response {
			return d.Push(`{"estimate_events":[{"id":"` + id + `","estimate_id":"` + id + `","kind":"k","occurred_at":"9999-12-31T23:59:59-23:59"}]}`)
		}, ""},
		{"integer beyond float64", func(d *devicetest.Device) devicetest.Response {
			return d.Push(`{"costbook_folders":[{"id":"` + id + `","name":"x","sort_order":1e400}]}`)
		}, "sort_order"},
		{"body beyond float64", func(d *devicetest.Device) devicetest.Response { return d.Push(`1e999`) }, ""},
		{"integer in exponent form", func(d *devicetest.Device) devicetest.Response {
			return d.Push(`{"costbook_folders":[{"id":"` + id + `","name":"x","sort_order":1e2}]}`)
		}, "sort_order"},
		{"limit in hex", func(d *devicetest.Device) devicetest.Response {
			return d.Do(http.MethodGet, "/api/sync/pull?limit=0x10", nil, nil)
		}, "limit"},
		{"limit in exponent form", func(d *devicetest.Device) devicetest.Response {
			return d.Do(http.MethodGet, "/api/sync/pull?limit=1e3", nil, nil)
		}, "limit"},
		{"limit beyond int64", func(d *devicetest.Device) devicetest.Response {
			return d.Do(http.MethodGet, "/api/sync/pull?limit=99999999999999999999", nil, nil)
		}, "limit"},
		{"Idempotency-Key not UTF-8", func(d *devicetest.Device) devicetest.Response {
			return d.Push(`{}`, map[string]string{"Idempotency-Key": "k-\xff\xfe"})
		}, "Idempotency-Key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := env.NewTenant(t).As(t)
			r := tc.send(d)
			e := r.Envelope(t, http.StatusBadRequest, "BAD_REQUEST")
			if leak, ok := hasAny(string(r.Body), leakMarkers...); ok {
				t.Fatalf("the body carries %q: %s", leak, r.Body)
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
		})
	}
}

// TestHostile_IdempotencyKeyNotText_400NamesHeader: a key of bytes Postgres
// cannot store failed in the database with its own message; a tab or a C1
// control character was stored as part of the key.
func TestHostile_IdempotencyKeyNotText_400NamesHeader(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
	body := map[string]any{"costbook_items": []any{map[string]any{"id": uuid.New(), "name": "x"}}}
	for name, keys := range map[string][]string{
		"not UTF-8":      {"k-\xff"},
		"tab":            {"k-\tk"},
		"C1 control":     {"k-\u0085"},
		"given twice":    {"k-1", "k-2"},
		"UTF-8 overlong": {"k-\xc0\xaf"},
	} {
		t.Run(name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, env.URL+"/api/sync/push", strings.NewReader(string(mustJSON(t, body))))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+d.Token)
			req.Header.Set("Content-Type", "application/json")
			for _, k := range keys {
				req.Header.Add("Idempotency-Key", k)
			}
			e := d.As(t).Send(req).Envelope(t, http.StatusBadRequest, "BAD_REQUEST")
			assertDetails(t, e, wantDetail{"", -1, "Idempotency-Key"})
		})
	}
	if n := sqlCount(t, `SELECT count(*) FROM costbook_items WHERE contractor_id = $1`, d.ContractorID); n != 0 {
		t.Fatalf("%d rows written by rejected pushes", n)
	}
	if n := sqlCount(t, `SELECT count(*) FROM idempotency_keys WHERE contractor_id = $1`, d.ContractorID); n != 0 {
		t.Fatalf("%d keys stored by rejected pushes", n)
	}
}

// TestHostile_NetHTTPReplies_AreTheEnvelope: what net/http answers by itself,
// before any handler runs, was plain text without X-Request-Id.
func TestHostile_NetHTTPReplies_AreTheEnvelope(t *testing.T) {
	t.Parallel()
	addr, logs := env.Serve(t, env.DefaultConfig(t, nil), nil)
	d := env.NewTenant(t)
	// net/http reads at most MaxHeaderBytes plus 4096 bytes of slop before
	// it answers 431. Sending exactly that much, without the blank line that
	// ends the headers, leaves nothing unread, so the server's close cannot
	// reset the connection before the answer is read.
	const headerLimit = config.DefaultMaxHeaderBytes + 4096
	bigHead := "GET /healthz HTTP/1.1\r\nHost: syncproxy\r\nX-Big: "
	cases := []struct {
		name    string
		request string
		status  int
		code    string
	}{
		{"headers over MaxHeaderBytes", bigHead + strings.Repeat("a", headerLimit-len(bigHead)), http.StatusRequestHeaderFieldsTooLarge, "HEADERS_TOO_LARGE"},
		{"header line without a colon", "GET /healthz HTTP/1.1\r\nHost: syncproxy\r\nno colon here\r\n\r\n", http.StatusBadRequest, "BAD_REQUEST"},
		{"control character in Idempotency-Key", "POST /api/sync/push HTTP/1.1\r\nHost: syncproxy\r\nAuthorization: Bearer " + d.Token +
			"\r\nContent-Type: application/json\r\nIdempotency-Key: k-\x01\r\nContent-Length: 2\r\n\r\n{}", http.StatusBadRequest, "BAD_REQUEST"},
		{"no Host header", "GET /healthz HTTP/1.1\r\n\r\n", http.StatusBadRequest, "BAD_REQUEST"},
		{"malformed request line", "GET\r\n\r\n", http.StatusBadRequest, "BAD_REQUEST"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			conn := dial(t, addr)
			write(t, conn, tc.request)
			r := readRaw(t, conn)
			if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Fatalf("Content-Type = %q, body %q", ct, devicetest.Truncate(r.Body))
			}
			e := r.Envelope(t, tc.status, tc.code)
			if leak, ok := hasAny(string(r.Body), "Bad Request", "Too Large", "invalid header"); ok {
				t.Fatalf("the envelope carries net/http's text %q: %s", leak, r.Body)
			}
			warned := false
			for _, l := range logLines(t, logs, e.RequestId) {
				warned = warned || l["level"] == "WARN"
			}
			if !warned {
				t.Fatalf("request %s not logged at warn:\n%s", e.RequestId, logs.Tail(10))
			}
		})
	}
	// And the server still answers as ever.
	if r := limDo(t, "http://"+addr, http.MethodGet, "/api/sync/canary", d.Token, nil); r.Status != http.StatusOK {
		t.Fatalf("canary after the attacks = %d %s", r.Status, r.Body)
	}
}
