package server_test

// Hostile input (CONTRACT.md, "Hostile input costs little and breaks
// nothing"): each test performs one attack of issue 11 over real HTTP, raw
// sockets where a Go client would refuse to send it, against the real server
// on the harness database.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"
)

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
