package server_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"
)

func TestOps_Healthz(t *testing.T) {
	t.Parallel()
	anon := &device{t: t}
	r := anon.do(http.MethodGet, "/healthz", nil, nil)
	if r.status != http.StatusOK || strings.TrimSpace(string(r.body)) != `{"ok":true}` {
		t.Fatalf("healthz = %d %s", r.status, r.body)
	}
}

func TestOps_Readyz_MigratedDatabase(t *testing.T) {
	t.Parallel()
	anon := &device{t: t}
	r := anon.do(http.MethodGet, "/readyz", nil, nil)
	if r.status != http.StatusOK || strings.TrimSpace(string(r.body)) != `{"ok":true}` {
		t.Fatalf("readyz = %d %s", r.status, r.body)
	}
}

func TestOps_Metrics_CountRequestsByRoutePattern(t *testing.T) {
	t.Parallel()
	d := newTenant(t)
	d.mustCanary()
	probe := uuid.NewString()
	d.do(http.MethodGet, "/nope/"+probe, nil, nil)
	r := (&device{t: t}).do(http.MethodGet, "/metrics", nil, nil)
	if r.status != http.StatusOK {
		t.Fatalf("metrics = %d", r.status)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type = %q", ct)
	}
	text := string(r.body)
	canary := regexp.MustCompile(`(?m)^syncproxy_http_requests_total\{[^}]*route="/api/sync/canary"[^}]*status="200"[^}]*\} [1-9]`)
	if !canary.MatchString(text) {
		t.Fatalf("no canary count in /metrics:\n%s", grepLines(text, "syncproxy_http_requests_total"))
	}
	if !regexp.MustCompile(`(?m)^syncproxy_http_request_duration_seconds_bucket\{`).MatchString(text) {
		t.Errorf("no request duration histogram")
	}
	if strings.Contains(text, probe) {
		t.Fatalf("an unmatched path became a label (unbounded cardinality)")
	}
	if strings.Contains(text, d.token) {
		t.Fatal("token in metrics")
	}
}

func grepLines(text, substr string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestOps_OpenAPI_ServesTheContract(t *testing.T) {
	t.Parallel()
	r := (&device{t: t}).do(http.MethodGet, "/api/openapi.json", nil, nil)
	if r.status != http.StatusOK {
		t.Fatalf("openapi.json = %d", r.status)
	}
	var doc struct {
		OpenAPI string                     `json:"openapi"`
		Paths   map[string]json.RawMessage `json:"paths"`
	}
	r.decode(t, &doc)
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi = %q", doc.OpenAPI)
	}
	for _, p := range []string{"/api/sync/push", "/api/sync/pull", "/api/sync/canary"} {
		if _, ok := doc.Paths[p]; !ok {
			t.Errorf("paths lacks %s", p)
		}
	}
}

func TestOps_NeedNoToken_SyncRoutesDo(t *testing.T) {
	t.Parallel()
	anon := &device{t: t}
	for _, p := range []string{"/healthz", "/readyz", "/metrics", "/api/openapi.json"} {
		if r := anon.do(http.MethodGet, p, nil, nil); r.status != http.StatusOK {
			t.Errorf("GET %s without token = %d", p, r.status)
		}
	}
	anon.do(http.MethodGet, "/api/sync/canary", nil, nil).envelope(t, http.StatusUnauthorized, "UNAUTHORIZED")
}
