package blackbox_test

// Compression both ways (contract 1.1, "Clients that already exist"):
// URLSession sends Accept-Encoding: gzip on every request and a 1,000-row
// page went out as ~300 KB of plain JSON; a gzip request body was rejected
// as malformed JSON. These tests look at the bytes on the wire: Go's
// transport would otherwise add Accept-Encoding itself and hide the
// compression by undoing it.

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/syncproxy/syncproxy/gen/api"
	"github.com/syncproxy/syncproxy/internal/devicetest"
	"github.com/syncproxy/syncproxy/internal/testenv"
)

// wireClient sends requests exactly as built and returns bodies exactly as
// sent: no Accept-Encoding added, nothing decompressed.
var wireClient = &http.Client{Transport: &http.Transport{DisableCompression: true}}

// wireResponse is a response as it crossed the wire (sent) and as a client
// reads it (body: gunzipped when Content-Encoding is gzip, and checked
// against the spec).
type wireResponse struct {
	devicetest.Response
	sent    []byte
	gzipped bool
}

// onWire sends a request of d through the generated client like Do, over
// wireClient. A body is sent as application/json; a reader that is not a
// *bytes.Reader goes out chunked. Every response must say Vary:
// Accept-Encoding, and a Content-Length must count the bytes sent.
func onWire(t *testing.T, d *devicetest.Device, method, path string, body io.Reader, headers map[string]string) wireResponse {
	t.Helper()
	base := d.URL
	contentType := ""
	if body != nil {
		contentType = "application/json"
	}
	res, err := testenv.Do(context.Background(), testenv.NewClient(base, d.Token, wireClient),
		method, path, contentType, body, testenv.Headers(headers))
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	sent, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	r := wireResponse{Response: devicetest.Response{Status: res.StatusCode, Header: res.Header, Body: sent}, sent: sent}
	switch ce := res.Header.Get("Content-Encoding"); ce {
	case "":
	case "gzip":
		r.gzipped = true
		r.Body = gunzip(t, sent)
	default:
		t.Fatalf("%s %s: Content-Encoding %q", method, path, ce)
	}
	if cl := res.Header.Get("Content-Length"); cl != "" && cl != strconv.Itoa(len(sent)) {
		t.Fatalf("%s %s: Content-Length %s, but %d bytes were sent", method, path, cl, len(sent))
	}
	if !varies(res.Header) {
		t.Fatalf("%s %s → %d: Vary %q does not list Accept-Encoding", method, path, res.StatusCode, res.Header.Values("Vary"))
	}
	env.CheckResponse(t, res.Request, r.Response)
	return r
}

func varies(h http.Header) bool {
	for _, v := range h.Values("Vary") {
		for _, f := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(f), "Accept-Encoding") {
				return true
			}
		}
	}
	return false
}

// gzipped compresses b with the standard library (not the server's gzip).
func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("response says gzip but is not: %v", err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("response says gzip but is not: %v", err)
	}
	return out
}

// itemRows are n costbook_items rows with every column a client sends.
func itemRows(n int) []map[string]any {
	rows := make([]map[string]any, n)
	for i := range rows {
		rows[i] = map[string]any{
			"id": uuid.New(), "name": fmt.Sprintf("Drywall sheet %d", i), "description": "Moisture resistant, 1/2 in",
			"unit": "each", "unit_cost": fmt.Sprintf("%d.50", 10+i%90), "markup_percent": "15.00",
			"sku": fmt.Sprintf("DW-%05d", i), "taxable": i%3 > 0,
		}
	}
	return rows
}

// withoutServerTime is a pull page's members but serverTime (the only one
// that moves between two pulls of unchanged data).
func withoutServerTime(t *testing.T, body []byte) map[string]string {
	t.Helper()
	var page map[string]json.RawMessage
	if err := json.Unmarshal(body, &page); err != nil {
		t.Fatalf("decode page: %v", err)
	}
	out := map[string]string{}
	for k, v := range page {
		if k != "serverTime" {
			out[k] = string(v)
		}
	}
	return out
}

