package blackbox_test

// Hostile input, round 2: what a client can hold open on the server, with
// or without a token: header bytes, connections, push bodies in flight, and
// a client that goes away mid-request.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/syncproxy/syncproxy/internal/devicetest"
)

// TestHostile_HeadersOver64KiB_431HeadersTooLarge: a 200 KiB header was a
// 200 (net/http's default bound is 1 MiB per connection, and 250 slow
// connections of 1 MB headers held 436 MiB), and the 431 above that said
// BAD_REQUEST. Headers are bounded at SYNC_MAX_HEADER_BYTES (64 KiB), and
// the answer's code is HEADERS_TOO_LARGE.
func TestHostile_HeadersOver64KiB_431HeadersTooLarge(t *testing.T) {
	t.Parallel()
	addr, _ := env.Serve(t, env.DefaultConfig(t, nil), nil)
	d := env.NewTenant(t)
	// 200 KiB: net/http answers once it has read the bound plus 4 KiB of
	// slop; the rest of the header is never read. The client sends it all
	// first (a reset is a client's problem, not the server's), so the
	// request is written on a raw connection and the answer read after.
	conn := dial(t, addr)
	req := "GET /api/sync/canary HTTP/1.1\r\nHost: syncproxy\r\nAuthorization: Bearer " + d.Token + "\r\nX-Big: "
	go func() { io.WriteString(conn, req+strings.Repeat("a", 200<<10)+"\r\n\r\n") }() //nolint:errcheck // the server stops reading
	r := readRaw(t, conn)
	e := r.Envelope(t, http.StatusRequestHeaderFieldsTooLarge, "HEADERS_TOO_LARGE")
	if !strings.Contains(e.Message, "64") {
		t.Errorf("message %q does not give the bound", e.Message)
	}
	// 60 KiB of headers is still served.
	conn = dial(t, addr)
	write(t, conn, req+strings.Repeat("a", 60<<10)+"\r\n\r\n")
	if r := readRaw(t, conn); r.Status != http.StatusOK {
		t.Fatalf("a 60 KiB header = %d %s", r.Status, r.Body)
	}
}

