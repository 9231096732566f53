package server_test

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

	"github.com/syncproxy/syncproxy/internal/testenv"
	"github.com/syncproxy/syncproxy/server"
	"github.com/syncproxy/syncproxy/server/auth"
	"github.com/syncproxy/syncproxy/server/config"
	"github.com/syncproxy/syncproxy/server/middleware"
	"github.com/syncproxy/syncproxy/server/pgtx"
	"github.com/syncproxy/syncproxy/server/tenant"
)

// limConfig is the harness configuration with vars on top.
func limConfig(t *testing.T, vars map[string]string) config.Config {
	t.Helper()
	base := map[string]string{
		"DATABASE_URL":    env.cfg.DatabaseURL,
		"SYNC_JWT_SECRET": testSecret,
		"SYNC_ADDR":       "127.0.0.1:0",
	}
	cfg, err := testenv.Config(base, vars)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// limServer serves cfg on pool with verifier (HS256 on testSecret if nil)
// and returns its URL and its log.
func limServer(t *testing.T, cfg config.Config, pool *pgtx.Pool, verifier middleware.TokenVerifier) (string, *testenv.LogBuffer) {
	t.Helper()
	if verifier == nil {
		v, err := auth.NewHS256([]byte(testSecret), "")
		if err != nil {
			t.Fatal(err)
		}
		verifier = v
	}
	logs := &testenv.LogBuffer{}
	handler, err := server.New(cfg, pool, verifier, logs.Logger(slog.LevelInfo))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	return srv.URL, logs
}

// limDo sends one request to base as a device with token would, and checks
// the answer against the spec; headers are name, value pairs.
func limDo(t *testing.T, base, method, path, token string, body any, headers ...string) response {
	t.Helper()
	h := map[string]string{}
	for i := 0; i+1 < len(headers); i += 2 {
		h[headers[i]] = headers[i+1]
	}
	return (&device{t: t, token: token, baseURL: base}).do(method, path, body, h)
}

func limItem() map[string]any {
	return map[string]any{"costbook_items": []map[string]any{{"id": uuid.New(), "name": "Drywall", "unit_cost": "12.50"}}}
}

func TestLimits_RateLimitPerContractor_429WithRetryAfter(t *testing.T) {
	t.Parallel()
	cfg := limConfig(t, map[string]string{"SYNC_RATE_LIMIT": "0.1", "SYNC_RATE_BURST": "2"})
	base, _ := limServer(t, cfg, env.pool, nil)
	noisy, quiet := newTenant(t), newTenant(t)

	if r := limDo(t, base, http.MethodGet, "/api/sync/pull", noisy.token, nil); r.status != http.StatusOK {
		t.Fatalf("pull 1 = %d %s", r.status, r.body)
	}
	if r := limDo(t, base, http.MethodPost, "/api/sync/push", noisy.token, limItem()); r.status != http.StatusOK {
		t.Fatalf("push 2 = %d %s", r.status, r.body)
	}
	for _, op := range []struct{ method, path string }{{http.MethodGet, "/api/sync/pull"}, {http.MethodPost, "/api/sync/push"}} {
		var body any
		if op.method == http.MethodPost {
			body = limItem()
		}
		r := limDo(t, base, op.method, op.path, noisy.token, body)
		r.envelope(t, http.StatusTooManyRequests, "RATE_LIMITED")
		secs, err := strconv.Atoi(r.header.Get("Retry-After"))
		if err != nil || secs < 1 || secs > 10 {
			t.Fatalf("%s Retry-After = %q, want 1..10 seconds (one token per 10 s)", op.path, r.header.Get("Retry-After"))
		}
	}
	// Another contractor is not affected. The canary is limited too
	// (contract 1.2): it costs a tenant lookup.
	if r := limDo(t, base, http.MethodGet, "/api/sync/pull", quiet.token, nil); r.status != http.StatusOK {
		t.Fatalf("other tenant's pull = %d %s", r.status, r.body)
	}
	limDo(t, base, http.MethodGet, "/api/sync/canary", noisy.token, nil).envelope(t, http.StatusTooManyRequests, "RATE_LIMITED")
	if r := limDo(t, base, http.MethodGet, "/api/sync/canary", quiet.token, nil); r.status != http.StatusOK {
		t.Fatalf("other tenant's canary = %d %s", r.status, r.body)
	}
	// Nothing of the refused push was written.
	page := noisy.mustPull(nil)
	if len(page.CostbookItems) != 1 {
		t.Fatalf("rows = %d, want only the one accepted push", len(page.CostbookItems))
	}
	metrics := string(limDo(t, base, http.MethodGet, "/metrics", "", nil).body)
	if !strings.Contains(metrics, `syncproxy_http_errors_total{code="RATE_LIMITED",status="429"} 3`) {
		t.Fatalf("429s not counted:\n%s", limGrep(metrics, "syncproxy_http_errors_total"))
	}
}

// TestLimits_RateLimit_SharedByTheContractorsUsers: the budget is the
// contractor's, whichever of its users' devices spends it: two members of
// one team together get one contractor's burst, not one each.
func TestLimits_RateLimit_SharedByTheContractorsUsers(t *testing.T) {
	t.Parallel()
	base, _ := limServer(t, limConfig(t, map[string]string{"SYNC_RATE_LIMIT": "0.1", "SYNC_RATE_BURST": "2"}), env.pool, nil)
	owner, member := uuid.New(), uuid.New()
	c, err := tenant.Create(context.Background(), env.pool, tenant.NewContractor{
		Name:    "Team " + t.Name(),
		Members: []tenant.Member{{AuthUserID: owner, Role: "owner"}, {AuthUserID: member, Role: "member"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	o, m := deviceFor(t, owner, c.ID).onServer(base), deviceFor(t, member, c.ID).onServer(base)
	if r := o.pull(nil); r.status != http.StatusOK {
		t.Fatalf("owner's pull = %d %s", r.status, r.body)
	}
	if r := m.pull(nil); r.status != http.StatusOK {
		t.Fatalf("member's pull = %d %s", r.status, r.body)
	}
	// The burst of two is spent, one request by each user.
	m.pull(nil).envelope(t, http.StatusTooManyRequests, "RATE_LIMITED")
	o.pull(nil).envelope(t, http.StatusTooManyRequests, "RATE_LIMITED")
}

func TestLimits_RateLimitZero_Disables(t *testing.T) {
	t.Parallel()
	base, _ := limServer(t, limConfig(t, map[string]string{"SYNC_RATE_LIMIT": "0", "SYNC_RATE_BURST": "1"}), env.pool, nil)
	d := newTenant(t)
	for i := range 20 {
		if r := limDo(t, base, http.MethodGet, "/api/sync/pull", d.token, nil); r.status != http.StatusOK {
			t.Fatalf("pull %d = %d with the limit off", i, r.status)
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
	cfg := limConfig(t, map[string]string{
		"DATABASE_URL":            fmt.Sprintf("postgres://syncproxy:%s@%s/sync?sslmode=disable", password, ln.Addr()),
		"SYNC_DB_CONNECT_TIMEOUT": "300ms",
		"SYNC_REQUEST_TIMEOUT":    "10s",
	})
	pool, err := server.OpenPool(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	base, logs := limServer(t, cfg, pool, nil)
	d := newTenant(t)
	for _, op := range []struct {
		method, path string
		body         any
	}{{http.MethodGet, "/api/sync/pull", nil}, {http.MethodPost, "/api/sync/push", limItem()}, {http.MethodGet, "/api/sync/canary", nil}} {
		start := time.Now()
		r := limDo(t, base, op.method, op.path, d.token, op.body)
		elapsed := time.Since(start)
		r.envelope(t, http.StatusServiceUnavailable, "UNAVAILABLE")
		if r.header.Get("Retry-After") == "" {
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
		cfg := limConfig(t, nil)
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
	base, logs := limServer(t, limConfig(t, nil), env.pool, nil)
	d := newTenant(t)
	id := uuid.New()
	push := map[string]any{
		"costbook_items": []map[string]any{{"id": id, "name": "first"}, {"id": id, "name": "last wins"}},
		"estimates":      []map[string]any{{"id": uuid.New(), "number": "E-1"}},
	}
	first := limDo(t, base, http.MethodPost, "/api/sync/push", d.token, push, "Idempotency-Key", "k-"+uuid.NewString()[:8])
	if first.status != http.StatusOK {
		t.Fatalf("push = %d %s", first.status, first.body)
	}
	key, body := "replay-"+uuid.NewString(), limItem()
	for range 2 {
		if r := limDo(t, base, http.MethodPost, "/api/sync/push", d.token, body, "Idempotency-Key", key); r.status != http.StatusOK {
			t.Fatalf("idempotent push = %d %s", r.status, r.body)
		}
	}
	if r := limDo(t, base, http.MethodPost, "/api/sync/push", d.token,
		map[string]any{"deletes": map[string]any{"costbook_items": []uuid.UUID{id}}}); r.status != http.StatusOK {
		t.Fatalf("delete push = %d %s", r.status, r.body)
	}
	pull := limDo(t, base, http.MethodGet, "/api/sync/pull", d.token, nil)
	if pull.status != http.StatusOK {
		t.Fatalf("pull = %d", pull.status)
	}
	limDo(t, base, http.MethodPost, "/api/sync/push", d.token, map[string]any{"costbook_items": []map[string]any{{"name": "no id"}}}).
		envelope(t, http.StatusBadRequest, "BAD_REQUEST")
	limDo(t, base, http.MethodGet, "/api/sync/pull", "not-a-jwt", nil).envelope(t, http.StatusUnauthorized, "UNAUTHORIZED")
	stranger, err := testenv.Token(testSecret, uuid.New())
	if err != nil {
		t.Fatal(err)
	}
	limDo(t, base, http.MethodGet, "/api/sync/pull", stranger, nil).envelope(t, http.StatusForbidden, "FORBIDDEN")

	text := string(limDo(t, base, http.MethodGet, "/metrics", "", nil).body)
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
	entry := limLogEntry(t, logs, first.header.Get("X-Request-Id"))
	for k, want := range map[string]any{
		"route": "/api/sync/push", "status": 200.0, "contractor_id": d.contractorID.String(),
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
	pulled := limLogEntry(t, logs, pull.header.Get("X-Request-Id"))
	if pulled["sync_op"] != "pull" || pulled["rows_upserted"] != 3.0 {
		t.Errorf("pull access log = %v, want sync_op pull with 3 rows", pulled)
	}
	for _, secret := range []string{d.token, stranger, testSecret} {
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
	cfg := limConfig(t, map[string]string{"SYNC_JWKS_URL": jwks.URL + "/auth/v1/.well-known/jwks.json"})
	keys, err := auth.NewKeySet(t.Context(), auth.KeySetOptions{URL: cfg.JWKSURL, MinRefetch: cfg.JWKSMinRefetch, FetchTimeout: cfg.JWKSFetchTimeout})
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := auth.New(auth.Options{HS256Secret: cfg.JWTSecret, KeySet: keys})
	if err != nil {
		t.Fatal(err)
	}
	base, logs := limServer(t, cfg, env.pool, verifier)
	d := newTenant(t)
	es256 := func(kid string) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
			"sub": d.userID.String(), "aud": "authenticated", "exp": time.Now().Add(time.Hour).Unix(),
		})
		tok.Header["kid"] = kid
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for name, token := range map[string]string{"ES256 via JWKS": es256("idp-1"), "HS256": d.token} {
		r := limDo(t, base, http.MethodGet, "/api/sync/canary", token, nil)
		if r.status != http.StatusOK || !bytes.Contains(r.body, []byte(d.contractorID.String())) {
			t.Fatalf("%s canary = %d %s", name, r.status, r.body)
		}
	}
	unknown := es256("idp-2")
	e := limDo(t, base, http.MethodGet, "/api/sync/canary", unknown, nil).envelope(t, http.StatusUnauthorized, "UNAUTHORIZED")
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
	d := newTenant(t)
	ctx := context.Background()
	const insert = `INSERT INTO idempotency_keys (contractor_id, key, request_hash, response, created_at)
		VALUES ($1, $2, '\x00', '{}', clock_timestamp() - $3::interval)`
	if _, err := env.pool.Exec(ctx, insert, d.contractorID, "expired", "3 hours"); err != nil {
		t.Fatal(err)
	}
	if _, err := env.pool.Exec(ctx, insert, d.contractorID, "fresh", "1 minute"); err != nil {
		t.Fatal(err)
	}
	cfg := limConfig(t, map[string]string{"SYNC_IDEMPOTENCY_TTL": "2h", "SYNC_IDEMPOTENCY_PURGE_INTERVAL": "50ms"})
	serveCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- server.Serve(serveCtx, cfg, env.pool, slog.New(slog.DiscardHandler), nil) }()
	keys := func() []string {
		rows, err := env.pool.Query(ctx, `SELECT key FROM idempotency_keys WHERE contractor_id = $1 ORDER BY key`, d.contractorID)
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