// TestCompression_PullWithAcceptEncodingGzip_SameJSONGzipped: the page a
// plain pull returns, byte for byte, comes gzip-compressed to a client that
// asks for it, at a fraction of the size.
func TestCompression_PullWithAcceptEncodingGzip_SameJSONGzipped(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
	d.MustPush(map[string]any{"costbook_items": itemRows(500)})
	const pull = "/api/sync/pull?limit=1000"

	plain := onWire(t, d, http.MethodGet, pull, nil, nil)
	if plain.Status != http.StatusOK || plain.gzipped {
		t.Fatalf("plain pull = %d, gzipped %v", plain.Status, plain.gzipped)
	}
	want := withoutServerTime(t, plain.Body)
	for _, ae := range []string{"gzip", "gzip, deflate, br"} { // the second is URLSession's
		z := onWire(t, d, http.MethodGet, pull, nil, map[string]string{"Accept-Encoding": ae})
		if z.Status != http.StatusOK || !z.gzipped {
			t.Fatalf("Accept-Encoding %q: pull = %d, gzipped %v", ae, z.Status, z.gzipped)
		}
		if len(z.sent)*3 > len(z.Body) {
			t.Errorf("Accept-Encoding %q: %d bytes sent for a %d-byte page", ae, len(z.sent), len(z.Body))
		}
		if got := withoutServerTime(t, z.Body); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("Accept-Encoding %q: the gzipped page differs from the plain one", ae)
		}
	}

	// The rest of the suite talks through Go's default transport, which asks
	// for gzip on its own and decodes it: its spec checks see decoded JSON.
	req, err := http.NewRequest(http.MethodGet, env.URL+pull, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+d.Token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r, err := testenv.ReadResponse(res)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Uncompressed {
		t.Error("Go's default transport got the page uncompressed")
	}
	if got := withoutServerTime(t, r.Body); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatal("the page Go's transport decoded differs from the plain one")
	}
}

// TestCompression_AcceptEncoding_Negotiated: q-values, identity and the
// wildcard decide, as RFC 9110 12.5.3 says; whatever the choice, the body is
// the page.
func TestCompression_AcceptEncoding_Negotiated(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
	d.MustPush(map[string]any{"costbook_items": itemRows(50)})
	cases := []struct {
		acceptEncoding string // "" sends none
		gzip           bool
	}{
		{"", false},
		{"gzip", true},
		{"GZip", true},
		{"deflate, gzip;q=0.5, br", true},
		{"gzip;q=0.001", true},
		{"*", true},
		{"br, *;q=0.1", true},
		{"identity", false},
		{"gzip;q=0", false},
		{"gzip;q=0.000", false},
		{"gzip;q=0, *", false}, // naming gzip outranks the wildcard
		{"*;q=0", false},
		{"identity;q=1, *;q=0", false},
		{"deflate, br", false},
	}
	var want map[string]string
	for _, tc := range cases {
		r := onWire(t, d, http.MethodGet, "/api/sync/pull", nil, map[string]string{"Accept-Encoding": tc.acceptEncoding})
		if r.Status != http.StatusOK {
			t.Fatalf("Accept-Encoding %q: pull = %d: %s", tc.acceptEncoding, r.Status, devicetest.Truncate(r.Body))
		}
		if r.gzipped != tc.gzip {
			t.Errorf("Accept-Encoding %q: gzipped = %v, want %v", tc.acceptEncoding, r.gzipped, tc.gzip)
		}
		got := withoutServerTime(t, r.Body)
		if want == nil {
			want = got
		} else if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("Accept-Encoding %q: another page", tc.acceptEncoding)
		}
	}
}

// TestCompression_SmallBodiesPlain_LargeErrorsGzipped: a body under ~1 KiB
// goes out plain (gzip would only add to it); an error envelope is a body
// like any other, so a 400 with fifty details is compressed.
func TestCompression_SmallBodiesPlain_LargeErrorsGzipped(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
	ask := map[string]string{"Accept-Encoding": "gzip"}

	canary := onWire(t, d, http.MethodGet, "/api/sync/canary", nil, ask)
	if canary.Status != http.StatusOK || canary.gzipped {
		t.Fatalf("canary = %d (%d bytes), gzipped %v", canary.Status, len(canary.Body), canary.gzipped)
	}
	unauthorized := onWire(t, d.WithToken(""), http.MethodGet, "/api/sync/pull", nil, ask)
	unauthorized.Envelope(t, http.StatusUnauthorized, "UNAUTHORIZED")
	if unauthorized.gzipped {
		t.Fatalf("a %d-byte envelope was gzipped", len(unauthorized.Body))
	}
	empty := onWire(t, d, http.MethodGet, "/api/sync/pull", nil, ask)
	if empty.Status != http.StatusOK || len(empty.Body) >= 1024 || empty.gzipped {
		t.Fatalf("empty pull = %d (%d bytes), gzipped %v", empty.Status, len(empty.Body), empty.gzipped)
	}

	invalid := `{"costbook_items":[` + strings.Repeat(`{"name":42},`, 99) + `{"name":42}]}`
	r := onWire(t, d, http.MethodPost, "/api/sync/push", strings.NewReader(invalid), ask)
	e := r.Envelope(t, http.StatusBadRequest, "BAD_REQUEST")
	if !r.gzipped || len(r.Body) < 1024 {
		t.Fatalf("a %d-byte envelope with %d details: gzipped %v", len(r.Body), len(e.Details), r.gzipped)
	}
}

