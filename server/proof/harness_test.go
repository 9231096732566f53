package proof_test

// The harness: one real PostgreSQL cluster per test binary, the real handler
// from server.New behind a real HTTP listener, and devices that talk to it.
// Every test provisions its own contractors, so tests never share a tenant.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/syncproxy/syncproxy/gen/api"
	"github.com/syncproxy/syncproxy/internal/testenv"
	"github.com/syncproxy/syncproxy/migrations"
	"github.com/syncproxy/syncproxy/server"
	"github.com/syncproxy/syncproxy/server/pgtx"
	"github.com/syncproxy/syncproxy/server/syncstore"
)

const testSecret = "proof-secret-0123456789abcdef-0123456789"

// databaseURLEnv hands the cluster to the fuzzing workers: `go test -fuzz`
// runs them as child processes of this binary, each through TestMain, and
// they inherit the environment set here instead of starting clusters of their own.
const databaseURLEnv = "SYNCPROXY_PROOF_DATABASE_URL"

var env struct {
	pool    *pgtx.Pool
	handler http.Handler
	server  *httptest.Server
	doer    testenv.CheckedDoer // every response is checked against the spec
}

// client bounds every request: a hang fails the test instead of stalling it.
var client = &http.Client{
	Timeout:   60 * time.Second,
	Transport: &http.Transport{MaxIdleConnsPerHost: 64},
}

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	ctx := context.Background()
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "proof harness:", err)
		return 1
	}
	dbURL := os.Getenv(databaseURLEnv)
	owner := dbURL == ""
	if owner {
		cluster, err := testenv.StartCluster(ctx, "proof")
		if err != nil {
			return fail(err)
		}
		defer cluster.Remove()
		// With SYNC_TEST_POOLER=1 (make test-pooler) the proofs run behind
		// PgBouncer in transaction mode.
		var stopPooler func()
		if dbURL, stopPooler, err = testenv.DatabaseURL(ctx, cluster, "proof"); err != nil {
			return fail(err)
		}
		defer stopPooler()
		os.Setenv(databaseURLEnv, dbURL)
	}
	cfg, err := testenv.Config(baseEnv(dbURL))
	if err != nil {
		return fail(err)
	}
	pool, err := server.OpenPool(ctx, cfg)
	if err != nil {
		return fail(err)
	}
	defer pool.Close()
	if owner {
		if err := migrations.Apply(ctx, pool, quietLogger()); err != nil {
			return fail(err)
		}
	}
	handler, err := testenv.NewHandler(cfg, pool, quietLogger())
	if err != nil {
		return fail(err)
	}
	check, err := testenv.SpecCheck()
	if err != nil {
		return fail(err)
	}
	env.pool, env.handler = pool, handler
	env.doer = testenv.CheckedDoer{Doer: client, Check: check}
	env.server = httptest.NewServer(handler)
	defer env.server.Close()
	return m.Run()
}

// baseEnv is the configuration every server of this package starts from.
// The pool is larger than the default so that the concurrency tests measure
// the clock lock, not a wait for a free connection.
func baseEnv(dbURL string) map[string]string {
	return map[string]string{
		"DATABASE_URL":        dbURL,
		"SYNC_JWT_SECRET":     testSecret,
		"SYNC_MAX_BODY_BYTES": "1048576",
		"SYNC_MAX_PUSH_ROWS":  "5000",
		// Small, so the fuzzer reaches the JSON column bound within a body.
		"SYNC_MAX_JSON_VALUE_BYTES": fmt.Sprint(fuzzMaxJSONBytes),
		"SYNC_DB_MAX_CONNS":         "24",
		// The proofs hammer one tenant on purpose: no rate limit may interfere.
		"SYNC_RATE_LIMIT": "0",
	}
}

// newServer starts a second server on the shared database with some settings
// changed (e.g. a short Idempotency-Key TTL).
func newServer(t *testing.T, overrides map[string]string) *httptest.Server {
	t.Helper()
	cfg, err := testenv.Config(baseEnv(os.Getenv(databaseURLEnv)), overrides)
	if err != nil {
		t.Fatal(err)
	}
	h, err := testenv.NewHandler(cfg, env.pool, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(io.Discard, nil))
}

