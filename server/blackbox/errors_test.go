package blackbox_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/syncproxy/syncproxy/internal/devicetest"
)

// TestErrors_EveryFailureIsTheEnvelope walks one request per contract status;
// Envelope checks the body shape and that X-Request-Id == requestId.
func TestErrors_EveryFailureIsTheEnvelope(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
	key := map[string]string{"Idempotency-Key": "k-" + uuid.NewString()}
	d.MustPush(map[string]any{})
	d.Push(map[string]any{}, key)
	stranger := env.DeviceFor(t, uuid.New(), uuid.Nil) // a valid token of no member
	cases := []struct {
		name   string
		send   func(d *devicetest.Device) devicetest.Response
		status int
		code   string
	}{
		{"unknown route", func(d *devicetest.Device) devicetest.Response { return d.Do(http.MethodGet, "/nope", nil, nil) }, 404, "NOT_FOUND"},
		{"unknown route under /api/sync", func(d *devicetest.Device) devicetest.Response {
			return d.Do(http.MethodGet, "/api/sync/nope", nil, nil)
		}, 404, "NOT_FOUND"},
		{"unknown route without token", func(d *devicetest.Device) devicetest.Response {
			return d.WithToken("").Do(http.MethodGet, "/api/sync/nope", nil, nil)
		}, 404, "NOT_FOUND"},
		{"GET push", func(d *devicetest.Device) devicetest.Response {
			return d.Do(http.MethodGet, "/api/sync/push", nil, nil)
		}, 405, "METHOD_NOT_ALLOWED"},
		{"DELETE push", func(d *devicetest.Device) devicetest.Response {
			return d.Do(http.MethodDelete, "/api/sync/push", nil, nil)
		}, 405, "METHOD_NOT_ALLOWED"},
		{"POST pull", func(d *devicetest.Device) devicetest.Response {
			return d.Do(http.MethodPost, "/api/sync/pull", map[string]any{}, nil)
		}, 405, "METHOD_NOT_ALLOWED"},
		{"POST healthz", func(d *devicetest.Device) devicetest.Response {
			return d.Do(http.MethodPost, "/healthz", map[string]any{}, nil)
		}, 405, "METHOD_NOT_ALLOWED"},
		{"no token", func(d *devicetest.Device) devicetest.Response { return d.WithToken("").Canary() }, 401, "UNAUTHORIZED"},
		{"no contractor", func(d *devicetest.Device) devicetest.Response {
			return d.WithToken(stranger.Token).Canary()
		}, 403, "FORBIDDEN"},
		{"bad payload", func(d *devicetest.Device) devicetest.Response { return d.Push(`{"costbook_items":[{}]}`) }, 400, "BAD_REQUEST"},
		{"bad query", func(d *devicetest.Device) devicetest.Response { return d.Pull(url.Values{"limit": {"0"}}) }, 400, "BAD_REQUEST"},
		{"too large", func(d *devicetest.Device) devicetest.Response {
			return d.Push(bigPush(int(env.Config.MaxBodyBytes) + 1))
		}, 413, "PAYLOAD_TOO_LARGE"},
		{"not JSON", func(d *devicetest.Device) devicetest.Response {
			return d.Do(http.MethodPost, "/api/sync/push", "a=b", map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
		}, 415, "UNSUPPORTED_MEDIA_TYPE"},
		{"key reused", func(d *devicetest.Device) devicetest.Response {
			return d.Push(map[string]any{"deletes": map[string]any{"costbook_items": []uuid.UUID{uuid.New()}}}, key)
		}, 422, "IDEMPOTENCY_KEY_REUSED"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := tc.send(d.As(t))
			if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type = %q", ct)
			}
			r.Envelope(t, tc.status, tc.code)
		})
	}
}

func TestErrors_InternalFailure_IsEnvelopeAndHidesCause(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
	// Corrupt the tenant's sync clock, which every pull and push needs.
	sqlExec(t, `DELETE FROM sync_clock WHERE contractor_id = $1`, d.ContractorID)
	for _, r := range []devicetest.Response{d.Pull(nil), d.Push(map[string]any{"costbook_items": []any{map[string]any{"id": uuid.New(), "name": "x"}}})} {
		e := r.Envelope(t, http.StatusInternalServerError, "INTERNAL")
		if leak, ok := hasAny(strings.ToLower(e.Message+string(r.Body)), "sync_clock", "no rows", "sql", "contractor "+d.ContractorID.String()); ok {
			t.Fatalf("500 body leaks %q: %s", leak, r.Body)
		}
		if !strings.Contains(env.Logs.String(), e.RequestId) {
			t.Fatalf("request %s not in the server log", e.RequestId)
		}
	}
}