// TestHostile_OpenConnections_Bounded: nothing bounded how many connections
// the server held open. With SYNC_MAX_CONNECTIONS reached, a new connection
// waits (in the kernel's accept queue) until one closes, and is then served.
func TestHostile_OpenConnections_Bounded(t *testing.T) {
	t.Parallel()
	addr, _ := env.Serve(t, env.DefaultConfig(t, map[string]string{"SYNC_MAX_CONNECTIONS": "2"}), nil)
	get := "GET /healthz HTTP/1.1\r\nHost: syncproxy\r\n\r\n"
	// Two keep-alive connections, each served once and held open.
	held := []net.Conn{dial(t, addr), dial(t, addr)}
	readers := make([]*bufio.Reader, len(held))
	for i, c := range held {
		readers[i] = bufio.NewReader(c)
		write(t, c, get)
		if res := readOn(t, c, readers[i]); res.StatusCode != http.StatusOK {
			t.Fatalf("held connection %d: %d", i, res.StatusCode)
		}
	}
	third := dial(t, addr)
	write(t, third, get)
	// The held connections are still served: the server is responsive, so
	// an answer on the third would have arrived by the time this one does.
	write(t, held[0], get)
	if res := readOn(t, held[0], readers[0]); res.StatusCode != http.StatusOK {
		t.Fatalf("held connection again: %d", res.StatusCode)
	}
	if err := third.SetReadDeadline(time.Now().Add(500 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if n, err := third.Read(make([]byte, 1)); n > 0 || err == nil {
		t.Fatal("a third connection was served while SYNC_MAX_CONNECTIONS=2 were open")
	}
	// One closes: the third is served.
	held[1].Close()
	if err := third.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	if r := readRaw(t, third); r.Status != http.StatusOK {
		t.Fatalf("the waiting connection got %d once a slot freed", r.Status)
	}
}

func readOn(t *testing.T, conn net.Conn, r *bufio.Reader) *http.Response {
	t.Helper()
	if err := conn.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, res.Body); err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res
}

// TestHostile_PushBodiesInFlight_BoundedPerContractorAndInAll: 100
// concurrent 8 MiB pushes of one token held 591 MiB; nothing bounded the
// bytes of push bodies being read at once. A push reserves its body's bytes
// before reading it: past SYNC_MAX_PUSH_BYTES_IN_FLIGHT_PER_CONTRACTOR it is
// a 429, past SYNC_MAX_PUSH_BYTES_IN_FLIGHT (all contractors) a 503, both
// with Retry-After; another contractor is not affected by the first bound.
func TestHostile_PushBodiesInFlight_BoundedPerContractorAndInAll(t *testing.T) {
	t.Parallel()
	const bodyBytes = 64 << 10
	base, _ := env.Listen(t, env.DefaultConfig(t, map[string]string{
		"SYNC_MAX_BODY_BYTES":                          fmt.Sprint(bodyBytes),
		"SYNC_MAX_PUSH_BYTES_IN_FLIGHT_PER_CONTRACTOR": fmt.Sprint(bodyBytes),
		"SYNC_MAX_PUSH_BYTES_IN_FLIGHT":                fmt.Sprint(2 * bodyBytes),
		"SYNC_RATE_LIMIT":                              "0",
	}), env.Pool, nil)
	a, b, c := env.NewTenant(t).On(base), env.NewTenant(t).On(base), env.NewTenant(t).On(base)
	// hold sends a push of n bytes whose body stops after its first bytes:
	// the server reserved n and waits for the rest.
	hold := func(d *devicetest.Device, n int) net.Conn {
		conn := dial(t, strings.TrimPrefix(base, "http://"))
		write(t, conn, fmt.Sprintf("POST /api/sync/push HTTP/1.1\r\nHost: syncproxy\r\nAuthorization: Bearer %s\r\n"+
			"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n{\"costbook_items\":[", d.Token, n))
		return conn
	}
	small := limItem()
	heldA := hold(a, 65_500)
	awaitGauge(t, base, "syncproxy_sync_push_bytes_in_flight", 65_500)
	r := a.Push(small)
	r.Envelope(t, http.StatusTooManyRequests, "RATE_LIMITED")
	assertRetryAfter(t, r)
	if r := b.Push(small); r.Status != http.StatusOK {
		t.Fatalf("another contractor's push = %d %s", r.Status, r.Body)
	}
	heldB := hold(b, 65_500)
	awaitGauge(t, base, "syncproxy_sync_push_bytes_in_flight", 131_000)
	r = c.Push(map[string]any{"costbook_items": []any{map[string]any{"id": uuid.New(), "name": strings.Repeat("n", 20_000)}}})
	r.Envelope(t, http.StatusServiceUnavailable, "UNAVAILABLE")
	assertRetryAfter(t, r)
	// The held bodies end (the clients go away): their bytes are free again.
	heldA.Close()
	heldB.Close()
	awaitGauge(t, base, "syncproxy_sync_push_bytes_in_flight", 0)
	for _, d := range []*devicetest.Device{a, b, c} {
		d.MustPush(small)
	}
}

func assertRetryAfter(t *testing.T, r devicetest.Response) {
	t.Helper()
	if secs, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || secs < 1 {
		t.Fatalf("Retry-After = %q, want whole seconds", r.Header.Get("Retry-After"))
	}
}

// awaitGauge waits until the gauge name at base's /metrics reads want.
func awaitGauge(t *testing.T, base, name string, want float64) {
	t.Helper()
	line := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`)
	got := "absent"
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		m := line.FindStringSubmatch(string(limDo(t, base, http.MethodGet, "/metrics", "", nil).Body))
		if m == nil {
			continue
		}
		got = m[1]
		if v, err := strconv.ParseFloat(m[1], 64); err == nil && v == want {
			return
		}
	}
	t.Fatalf("%s = %s, want %v", name, got, want)
}

// TestHostile_ClientGoneMidRequest_NotAServerError: a client that closed its
// side while its request waited on the database got a 503, logged at ERROR
// and counted as a 5xx: a false alert for every dropped mobile connection.
// It is logged at info and counted as 499 CLIENT_CLOSED_REQUEST.
func TestHostile_ClientGoneMidRequest_NotAServerError(t *testing.T) {
	t.Parallel()
	base, logs := env.Listen(t, env.DefaultConfig(t, map[string]string{"SYNC_RATE_LIMIT": "0"}), env.Pool, nil)
	d := env.NewTenant(t)
	// Another session holds the contractor's clock row: the push waits.
	ctx := context.Background()
	tx, err := env.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // released at the end either way
	if _, err := tx.Exec(ctx, `SELECT seq FROM sync_clock WHERE contractor_id = $1 FOR UPDATE`, d.ContractorID); err != nil {
		t.Fatal(err)
	}
	requestID := "gone-" + uuid.NewString()[:8]
	reqCtx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(reqCtx, http.MethodPost, base+"/api/sync/push", strings.NewReader(string(mustJSON(t, limItem()))))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+d.Token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Request-Id", requestID)
	done := make(chan error, 1)
	go func() {
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			res.Body.Close()
		}
		done <- err
	}()
	env.AwaitLockWaiters(t, 1, "name: AdvanceClock") // the push, on the clock row held above
	cancel()                                         // the device hangs up
	<-done
	lines := waitForAccessLog(t, logs, requestID)
	for _, l := range lines {
		if l["level"] == "ERROR" {
			t.Fatalf("a client gone mid-request was logged as an error: %v", l)
		}
		if l["msg"] == "request" && l["status"] != 499.0 {
			t.Fatalf("access log status = %v, want 499", l["status"])
		}
	}
	tx.Rollback(ctx) //nolint:errcheck // let the clock go
	metrics := string(limDo(t, base, http.MethodGet, "/metrics", "", nil).Body)
	errs := limGrep(metrics, `syncproxy_http_errors_total{`)
	if strings.Contains(errs, `status="5`) || !strings.Contains(errs, `code="CLIENT_CLOSED_REQUEST",status="499"} 1`) {
		t.Fatalf("errors counted as:\n%s\nwant one 499 CLIENT_CLOSED_REQUEST and no 5xx", errs)
	}
}
