package blackbox_test

// Limits, JWKS and observability seen from outside: a second server with its
// own configuration where a test needs one (server.New + httptest, or
// server.Serve), on the harness database.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/syncproxy/syncproxy/internal/devicetest"
	"github.com/syncproxy/syncproxy/internal/testenv"
	"github.com/syncproxy/syncproxy/server"
	"github.com/syncproxy/syncproxy/server/auth"
	"github.com/syncproxy/syncproxy/server/tenant"
)

// limDo sends one request to base as a device with token would, and checks
// the answer against the spec; headers are name, value pairs.
func limDo(t *testing.T, base, method, path, token string, body any, headers ...string) devicetest.Response {
	t.Helper()
	h := map[string]string{}
	for i := 0; i+1 < len(headers); i += 2 {
		h[headers[i]] = headers[i+1]
	}
	return env.DeviceWithToken(t, token).On(base).Do(method, path, body, h)
}

func limItem() map[string]any {
	return map[string]any{"costbook_items": []map[string]any{{"id": uuid.New(), "name": "Drywall", "unit_cost": "12.50"}}}
}

func TestLimits_RateLimitPerContractor_429WithRetryAfter(t *testing.T) {
	t.Parallel()
	cfg := env.DefaultConfig(t, map[string]string{"SYNC_RATE_LIMIT": "0.1", "SYNC_RATE_BURST": "2"})
	base, _ := env.Listen(t, cfg, env.Pool, nil)
	noisy, quiet := env.NewTenant(t), env.NewTenant(t)

	if r := limDo(t, base, http.MethodGet, "/api/sync/pull", noisy.Token, nil); r.Status != http.StatusOK {
		t.Fatalf("pull 1 = %d %s", r.Status, r.Body)
	}
	if r := limDo(t, base, http.MethodPost, "/api/sync/push", noisy.Token, limItem()); r.Status != http.StatusOK {
		t.Fatalf("push 2 = %d %s", r.Status, r.Body)
	}
	for _, op := range []struct{ method, path string }{{http.MethodGet, "/api/sync/pull"}, {http.MethodPost, "/api/sync/push"}} {
		var body any
		if op.method == http.MethodPost {
			body = limItem()
		}
		r := limDo(t, base, op.method, op.path, noisy.Token, body)
		r.Envelope(t, http.StatusTooManyRequests, "RATE_LIMITED")
		secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
		if err != nil || secs < 1 || secs > 10 {
			t.Fatalf("%s Retry-After = %q, want 1..10 seconds (one token per 10 s)", op.path, r.Header.Get("Retry-After"))
		}
	}
	// Another contractor is not affected. The canary is limited too
	// (contract 1.2): it costs a tenant lookup.
	if r := limDo(t, base, http.MethodGet, "/api/sync/pull", quiet.Token, nil); r.Status != http.StatusOK {
		t.Fatalf("other tenant's pull = %d %s", r.Status, r.Body)
	}
	limDo(t, base, http.MethodGet, "/api/sync/canary", noisy.Token, nil).Envelope(t, http.StatusTooManyRequests, "RATE_LIMITED")
	if r := limDo(t, base, http.MethodGet, "/api/sync/canary", quiet.Token, nil); r.Status != http.StatusOK {
		t.Fatalf("other tenant's canary = %d %s", r.Status, r.Body)
	}
	// Nothing of the refused push was written.
	page := noisy.MustPull(nil)
	if len(page.CostbookItems) != 1 {
		t.Fatalf("rows = %d, want only the one accepted push", len(page.CostbookItems))
	}
	metrics := string(limDo(t, base, http.MethodGet, "/metrics", "", nil).Body)
	if !strings.Contains(metrics, `syncproxy_http_errors_total{code="RATE_LIMITED",status="429"} 3`) {
		t.Fatalf("429s not counted:\n%s", limGrep(metrics, "syncproxy_http_errors_total"))
	}
}