// TestCompression_GzipPush_AppliedLikePlain: a push sent with
// Content-Encoding: gzip is the push its JSON says: the same rows stored as
// by the plain push, and the same body for its Idempotency-Key.
func TestCompression_GzipPush_AppliedLikePlain(t *testing.T) {
	t.Parallel()
	rows := itemRows(200)
	body := mustJSON(t, map[string]any{"costbook_items": rows})
	key := uuid.NewString()

	zipped := env.NewTenant(t)
	first := onWire(t, zipped, http.MethodPost, "/api/sync/push", bytes.NewReader(gzipped(t, body)),
		map[string]string{"Content-Encoding": "gzip", "Idempotency-Key": key, "Accept-Encoding": "gzip"})
	if first.Status != http.StatusOK {
		t.Fatalf("gzip push = %d: %s", first.Status, devicetest.Truncate(first.Body))
	}
	var res api.SyncPushResponse
	first.Decode(t, &res)
	if n := res.Upserted.CostbookItems; n != len(rows) {
		t.Fatalf("upserted %d costbook_items, want %d", n, len(rows))
	}
	// The same key with the same JSON, uncompressed: a replay, so the server
	// stored the push under the bytes it decompressed (another body is a 422).
	replay := onWire(t, zipped, http.MethodPost, "/api/sync/push", bytes.NewReader(body), map[string]string{"Idempotency-Key": key})
	if replay.Status != http.StatusOK || !testenv.JSONEqual(replay.Body, first.Body) {
		t.Fatalf("plain replay of the gzip push = %d: %s\nfirst: %s", replay.Status, devicetest.Truncate(replay.Body), devicetest.Truncate(first.Body))
	}

	plain := env.NewTenant(t)
	plain.MustPush(json.RawMessage(body))
	if got, want := storedItems(t, zipped), storedItems(t, plain); got != want {
		t.Fatalf("the gzip push stored\n%s\nthe plain one\n%s", devicetest.Truncate([]byte(got)), devicetest.Truncate([]byte(want)))
	}

	// x-gzip is gzip's old name (RFC 9110 8.4.1.3); identity is no coding.
	for _, coding := range []string{"x-gzip", "identity"} {
		more := mustJSON(t, map[string]any{"costbook_items": itemRows(3)})
		if coding != "identity" {
			more = gzipped(t, more)
		}
		r := onWire(t, zipped, http.MethodPost, "/api/sync/push", bytes.NewReader(more), map[string]string{"Content-Encoding": coding})
		if r.Status != http.StatusOK {
			t.Fatalf("Content-Encoding %s: push = %d: %s", coding, r.Status, devicetest.Truncate(r.Body))
		}
	}
}

