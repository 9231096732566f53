package blackbox_test

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
	anon := env.DeviceWithToken(t, "")
	r := anon.Do(http.MethodGet, "/healthz", nil, nil)
	if r.Status != http.StatusOK || strings.TrimSpace(string(r.Body)) != `{"ok":true}` {
		t.Fatalf("healthz = %d %s", r.Status, r.Body)
	}
}

func TestOps_Readyz_MigratedDatabase(t *testing.T) {
	t.Parallel()
	anon := env.DeviceWithToken(t, "")
	r := anon.Do(http.MethodGet, "/readyz", nil, nil)
	if r.Status != http.StatusOK || strings.TrimSpace(string(r.Body)) != `{"ok":true}` {
		t.Fatalf("readyz = %d %s", r.Status, r.Body)
	}
}

func TestOps_Metrics_CountRequestsByRoutePattern(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
	d.MustCanary()
	probe := uuid.NewString()
	d.Do(http.MethodGet, "/nope/"+probe, nil, nil)
	r := env.DeviceWithToken(t, "").Do(http.MethodGet, "/metrics", nil, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("metrics = %d", r.Status)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type = %q", ct)
	}
	text := string(r.Body)
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
	if strings.Contains(text, d.Token) {
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
	r := env.DeviceWithToken(t, "").Do(http.MethodGet, "/api/openapi.json", nil, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("openapi.json = %d", r.Status)
	}
	var doc struct {
		OpenAPI string                     `json:"openapi"`
		Paths   map[string]json.RawMessage `json:"paths"`
	}
	r.Decode(t, &doc)
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
	anon := env.DeviceWithToken(t, "")
	for _, p := range []string{"/healthz", "/readyz", "/metrics", "/api/openapi.json"} {
		if r := anon.Do(http.MethodGet, p, nil, nil); r.Status != http.StatusOK {
			t.Errorf("GET %s without token = %d", p, r.Status)
		}
	}
	anon.Do(http.MethodGet, "/api/sync/canary", nil, nil).Envelope(t, http.StatusUnauthorized, "UNAUTHORIZED")
}