// device is one app install of one tenant's owner.
type device struct {
	baseURL      string
	token        string
	contractorID uuid.UUID
}

func newTenant(t testing.TB, name string) *device {
	t.Helper()
	contractor, owner, err := testenv.NewTenant(context.Background(), env.pool, name)
	if err != nil {
		t.Fatalf("provision tenant: %v", err)
	}
	token, err := testenv.Token(testSecret, owner)
	if err != nil {
		t.Fatal(err)
	}
	return &device{baseURL: env.server.URL, token: token, contractorID: contractor}
}

// on returns the same device talking to another server.
func (d *device) on(srv *httptest.Server) *device {
	c := *d
	c.baseURL = srv.URL
	return &c
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// client is the generated client (gen/api) as d.
func (d *device) client() *api.Client {
	return testenv.NewClient(d.baseURL, d.token, env.doer)
}

// do sends one request (through the generated client when path is an
// operation of the spec); transport errors and responses outside the spec
// are returned, not fatal, so that goroutines can report them.
func (d *device) do(method, path string, body []byte, headers map[string]string) (response, error) {
	var reader io.Reader
	contentType := ""
	if body != nil {
		reader, contentType = bytes.NewReader(body), "application/json"
	}
	res, err := testenv.Do(context.Background(), d.client(), method, path, contentType, reader, testenv.Headers(headers))
	return received(method, path, res, err)
}

// received reads a response whole.
func received(method, path string, res *http.Response, err error) (response, error) {
	if err != nil {
		return response{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	r, err := testenv.ReadResponse(res)
	if err != nil {
		return response{}, err
	}
	return response{status: r.Status, header: r.Header, body: r.Body}, nil
}

func (d *device) push(body any, headers map[string]string) (response, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return response{}, err
	}
	res, err := d.client().PushChangesWithBody(context.Background(), nil, "application/json", bytes.NewReader(raw), testenv.Headers(headers))
	return received(http.MethodPost, "/api/sync/push", res, err)
}

func (d *device) mustPush(t testing.TB, body any) {
	t.Helper()
	r, err := d.push(body, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.status != http.StatusOK {
		t.Fatalf("push = %d: %s", r.status, r.body)
	}
}

// page is one pull response, kept generic so every table's rows can be
// checked for their tenant, whatever columns they have.
type page struct {
	HasMore    bool                        `json:"hasMore"`
	Cursor     string                      `json:"cursor"`
	ServerTime string                      `json:"serverTime"`
	Deleted    map[string][]uuid.UUID      `json:"deleted"`
	Rows       map[string][]map[string]any `json:"-"`
	raw        map[string]json.RawMessage
}

// syncTables are the table keys every pull carries, from the registry.
var syncTables = func() []string {
	var names []string
	for _, t := range syncstore.Tables() {
		names = append(names, t.Name)
	}
	return names
}()

func decodePage(body []byte) (page, error) {
	var p page
	if err := json.Unmarshal(body, &p); err != nil {
		return p, fmt.Errorf("decode pull: %w", err)
	}
	if err := json.Unmarshal(body, &p.raw); err != nil {
		return p, fmt.Errorf("decode pull: %w", err)
	}
	p.Rows = map[string][]map[string]any{}
	for _, table := range syncTables {
		raw, ok := p.raw[table]
		if !ok {
			return p, fmt.Errorf("pull lacks table %q", table)
		}
		var rows []map[string]any
		if err := json.Unmarshal(raw, &rows); err != nil || rows == nil {
			return p, fmt.Errorf("pull table %q is not an array: %s", table, raw)
		}
		p.Rows[table] = rows
	}
	return p, nil
}

// pullPage fetches one page from cursor (empty: a full pull) or since (a
// serverTime) with the generated client's typed parameters.
func (d *device) pullPage(cursor, since string, limit int) (page, error) {
	var params api.PullChangesParams
	if cursor != "" {
		params.Cursor = &cursor
	}
	if since != "" {
		t, err := time.Parse(time.RFC3339Nano, since)
		if err != nil {
			return page{}, fmt.Errorf("since %q: %w", since, err)
		}
		params.Since = &t
	}
	if limit > 0 {
		l := int32(limit)
		params.Limit = &l
	}
	res, err := d.client().PullChanges(context.Background(), &params)
	r, err := received(http.MethodGet, "/api/sync/pull", res, err)
	if err != nil {
		return page{}, err
	}
	if r.status != http.StatusOK {
		return page{}, fmt.Errorf("pull = %d: %s", r.status, r.body)
	}
	return decodePage(r.body)
}

// walk follows cursors from cursor (or since) until hasMore is false and
// returns every page; the last page's cursor is where the next walk starts.
func (d *device) walk(cursor, since string, limit int) ([]page, error) {
	var pages []page
	for i := 0; ; i++ {
		if i > 10000 {
			return pages, fmt.Errorf("pull did not end after %d pages", i)
		}
		p, err := d.pullPage(cursor, since, limit)
		if err != nil {
			return pages, err
		}
		pages = append(pages, p)
		if !p.HasMore {
			return pages, nil
		}
		cursor, since = p.Cursor, ""
	}
}

// clockSeq reads a contractor's change clock straight from the database.
func clockSeq(t testing.TB, contractorID uuid.UUID) int64 {
	t.Helper()
	var seq int64
	if err := env.pool.QueryRow(context.Background(),
		"SELECT seq FROM sync_clock WHERE contractor_id = $1", contractorID).Scan(&seq); err != nil {
		t.Fatal(err)
	}
	return seq
}

// waitForClockWaiters blocks until n server sessions are waiting for a lock in
// a statement on sync_clock: the deterministic "they are all in flight now"
// that lets a test interleave transactions without sleeping. abort, if given,
// is polled meanwhile and fails the test as soon as it returns an error (e.g.
// a request that answered instead of waiting).
func waitForClockWaiters(t testing.TB, n int, abort ...func() error) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var waiting int
		err := env.pool.QueryRow(context.Background(), `
			SELECT count(*) FROM pg_stat_activity
			WHERE wait_event_type = 'Lock' AND query LIKE '%sync_clock%' AND pid <> pg_backend_pid()`).Scan(&waiting)
		if err != nil {
			t.Fatal(err)
		}
		if waiting >= n {
			return
		}
		for _, f := range abort {
			if err := f(); err != nil {
				t.Fatal(err)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions wait for the clock lock, want %d", waiting, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// envelopeError checks r against the CONTRACT.md error envelope: the status,
// its code, every field present, and the X-Request-Id header matching.
func envelopeError(r response, status int, code string) error {
	if r.status != status {
		return fmt.Errorf("status = %d, want %d; body %s", r.status, status, r.body)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &raw); err != nil {
		return fmt.Errorf("%d body is not JSON: %q", r.status, r.body)
	}
	for _, k := range []string{"ok", "error", "message", "requestId", "details"} {
		if _, ok := raw[k]; !ok {
			return fmt.Errorf("envelope lacks %q: %s", k, r.body)
		}
	}
	var e struct {
		Ok        *bool             `json:"ok"`
		Error     string            `json:"error"`
		Message   string            `json:"message"`
		RequestID string            `json:"requestId"`
		Details   []json.RawMessage `json:"details"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil {
		return fmt.Errorf("envelope %s: %w", r.body, err)
	}
	if e.Ok == nil || *e.Ok || e.Error != code || e.Message == "" || e.RequestID == "" || e.Details == nil {
		return fmt.Errorf("envelope = %s, want ok:false, error %s, a message, a requestId and details", r.body, code)
	}
	if got := r.header.Get("X-Request-Id"); got != e.RequestID {
		return fmt.Errorf("X-Request-Id header %q != body requestId %q", got, e.RequestID)
	}
	return nil
}