// storedItems is d's costbook_items as a pull returns them, without what
// the server sets per tenant and per write, sorted by id.
func storedItems(t *testing.T, d *devicetest.Device) string {
	t.Helper()
	rows := d.PullRows("costbook_items")
	out := make([]string, len(rows))
	for i, row := range rows {
		for _, k := range []string{"contractor_id", "created_at", "updated_at", "sync_version"} {
			delete(row, k)
		}
		out[i] = string(mustJSON(t, row))
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// TestCompression_GzipBomb_413AfterTheLimit: SYNC_MAX_BODY_BYTES bounds the
// decompressed body as it bounds the compressed one. 64 MiB that gzip to
// ~64 KB are refused once the limit (1 MiB here) has come out, with the
// memory of reading 1 MiB, not 64. Not parallel: the allocation figure is
// the process's.
func TestCompression_GzipBomb_413AfterTheLimit(t *testing.T) {
	d := env.NewTenant(t)
	limit := int(env.Config.MaxBodyBytes)
	before := d.State()

	bomb := func(prefix string, fill byte, size int, suffix string) []byte {
		var buf bytes.Buffer
		zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		if err != nil {
			t.Fatal(err)
		}
		chunk := bytes.Repeat([]byte{fill}, 64<<10)
		io.WriteString(zw, prefix)
		for range size / len(chunk) {
			zw.Write(chunk)
		}
		io.WriteString(zw, suffix)
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	cases := []struct {
		name string
		body []byte
	}{
		{"10 MB of zeros", bomb("", 0, 10<<20, "")},
		{"a 64 MiB name", bomb(fmt.Sprintf(`{"costbook_items":[{"id":%q,"name":"`, uuid.New()), 'a', 64<<20, `"}]}`)},
	}
	for _, tc := range cases {
		if len(tc.body) > limit/8 {
			t.Fatalf("%s: the bomb is %d bytes compressed, meant to be far under the limit", tc.name, len(tc.body))
		}
		var r wireResponse
		alloc := allocatedDuring(func() {
			r = onWire(t, d, http.MethodPost, "/api/sync/push", bytes.NewReader(tc.body), map[string]string{"Content-Encoding": "gzip"})
		})
		t.Logf("%s: %d bytes gzipped, %d KiB allocated answering it", tc.name, len(tc.body), alloc>>10)
		e := r.Envelope(t, http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE")
		if !strings.Contains(e.Message, "decompressed") || !strings.Contains(e.Message, strconv.Itoa(limit)) {
			t.Errorf("%s: message %q does not say the decompressed body is over %d bytes", tc.name, e.Message, limit)
		}
		// Reading the limit into memory costs about twice the limit (the
		// buffer doubles as it fills; -race instrumentation doubles it
		// again); a bomb read whole would cost 20 to 128 times the limit.
		if alloc > uint64(8*limit) {
			t.Errorf("%s (%d bytes gzipped): the process allocated %d KiB answering it, want at most %d KiB",
				tc.name, len(tc.body), alloc>>10, 8*limit>>10)
		}
	}

	// The limit itself: a push of exactly SYNC_MAX_BODY_BYTES once
	// decompressed is taken, one byte more is not.
	push := fmt.Sprintf(`{"costbook_items":[{"id":%q,"name":"At the limit"}]}`, uuid.New())
	atLimit := []byte(strings.Repeat(" ", limit-len(push)) + push)
	if r := onWire(t, d, http.MethodPost, "/api/sync/push", bytes.NewReader(gzipped(t, append([]byte(" "), atLimit...))),
		map[string]string{"Content-Encoding": "gzip"}); r.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("limit + 1 byte decompressed: push = %d: %s", r.Status, devicetest.Truncate(r.Body))
	}
	if d.State() != before {
		t.Fatal("a refused push wrote")
	}
	if r := onWire(t, d, http.MethodPost, "/api/sync/push", bytes.NewReader(gzipped(t, atLimit)),
		map[string]string{"Content-Encoding": "gzip"}); r.Status != http.StatusOK {
		t.Fatalf("exactly the limit decompressed: push = %d: %s", r.Status, devicetest.Truncate(r.Body))
	}

	// Compressed bytes over the limit are refused as before, by their
	// Content-Length or, sent chunked, as they are read.
	noise := make([]byte, limit+limit/2)
	rand.Read(noise)
	zippedNoise := gzipped(t, noise)
	for name, body := range map[string]io.Reader{
		"with Content-Length": bytes.NewReader(zippedNoise),
		"chunked":             io.MultiReader(bytes.NewReader(zippedNoise)),
	} {
		t.Run("compressed over the limit "+name, func(t *testing.T) {
			r := onWire(t, d.As(t), http.MethodPost, "/api/sync/push", body, map[string]string{"Content-Encoding": "gzip"})
			r.Envelope(t, http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE")
		})
	}
}

// TestCompression_CorruptGzip_400NamingTheBody: a body that says gzip and
// is not (or breaks off inside its gzip stream while the request itself is
// whole) is the client's 400, in the client's words, and writes nothing.
func TestCompression_CorruptGzip_400NamingTheBody(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
	body := mustJSON(t, map[string]any{"costbook_items": itemRows(20)})
	good := gzipped(t, body)
	flip := func(at int) []byte {
		b := bytes.Clone(good)
		b[at] ^= 0xff
		return b
	}
	cases := []struct {
		name string
		body []byte
	}{
		{"plain JSON", body},
		{"bad magic", flip(0)},
		{"corrupt deflate data", flip(len(good) / 2)},
		{"bad CRC-32", flip(len(good) - 6)},
		{"bad length", flip(len(good) - 2)},
		{"cut before its trailer", good[:len(good)-8]},
		{"cut in its header", good[:5]},
		{"garbage after the stream", append(bytes.Clone(good), "{}"...)},
	}
	for _, tc := range cases {
		r := onWire(t, d, http.MethodPost, "/api/sync/push", bytes.NewReader(tc.body), map[string]string{"Content-Encoding": "gzip"})
		e := r.Envelope(t, http.StatusBadRequest, "BAD_REQUEST")
		if !strings.Contains(e.Message, "gzip") {
			t.Errorf("%s: message %q does not say the gzip body is at fault", tc.name, e.Message)
		}
		if word, ok := hasAny(strings.ToLower(string(r.Body)), "flate", "checksum", "invalid header", "eof", "gzip: "); ok {
			t.Errorf("%s: the envelope speaks Go (%q): %s", tc.name, word, r.Body)
		}
	}
	if n := sqlCount(t, `SELECT count(*) FROM costbook_items WHERE contractor_id = $1`, d.ContractorID); n != 0 {
		t.Fatalf("%d rows written from corrupt bodies", n)
	}
}

// TestCompression_UnknownContentEncoding_415: a body in a coding the server
// cannot undo is a 415 that says which codings it takes (RFC 7694), never a
// 400 about malformed JSON.
func TestCompression_UnknownContentEncoding_415(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
	body := mustJSON(t, map[string]any{"costbook_items": itemRows(1)})
	for _, coding := range []string{"br", "deflate", "zstd", "compress", "gzip, gzip", "gzip, br", "x-custom"} {
		r := onWire(t, d, http.MethodPost, "/api/sync/push", bytes.NewReader(body), map[string]string{"Content-Encoding": coding})
		e := r.Envelope(t, http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE")
		assertDetails(t, e, wantDetail{"", -1, "Content-Encoding"})
		if got := r.Header.Get("Accept-Encoding"); got != "gzip" {
			t.Errorf("Content-Encoding %q: Accept-Encoding = %q, want gzip", coding, got)
		}
	}
	if n := sqlCount(t, `SELECT count(*) FROM costbook_items WHERE contractor_id = $1`, d.ContractorID); n != 0 {
		t.Fatalf("%d rows written from bodies in unknown codings", n)
	}
}

// TestCompression_BodyBreaksOffMidGzip_400AtWarn: a gzip body that stops
// before its Content-Length is a body that broke off (the client's 400,
// logged at warn), as an uncompressed one is; not corrupt gzip, and not a
// database outage.
func TestCompression_BodyBreaksOffMidGzip_400AtWarn(t *testing.T) {
	t.Parallel()
	addr, logs := env.Serve(t, env.DefaultConfig(t, map[string]string{"SYNC_RATE_LIMIT": "0"}), nil)
	d := env.NewTenant(t)
	zipped := gzipped(t, mustJSON(t, map[string]any{"costbook_items": itemRows(200)}))
	requestID := "broken-gzip-" + uuid.NewString()[:8]
	conn := dial(t, addr)
	write(t, conn, "POST /api/sync/push HTTP/1.1\r\nHost: syncproxy\r\nAuthorization: Bearer "+d.Token+
		"\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: "+strconv.Itoa(len(zipped))+
		"\r\nX-Request-Id: "+requestID+"\r\n\r\n"+string(zipped[:len(zipped)/2]))
	if err := conn.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	r := readRaw(t, conn)
	e := r.Envelope(t, http.StatusBadRequest, "BAD_REQUEST")
	if !strings.Contains(e.Message, "ended early") {
		t.Errorf("message %q does not say the body ended early", e.Message)
	}
	warned := false
	for _, l := range waitForAccessLog(t, logs, requestID) {
		switch {
		case l["level"] == "ERROR":
			t.Fatalf("a gzip body that broke off was logged as an error: %v", l)
		case l["level"] == "WARN":
			warned = true
		}
	}
	if !warned {
		t.Fatal("no warn line for the broken body")
	}
	if n := sqlCount(t, `SELECT count(*) FROM costbook_items WHERE contractor_id = $1`, d.ContractorID); n != 0 {
		t.Fatalf("%d rows written from a broken body", n)
	}
}