var serverRequestID = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func TestErrors_RequestID_SaneOneEchoedOthersReplaced(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
	sane := "abc-12345678"
	ok := d.Do(http.MethodGet, "/api/sync/canary", nil, map[string]string{"X-Request-Id": sane})
	if got := ok.Header.Get("X-Request-Id"); got != sane {
		t.Fatalf("200 X-Request-Id = %q, want %q", got, sane)
	}
	e := d.Do(http.MethodGet, "/nope", nil, map[string]string{"X-Request-Id": sane}).Envelope(t, 404, "NOT_FOUND")
	if e.RequestId != sane {
		t.Fatalf("404 requestId = %q, want %q", e.RequestId, sane)
	}
	if r := d.Canary(); !serverRequestID.MatchString(r.Header.Get("X-Request-Id")) {
		t.Fatalf("no client id: server id = %q", r.Header.Get("X-Request-Id"))
	}

	for _, bad := range []string{
		strings.Repeat("a", 65),
		"short",
		`abc-12345678" injected="1`,
		"abc 12345678 with spaces",
		"abc-12345678%0d%0aX-Evil:%201",
		"ünïcödé-12345678",
		"abc-12345678\tTAB",
	} {
		e := d.Do(http.MethodGet, "/nope", nil, map[string]string{"X-Request-Id": bad}).Envelope(t, 404, "NOT_FOUND")
		if !serverRequestID.MatchString(e.RequestId) {
			t.Errorf("X-Request-Id %q: requestId = %q, want a fresh server id", bad, e.RequestId)
		}
	}

	// A newline cannot be sent by a Go client: write the request by hand,
	// with the id folded over two lines.
	id := rawRequestID(t, "GET /api/sync/canary HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+d.Token+
		"\r\nX-Request-Id: abc-12345678\r\n evil-continuation\r\nConnection: close\r\n\r\n")
	t.Logf("folded X-Request-Id answered with %q", id)
	if id != "" && !serverRequestID.MatchString(id) {
		t.Fatalf("folded X-Request-Id came back as %q", id)
	}
	if strings.Contains(env.Logs.String(), "evil-continuation") {
		t.Fatal("a client's malformed request id reached the log")
	}
}

// rawRequestID sends raw over TCP and returns the response's X-Request-Id
// ("" when the HTTP server itself rejected the request, which is also safe).
func rawRequestID(t *testing.T, raw string) string {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(env.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode == http.StatusBadRequest && res.Header.Get("X-Request-Id") == "" {
		return "" // net/http refused the header before our code ran
	}
	if id := res.Header.Get("X-Request-Id"); id == "" {
		t.Fatalf("response %d without X-Request-Id: %s", res.StatusCode, body)
	} else {
		return id
	}
	return ""
}

func TestErrors_HeadOfUnknownRoute_HasRequestID(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
	r := d.Do(http.MethodHead, "/nope", nil, nil)
	if r.Status != http.StatusNotFound || r.Header.Get("X-Request-Id") == "" {
		t.Fatalf("HEAD /nope = %d, X-Request-Id %q", r.Status, r.Header.Get("X-Request-Id"))
	}
}

func TestLogs_NeverContainTokensOrSecrets(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
	claims := goTrueClaims(d.UserID.String())
	claims["exp"] = time.Now().Add(-time.Hour).Unix()
	expired := signToken(t, jwt.SigningMethodHS256, []byte(devicetest.Secret), claims)
	d.MustCanary()
	d.MustPush(map[string]any{"costbook_items": []any{map[string]any{"id": uuid.New(), "name": "x"}}})
	d.MustPull(nil)
	d.Pull(url.Values{"limit": {"0"}})
	d.WithToken(expired).Canary().Envelope(t, 401, "UNAUTHORIZED")
	d.WithToken(d.Token+"x").Canary().Envelope(t, 401, "UNAUTHORIZED")
	d.Do(http.MethodGet, "/nope?access_token="+d.Token, nil, nil)
	d.Do(http.MethodGet, "/api/sync/pull?access_token="+d.Token, nil, nil)

	logs := env.Logs.String()
	if !strings.Contains(logs, d.ContractorID.String()) {
		t.Fatal("the log did not record this test's requests; the check below would prove nothing")
	}
	parts := strings.Split(d.Token, ".")
	if leak, ok := hasAny(logs, d.Token, expired, parts[1], parts[2], devicetest.Secret); ok {
		t.Fatalf("the server log contains a secret: %q", leak)
	}
}