// TestLimits_RateLimit_SharedByTheContractorsUsers: the budget is the
// contractor's, whichever of its users' devices spends it: two members of
// one team together get one contractor's burst, not one each.
func TestLimits_RateLimit_SharedByTheContractorsUsers(t *testing.T) {
	t.Parallel()
	base, _ := env.Listen(t, env.DefaultConfig(t, map[string]string{"SYNC_RATE_LIMIT": "0.1", "SYNC_RATE_BURST": "2"}), env.Pool, nil)
	owner, member := uuid.New(), uuid.New()
	c, err := tenant.Create(context.Background(), env.Pool, tenant.NewContractor{
		Name:    "Team " + t.Name(),
		Members: []tenant.Member{{AuthUserID: owner, Role: "owner"}, {AuthUserID: member, Role: "member"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	o, m := env.DeviceFor(t, owner, c.ID).On(base), env.DeviceFor(t, member, c.ID).On(base)
	if r := o.Pull(nil); r.Status != http.StatusOK {
		t.Fatalf("owner's pull = %d %s", r.Status, r.Body)
	}
	if r := m.Pull(nil); r.Status != http.StatusOK {
		t.Fatalf("member's pull = %d %s", r.Status, r.Body)
	}
	// The burst of two is spent, one request by each user.
	m.Pull(nil).Envelope(t, http.StatusTooManyRequests, "RATE_LIMITED")
	o.Pull(nil).Envelope(t, http.StatusTooManyRequests, "RATE_LIMITED")
}

func TestLimits_RateLimitZero_Disables(t *testing.T) {
	t.Parallel()
	base, _ := env.Listen(t, env.DefaultConfig(t, map[string]string{"SYNC_RATE_LIMIT": "0", "SYNC_RATE_BURST": "1"}), env.Pool, nil)
	d := env.NewTenant(t)
	for i := range 20 {
		if r := limDo(t, base, http.MethodGet, "/api/sync/pull", d.Token, nil); r.Status != http.StatusOK {
			t.Fatalf("pull %d = %d with the limit off", i, r.Status)
		}
	}
}

// TestLimits_DatabaseUnreachable_503Fast: a database that accepts TCP but never
// answers (a hung host, a blackholed network) costs a request the connect
// timeout, not the request timeout, and reads as 503 with Retry-After.
func TestLimits_DatabaseUnreachable_503Fast(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { conn.Close() }) // hold it open, say nothing
		}
	}()
	const password = "pg-pass-never-logged"
	cfg := env.DefaultConfig(t, map[string]string{
		"DATABASE_URL":            fmt.Sprintf("postgres://syncproxy:%s@%s/sync?sslmode=disable", password, ln.Addr()),
		"SYNC_DB_CONNECT_TIMEOUT": "300ms",
		"SYNC_REQUEST_TIMEOUT":    "10s",
	})
	pool, err := server.OpenPool(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	base, logs := env.Listen(t, cfg, pool, nil)
	d := env.NewTenant(t)
	for _, op := range []struct {
		method, path string
		body         any
	}{{http.MethodGet, "/api/sync/pull", nil}, {http.MethodPost, "/api/sync/push", limItem()}, {http.MethodGet, "/api/sync/canary", nil}} {
		start := time.Now()
		r := limDo(t, base, op.method, op.path, d.Token, op.body)
		elapsed := time.Since(start)
		r.Envelope(t, http.StatusServiceUnavailable, "UNAVAILABLE")
		if r.Header.Get("Retry-After") == "" {
			t.Errorf("%s: 503 without Retry-After", op.path)
		}
		if elapsed > 3*time.Second {
			t.Errorf("%s took %s; want about the connect timeout (300ms)", op.path, elapsed)
		}
	}
	if strings.Contains(logs.String(), password) {
		t.Fatal("the DATABASE_URL password reached the log")
	}
	if !strings.Contains(logs.String(), "UNAVAILABLE") {
		t.Fatal("503s were not logged")
	}
}

func TestLimits_OpenPoolErrors_HideThePassword(t *testing.T) {
	t.Parallel()
	const password = "pg-pass-never-shown"
	for _, bad := range []string{
		"postgres://u:" + password + "@host:notaport/db",
		"postgres://u:" + password + "@host/db?sslmode=bogus",
		"host=h password=" + password + " port=x",
	} {
		cfg := env.DefaultConfig(t, nil)
		cfg.DatabaseURL = bad
		_, err := server.OpenPool(context.Background(), cfg)
		if err == nil {
			t.Fatalf("OpenPool accepted a malformed URL")
		}
		if strings.Contains(err.Error(), password) {
			t.Fatalf("OpenPool error shows the password: %v", err)
		}
	}
}

// TestMetrics_MonitoringListAfterTraffic drives each kind of request once and
// reads /metrics on a private server, so counts are exact.
func TestMetrics_MonitoringListAfterTraffic(t *testing.T) {
	t.Parallel()
	base, logs := env.Listen(t, env.DefaultConfig(t, nil), env.Pool, nil)
	d := env.NewTenant(t)
	id := uuid.New()
	push := map[string]any{
		"costbook_items": []map[string]any{{"id": id, "name": "first"}, {"id": id, "name": "last wins"}},
		"estimates":      []map[string]any{{"id": uuid.New(), "number": "E-1"}},
	}
	first := limDo(t, base, http.MethodPost, "/api/sync/push", d.Token, push, "Idempotency-Key", "k-"+uuid.NewString()[:8])
	if first.Status != http.StatusOK {
		t.Fatalf("push = %d %s", first.Status, first.Body)
	}
	key, body := "replay-"+uuid.NewString(), limItem()
	for range 2 {
		if r := limDo(t, base, http.MethodPost, "/api/sync/push", d.Token, body, "Idempotency-Key", key); r.Status != http.StatusOK {
			t.Fatalf("idempotent push = %d %s", r.Status, r.Body)
		}
	}
	if r := limDo(t, base, http.MethodPost, "/api/sync/push", d.Token,
		map[string]any{"deletes": map[string]any{"costbook_items": []uuid.UUID{id}}}); r.Status != http.StatusOK {
		t.Fatalf("delete push = %d %s", r.Status, r.Body)
	}
	pull := limDo(t, base, http.MethodGet, "/api/sync/pull", d.Token, nil)
	if pull.Status != http.StatusOK {
		t.Fatalf("pull = %d", pull.Status)
	}
	limDo(t, base, http.MethodPost, "/api/sync/push", d.Token, map[string]any{"costbook_items": []map[string]any{{"name": "no id"}}}).
		Envelope(t, http.StatusBadRequest, "BAD_REQUEST")
	limDo(t, base, http.MethodGet, "/api/sync/pull", "not-a-jwt", nil).Envelope(t, http.StatusUnauthorized, "UNAUTHORIZED")
	stranger, err := testenv.Token(devicetest.Secret, uuid.New())
	if err != nil {
		t.Fatal(err)
	}
	limDo(t, base, http.MethodGet, "/api/sync/pull", stranger, nil).Envelope(t, http.StatusForbidden, "FORBIDDEN")

	text := string(limDo(t, base, http.MethodGet, "/metrics", "", nil).Body)
	for _, want := range []string{
		`syncproxy_sync_pushes_total{status="200"} 4`,
		`syncproxy_sync_pushes_total{status="400"} 1`,
		`syncproxy_sync_pulls_total{status="200"} 1`,
		`syncproxy_sync_pulls_total{status="401"} 1`,
		`syncproxy_sync_pulls_total{status="403"} 1`,
		`syncproxy_sync_rows_pushed_total{op="upsert",table="costbook_items"} 2`, // 1 after dedupe + 1; the replay not counted
		`syncproxy_sync_rows_pushed_total{op="upsert",table="estimates"} 1`,
		`syncproxy_sync_rows_pushed_total{op="delete",table="costbook_items"} 1`,
		`syncproxy_sync_rows_deduped_total{table="costbook_items"} 1`,
		`syncproxy_sync_idempotent_replays_total 1`,
		`syncproxy_sync_rows_pulled_total{op="upsert",table="contractors"} 1`,
		`syncproxy_sync_rows_pulled_total{op="upsert",table="costbook_items"} 1`,
		`syncproxy_sync_rows_pulled_total{op="upsert",table="estimates"} 1`,
		`syncproxy_sync_push_payload_bytes_count 5`,
		`syncproxy_http_errors_total{code="BAD_REQUEST",status="400"} 1`,
		`syncproxy_http_errors_total{code="UNAUTHORIZED",status="401"} 1`,
		`syncproxy_http_errors_total{code="FORBIDDEN",status="403"} 1`,
		`syncproxy_db_pool_max_connections`,
		`syncproxy_db_pool_acquired_connections`,
		`syncproxy_http_request_duration_seconds_bucket{method="POST",route="/api/sync/push",status="200"`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if t.Failed() {
		t.Logf("/metrics (syncproxy_ lines):\n%s", limGrep(text, "syncproxy_"))
	}

	// The access log carries the contractor and the row counts of the push.
	entry := limLogEntry(t, logs, first.Header.Get("X-Request-Id"))
	for k, want := range map[string]any{
		"route": "/api/sync/push", "status": 200.0, "contractor_id": d.ContractorID.String(),
		"sync_op": "push", "rows_upserted": 2.0, "rows_deduped": 1.0,
	} {
		if entry[k] != want {
			t.Errorf("access log %s = %v, want %v (entry %v)", k, entry[k], want, entry)
		}
	}
	if _, ok := entry["duration_ms"].(float64); !ok {
		t.Errorf("access log has no duration_ms: %v", entry)
	}
	if up, _ := entry["upserted"].(map[string]any); up["costbook_items"] != 1.0 || up["estimates"] != 1.0 {
		t.Errorf("access log per-table counts = %v", entry["upserted"])
	}
	pulled := limLogEntry(t, logs, pull.Header.Get("X-Request-Id"))
	if pulled["sync_op"] != "pull" || pulled["rows_upserted"] != 3.0 {
		t.Errorf("pull access log = %v, want sync_op pull with 3 rows", pulled)
	}
	for _, secret := range []string{d.Token, stranger, devicetest.Secret} {
		if strings.Contains(logs.String(), secret) {
			t.Fatal("a token or the secret reached the log")
		}
	}
}

// limLogEntry finds the access-log line of a request id.
func limLogEntry(t *testing.T, logs *testenv.LogBuffer, requestID string) map[string]any {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var entry map[string]any
		if json.Unmarshal(sc.Bytes(), &entry) == nil && entry["msg"] == "request" && entry["request_id"] == requestID {
			return entry
		}
	}
	t.Fatalf("no access log line for request %s", requestID)
	return nil
}

func limGrep(text, substr string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestJWKS_EndToEnd_WithHS256: an identity provider's ES256 tokens (keys from
// a local JWKS endpoint) and HS256 tokens work side by side; an unknown kid
// is a 401.
func TestJWKS_EndToEnd_WithHS256(t *testing.T) {
	t.Parallel()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	point, err := key.PublicKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"keys":[{"kty":"EC","crv":"P-256","kid":"idp-1","use":"sig","alg":"ES256","x":%q,"y":%q}]}`,
			enc(point[1:33]), enc(point[33:]))
	}))
	t.Cleanup(jwks.Close)
	cfg := env.DefaultConfig(t, map[string]string{"SYNC_JWKS_URL": jwks.URL + "/auth/v1/.well-known/jwks.json"})
	keys, err := auth.NewKeySet(t.Context(), auth.KeySetOptions{URL: cfg.JWKSURL, MinRefetch: cfg.JWKSMinRefetch, FetchTimeout: cfg.JWKSFetchTimeout})
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := auth.New(auth.Options{HS256Secret: cfg.JWTSecret, KeySet: keys})
	if err != nil {
		t.Fatal(err)
	}
	base, logs := env.Listen(t, cfg, env.Pool, verifier)
	d := env.NewTenant(t)
	es256 := func(kid string) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
			"sub": d.UserID.String(), "aud": "authenticated", "exp": time.Now().Add(time.Hour).Unix(),
		})
		tok.Header["kid"] = kid
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for name, token := range map[string]string{"ES256 via JWKS": es256("idp-1"), "HS256": d.Token} {
		r := limDo(t, base, http.MethodGet, "/api/sync/canary", token, nil)
		if r.Status != http.StatusOK || !bytes.Contains(r.Body, []byte(d.ContractorID.String())) {
			t.Fatalf("%s canary = %d %s", name, r.Status, r.Body)
		}
	}
	unknown := es256("idp-2")
	e := limDo(t, base, http.MethodGet, "/api/sync/canary", unknown, nil).Envelope(t, http.StatusUnauthorized, "UNAUTHORIZED")
	if !strings.Contains(e.Message, "unknown signing key") {
		t.Fatalf("message = %q", e.Message)
	}
	if strings.Contains(logs.String(), unknown) {
		t.Fatal("token in the log")
	}
}

// TestIdempotencyKeys_ExpiredArePurged runs the real Serve loop with a short
// purge interval: keys older than the TTL are deleted, fresh ones kept.
func TestIdempotencyKeys_ExpiredArePurged(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
	ctx := context.Background()
	const insert = `INSERT INTO idempotency_keys (contractor_id, key, request_hash, response, created_at)
		VALUES ($1, $2, '\x00', '{}', clock_timestamp() - $3::interval)`
	if _, err := env.Pool.Exec(ctx, insert, d.ContractorID, "expired", "3 hours"); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Pool.Exec(ctx, insert, d.ContractorID, "fresh", "1 minute"); err != nil {
		t.Fatal(err)
	}
	cfg := env.DefaultConfig(t, map[string]string{"SYNC_IDEMPOTENCY_TTL": "2h", "SYNC_IDEMPOTENCY_PURGE_INTERVAL": "50ms"})
	serveCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- server.Serve(serveCtx, cfg, env.Pool, slog.New(slog.DiscardHandler), nil) }()
	keys := func() []string {
		rows, err := env.Pool.Query(ctx, `SELECT key FROM idempotency_keys WHERE contractor_id = $1 ORDER BY key`, d.ContractorID)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				t.Fatal(err)
			}
			out = append(out, k)
		}
		return out
	}
	deadline := time.Now().Add(10 * time.Second)
	for got := keys(); !(len(got) == 1 && got[0] == "fresh"); got = keys() {
		if time.Now().After(deadline) {
			t.Fatalf("keys = %v, want only the fresh one", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not return after its context was cancelled")
	}
}
