package server_test

// The harness: one real PostgreSQL cluster per test binary (TestMain), one real
// HTTP listener on loopback, and "devices" that talk to it the way an app does.
// Tests isolate by tenant: every test provisions its own contractors.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/syncproxy/syncproxy/gen/api"
	"github.com/syncproxy/syncproxy/internal/pgcluster"
	"github.com/syncproxy/syncproxy/internal/testenv"
	"github.com/syncproxy/syncproxy/migrations"
	"github.com/syncproxy/syncproxy/server"
	"github.com/syncproxy/syncproxy/server/config"
	"github.com/syncproxy/syncproxy/server/pgtx"
)

const testSecret = "test-secret-0123456789abcdef-0123456789"

// jwtShape matches a JWT's header and claims segments (base64url JSON, dot
// separated); cursors are base64url JSON too, but have no dot.
var jwtShape = regexp.MustCompile(`eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.`)

var env struct {
	cluster *pgcluster.Cluster
	pool    *pgtx.Pool
	server  *httptest.Server
	cfg     config.Config
	logs    *testenv.LogBuffer
	// check validates a response against openapi.yaml; doer runs it on every
	// response a device receives.
	check func(*http.Request, testenv.Response) error
	doer  testenv.CheckedDoer
}

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	ctx := context.Background()
	cluster, err := testenv.StartCluster(ctx, "e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, "harness:", err)
		return 1
	}
	defer cluster.Remove()
	// With SYNC_TEST_POOLER=1 (make test-pooler) the whole suite runs behind
	// PgBouncer in transaction mode.
	dbURL, stopPooler, err := testenv.DatabaseURL(ctx, cluster, "e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, "harness:", err)
		return 1
	}
	defer stopPooler()
	cfg, err := testenv.Config(map[string]string{
		"DATABASE_URL":        dbURL,
		"SYNC_JWT_SECRET":     testSecret,
		"SYNC_MAX_BODY_BYTES": "1048576",
		"SYNC_MAX_PUSH_ROWS":  "5000",
		// Rate limiting has its own server in limits_test.go; here it
		// would only make parallel tests flaky.
		"SYNC_RATE_LIMIT": "0",
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "harness:", err)
		return 1
	}
	pool, err := server.OpenPool(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "harness:", err)
		return 1
	}
	defer pool.Close()
	env.logs = &testenv.LogBuffer{}
	// Debug level, so that the JWT check after the run covers every line
	// the server can write.
	logger := env.logs.Logger(slog.LevelDebug)
	if err := migrations.Apply(ctx, pool, logger); err != nil {
		fmt.Fprintln(os.Stderr, "harness:", err)
		return 1
	}
	handler, err := testenv.NewHandler(cfg, pool, logger)
	if err != nil {
		fmt.Fprintln(os.Stderr, "harness:", err)
		return 1
	}
	env.server = httptest.NewServer(handler)
	defer env.server.Close()
	env.cluster, env.pool, env.cfg = cluster, pool, cfg
	if env.check, err = testenv.SpecCheck(); err != nil {
		fmt.Fprintln(os.Stderr, "harness:", err)
		return 1
	}
	env.doer = testenv.CheckedDoer{Doer: http.DefaultClient, Check: env.check}
	code := m.Run()
	// Whatever ran, no bearer token may have reached the server's log.
	if loc := jwtShape.FindStringIndex(env.logs.String()); loc != nil {
		fmt.Fprintf(os.Stderr, "harness: the server log contains a JWT near: %q\n", env.logs.String()[max(0, loc[0]-200):loc[0]+20])
		return 1
	}
	return code
}

// device is one app install: a token for one auth user, talking HTTP.
type device struct {
	t            *testing.T
	token        string
	userID       uuid.UUID
	contractorID uuid.UUID
	baseURL      string // the server it talks to; "" is the harness's
}

// newTenant provisions a contractor with one owner and returns its device.
func newTenant(t *testing.T) *device {
	t.Helper()
	contractor, owner, err := testenv.NewTenant(context.Background(), env.pool, "Contractor "+t.Name())
	if err != nil {
		t.Fatalf("provision tenant: %v", err)
	}
	return deviceFor(t, owner, contractor)
}

func deviceFor(t *testing.T, user, contractor uuid.UUID) *device {
	t.Helper()
	token, err := testenv.Token(testSecret, user)
	if err != nil {
		t.Fatal(err)
	}
	return &device{t: t, token: token, userID: user, contractorID: contractor}
}

// response is what came back, checked against the spec on arrival.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) decode(t *testing.T, into any) {
	t.Helper()
	if err := json.Unmarshal(r.body, into); err != nil {
		t.Fatalf("decode %d body %q: %v", r.status, truncate(r.body), err)
	}
}

// envelope asserts the CONTRACT.md error envelope and returns it.
func (r response) envelope(t *testing.T, status int, code string) api.Error {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d; body %s", r.status, status, truncate(r.body))
	}
	var raw map[string]json.RawMessage
	r.decode(t, &raw)
	for _, k := range []string{"ok", "error", "message", "requestId", "details"} {
		if _, ok := raw[k]; !ok {
			t.Fatalf("envelope lacks %q: %s", k, r.body)
		}
	}
	var e api.Error
	r.decode(t, &e)
	if e.Ok || string(e.Error) != code || e.Message == "" || e.RequestId == "" {
		t.Fatalf("envelope = %+v, want code %s", e, code)
	}
	if got := r.header.Get("X-Request-Id"); got != e.RequestId {
		t.Fatalf("X-Request-Id header %q != body requestId %q", got, e.RequestId)
	}
	return e
}

// client is the generated client (gen/api) as d: its token, every response
// checked against the spec on arrival.
func (d *device) client() *api.Client {
	base := d.baseURL
	if base == "" {
		base = env.server.URL
	}
	return testenv.NewClient(base, d.token, env.doer)
}

// do sends body (a string or []byte verbatim, anything else as JSON) to path,
// which may carry a query, with headers set or ("" values) deleted. A request
// for an operation of the spec goes through the generated client with the
// query given verbatim; anything else (404, 405, a body on a GET) is sent
// as written. Either way the response is checked against the spec.
func (d *device) do(method, path string, body any, headers map[string]string) response {
	d.t.Helper()
	var reader io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		reader = strings.NewReader(b)
	case []byte:
		reader = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			d.t.Fatal(err)
		}
		reader = bytes.NewReader(raw)
	}
	contentType := ""
	if body != nil {
		contentType = "application/json"
	}
	res, err := testenv.Do(context.Background(), d.client(), method, path, contentType, reader, testenv.Headers(headers))
	return d.received(method, path, res, err)
}

// send performs a request a test prepared by hand (a chunked body, a header
// given twice), through the same spec check.
func (d *device) send(req *http.Request) response {
	d.t.Helper()
	res, err := env.doer.Do(req)
	return d.received(req.Method, req.URL.Path, res, err)
}

// received reads a response whole; a transport error or a response outside
// the spec fails the test.
func (d *device) received(method, path string, res *http.Response, err error) response {
	d.t.Helper()
	if err != nil {
		d.t.Fatalf("%s %s: %v", method, path, err)
	}
	r, err := testenv.ReadResponse(res)
	if err != nil {
		d.t.Fatal(err)
	}
	return response{status: r.Status, header: r.Header, body: r.Body}
}

// checkAgainstSpec validates a response a test received outside the device
// (from another server, say) against the spec: a field missing, mistyped or
// misnamed fails the test that caused it.
func checkAgainstSpec(t *testing.T, req *http.Request, r response) {
	t.Helper()
	if err := env.check(req, testenv.Response{Status: r.status, Header: r.header, Body: r.body}); err != nil {
		t.Fatal(err)
	}
}

func (d *device) push(body any, headers ...map[string]string) response {
	d.t.Helper()
	var h map[string]string
	if len(headers) > 0 {
		h = headers[0]
	}
	return d.do(http.MethodPost, "/api/sync/push", body, h)
}

// mustPush pushes and expects 200.
func (d *device) mustPush(body any) api.SyncPushResponse {
	d.t.Helper()
	r := d.push(body)
	if r.status != http.StatusOK {
		d.t.Fatalf("push = %d: %s", r.status, truncate(r.body))
	}
	var out api.SyncPushResponse
	r.decode(d.t, &out)
	return out
}

func (d *device) pull(query url.Values) response {
	d.t.Helper()
	path := "/api/sync/pull"
	if len(query) > 0 {
		path += "?" + query.Encode()
	}
	return d.do(http.MethodGet, path, nil, nil)
}

// mustPull pulls one page and expects 200.
func (d *device) mustPull(query url.Values) api.SyncPullResponse {
	d.t.Helper()
	r := d.pull(query)
	if r.status != http.StatusOK {
		d.t.Fatalf("pull = %d: %s", r.status, truncate(r.body))
	}
	var out api.SyncPullResponse
	r.decode(d.t, &out)
	return out
}

// pullAll follows cursors until hasMore is false and returns every page.
func (d *device) pullAll(query url.Values) []api.SyncPullResponse {
	d.t.Helper()
	var pages []api.SyncPullResponse
	q := url.Values{}
	for k, v := range query {
		q[k] = v
	}
	for i := 0; ; i++ {
		if i > 1000 {
			d.t.Fatal("pull did not end after 1000 pages")
		}
		page := d.mustPull(q)
		pages = append(pages, page)
		if !page.HasMore {
			return pages
		}
		q.Del("since")
		q.Set("cursor", page.Cursor)
	}
}

func truncate(b []byte) string {
	if len(b) > 2000 {
		return string(b[:2000]) + "…"
	}
	return string(b)
}
