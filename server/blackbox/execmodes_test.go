package blackbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/syncproxy/syncproxy/gen/db"
	"github.com/syncproxy/syncproxy/internal/devicetest"
	"github.com/syncproxy/syncproxy/internal/testenv"
	"github.com/syncproxy/syncproxy/migrations"
	"github.com/syncproxy/syncproxy/server"
	"github.com/syncproxy/syncproxy/server/pgtx"
	"github.com/syncproxy/syncproxy/server/syncstore"
)

// TestExecModes_EveryQueryWorksAndRoundTrips runs a server in each of pgx's
// exec modes (SYNC_DB_EXEC_MODE) and drives every kind of request through it:
// every query sqlc compiles (queries/, gen/queries/) must run without an error, and every table's values
// must come back as pushed (exec and simple_protocol send and read text, the
// others binary; auto, the default, binary on a direct connection and text
// behind the pooler). Behind the pooler (make test-pooler) only the modes that
// hold there run: cache_statement and describe_exec name a statement on one
// server connection and use it on the next.
func TestExecModes_EveryQueryWorksAndRoundTrips(t *testing.T) {
	t.Parallel()
	want := queryNames(t)
	modes := []string{"auto", "cache_describe", "exec", "simple_protocol", "cache_statement", "describe_exec"}
	if testenv.Pooled() {
		modes = modes[:4]
	}
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			rec := &queryRecorder{ran: map[string]int{}}
			base, pool, stop := execModeServer(t, mode, rec)
			execModeScenario(t, base, pool, mode)
			// The purge of expired Idempotency-Keys runs when the server
			// starts, in the background: wait for it rather than guess.
			if !rec.await("PurgeIdempotencyKeys", 30*time.Second) {
				t.Error("the server's start did not purge Idempotency-Keys within 30 s")
			}
			// The requests' spend goes out with the next exchange, and the
			// one after reads with the snapshot the first returned.
			if !rec.await("ExchangeRateSpend", 30*time.Second) || !rec.awaitN("ExchangeRateSpend", 3, 30*time.Second) {
				t.Error("the server did not exchange its rate limit spend within 30 s")
			}
			stop()
			for _, e := range rec.failures() {
				t.Errorf("in %s: %s", mode, e)
			}
			for _, name := range want {
				if rec.count(name) == 0 {
					t.Errorf("query %s never ran in %s: add a request that runs it to execModeScenario", name, mode)
				}
			}
		})
	}
}

// execModeServer serves the harness's database in mode, on its own pool,
// recording every statement; stop ends it and closes the pool.
func execModeServer(t *testing.T, mode string, rec *queryRecorder) (base string, pool *pgtx.Pool, stop func()) {
	t.Helper()
	cfg, err := testenv.Config(map[string]string{
		"DATABASE_URL":      env.Config.DatabaseURL,
		"SYNC_ADDR":         "127.0.0.1:0",
		"SYNC_JWT_SECRET":   devicetest.Secret,
		"SYNC_DB_EXEC_MODE": mode,
		// On, but never in the way: the server then exchanges its spend
		// with other instances (ExchangeRateSpend) every 50 ms.
		"SYNC_RATE_LIMIT":                "100000",
		"SYNC_RATE_BURST":                "100000",
		"SYNC_RATE_LIMIT_SHARE_INTERVAL": "50ms",
	})
	if err != nil {
		t.Fatal(err)
	}
	pc, err := server.PoolConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if pc.ConnConfig.DefaultQueryExecMode.String() != pgxModeName(mode) {
		t.Fatalf("SYNC_DB_EXEC_MODE=%s gave pgx mode %q", mode, pc.ConnConfig.DefaultQueryExecMode)
	}
	pc.ConnConfig.Tracer = rec
	raw, err := pgxpool.NewWithConfig(context.Background(), pc)
	if err != nil {
		t.Fatal(err)
	}
	pool = pgtx.New(raw, pgtx.Settings{StatementTimeout: cfg.StatementTimeout})
	logs := &testenv.LogBuffer{}
	logger := logs.Logger(slog.LevelInfo)
	// Nothing to apply, but the lock and the reading of schema_migrations run.
	if err := migrations.Apply(context.Background(), pool, logger); err != nil {
		t.Fatalf("migrate in %s: %v", mode, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan string, 1), make(chan error, 1)
	go func() { done <- server.Serve(ctx, cfg, pool, logger, func(addr string) { ready <- addr }) }()
	select {
	case addr := <-ready:
		base = "http://" + addr
	case err := <-done:
		cancel()
		raw.Close()
		t.Fatalf("serve in %s: %v", mode, err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve in %s: %v", mode, err)
			}
			raw.Close()
			if t.Failed() {
				t.Logf("server log (tail):\n%s", logs.Tail(40))
			}
		})
	}
	t.Cleanup(stop)
	return base, pool, stop
}

// execModeScenario runs each kind of request once, so that every query runs:
// provisioning, the tenant lookup, an idempotent push of every table and its
// replay, a push with stale base_versions (conflicts on every table), the
// digest, deletes, full, paged, delta and since pulls, readiness, and a
// purge of tombstones.
func execModeScenario(t *testing.T, base string, pool *pgtx.Pool, mode string) {
	ctx := context.Background()
	contractor, owner, err := testenv.NewTenant(ctx, pool, "Exec mode "+mode)
	if err != nil {
		t.Fatalf("provision: %v", err)
	}
	d := env.DeviceFor(t, owner, contractor)
	d.URL = base
	if c := d.MustCanary(); c.ContractorId != contractor {
		t.Fatalf("canary contractor = %s, want %s", c.ContractorId, contractor)
	}

	ids := newRowIDs()
	rows := fullRows(ids, mode)
	key := map[string]string{"Idempotency-Key": "exec-mode-" + uuid.NewString()}
	first := d.Push(pushBodyOf(rows), key)
	replay := d.Push(pushBodyOf(rows), key)
	if first.Status != http.StatusOK || replay.Status != http.StatusOK || replay.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("push = %d, replay = %d (replayed %q): %s", first.Status, replay.Status, replay.Header.Get("Idempotent-Replayed"), devicetest.Truncate(replay.Body))
	}
	page := d.PullRaw(nil)
	for table, pushed := range rows {
		var got []map[string]json.RawMessage
		if err := json.Unmarshal(page[table], &got); err != nil || len(got) != 1 {
			t.Fatalf("%s: %s (%v), want one row", table, page[table], err)
		}
		assertRow(t, table, got[0], pushed)
	}
	var cursor string
	if err := json.Unmarshal(page["cursor"], &cursor); err != nil {
		t.Fatalf("cursor: %v", err)
	}

	// base_version 0 says "new", but every row exists: a conflict per table,
	// each with the stored row (the Current queries).
	stale := map[string]map[string]any{}
	for table, row := range rows {
		stale[table] = maps.Clone(row)
		stale[table]["base_version"] = 0
	}
	if r := d.Push(pushBodyOf(stale)); r.Status != http.StatusConflict {
		t.Fatalf("push with stale base_versions = %d, want 409: %s", r.Status, devicetest.Truncate(r.Body))
	} else if n := strings.Count(string(r.Body), `"currentVersion"`); n != len(rows) {
		t.Fatalf("conflicts for %d rows, want %d (one per table): %s", n, len(rows), devicetest.Truncate(r.Body))
	}
	if r := d.Do(http.MethodGet, "/api/sync/digest", nil, nil); r.Status != http.StatusOK {
		t.Fatalf("digest = %d: %s", r.Status, devicetest.Truncate(r.Body))
	}
	// The device ledger: listed now, written by the server's flush (at the
	// latest when it stops, before the queries are counted).
	if r := d.Do(http.MethodGet, devicetest.DevicesPath, nil, nil); r.Status != http.StatusOK {
		t.Fatalf("devices = %d: %s", r.Status, devicetest.Truncate(r.Body))
	}
	// One row per page: the later pages re-read the purge marks.
	if pages := d.PullAll(url.Values{"limit": {"1"}}); len(pages) < len(rows) {
		t.Fatalf("pull with limit 1 took %d pages, want at least %d", len(pages), len(rows))
	}

	deleted := d.MustPush(map[string]any{"deletes": ids.deletesOf()})
	if deleted.Deleted.CostbookItems != 1 || deleted.Deleted.StepARules != 1 {
		t.Fatalf("deleted = %+v, want one per table", deleted.Deleted)
	}
	delta := d.MustPull(url.Values{"cursor": {cursor}})
	if !slices.Contains(delta.Deleted.CostbookItems, ids["costbook_items"]) || !slices.Contains(delta.Deleted.PricingRules, ids["pricing_rules"]) {
		t.Fatalf("delta pull lacks the tombstones: %+v", delta.Deleted)
	}

	// A live pull held for a second: without a listen URL the server polls
	// the held contractors' clocks (LiveClocks) meanwhile.
	if held := d.MustPull(url.Values{"cursor": {delta.Cursor}, "wait": {"1"}}); held.HasMore || len(held.CostbookItems) != 0 {
		t.Fatalf("a held pull with nothing new brought rows: %+v", held)
	}

	since := d.MustPull(url.Values{"since": {"2000-01-01T00:00:00.000Z"}})
	if len(since.CostbookFolders) != 0 || len(since.Contractors) != 1 {
		t.Fatalf("pull since 2000: %d contractors, %d live folders; want the contractor row and no deleted rows", len(since.Contractors), len(since.CostbookFolders))
	}

	if r := d.Do(http.MethodGet, "/readyz", nil, nil); r.Status != http.StatusOK {
		t.Fatalf("readyz = %d: %s", r.Status, devicetest.Truncate(r.Body))
	}
	// The server purges tombstones on a timer, across contractors; here the
	// purge runs once with a retention no tombstone is older than, so that
	// its queries run in this mode without touching other tests' rows.
	store := syncstore.New(pool, syncstore.Options{})
	if p, err := store.PurgeTombstones(ctx, 100*365*24*time.Hour, 0); err != nil || p.Deleted != 0 {
		t.Fatalf("purge tombstones older than a century: %+v, %v", p, err)
	}
	// Queries the server itself does not run yet: run them here, so that
	// none can break in a mode unnoticed.
	q := db.New(pool)
	if c, err := q.GetContractor(ctx, contractor); err != nil || c.ID != contractor {
		t.Fatalf("GetContractor: %v, %v", c.ID, err)
	}
	if users, err := q.ListUsers(ctx, contractor); err != nil || len(users) != 1 || users[0].AuthUserID != owner {
		t.Fatalf("ListUsers: %v, %v", users, err)
	}
	// syncproxy devices -stale/-lag (cmd/syncproxy): a filter no device
	// passes, so other tests' devices do not matter.
	lag := int64(1 << 62)
	if stale, err := q.ListDevicesAcrossTenants(ctx, db.ListDevicesAcrossTenantsParams{MinLag: &lag, MaxRows: 10}); err != nil || len(stale) != 0 {
		t.Fatalf("ListDevicesAcrossTenants: %v, %v", stale, err)
	}
	// The ops page's (SYNC_OPS_ADDR; the server in this test has none).
	if _, err := q.OpsTenants(ctx, 5); err != nil {
		t.Fatalf("OpsTenants: %v", err)
	}
	if _, err := q.OpsDevices(ctx, 5); err != nil {
		t.Fatalf("OpsDevices: %v", err)
	}
	// A replica's read of the clock runs on replicas only (server/proof's
	// replica tests): here it runs on the primary, whose clock it reads the same.
	if c, err := q.ReplicaClock(ctx, contractor); err != nil || c.Seq < 2 || c.SeqAt.IsZero() {
		t.Fatalf("ReplicaClock: %+v, %v", c, err)
	}
}

// queryNames are the names of every query sqlc compiles (sqlc's "-- name:"):
// the hand-written ones in queries/ and every table's standard ones, which
// tablegen writes into gen/queries/.
func queryNames(t *testing.T) []string {
	t.Helper()
	var files []string
	for _, dir := range []string{"../../queries", "../../gen/queries"} {
		found, err := filepath.Glob(filepath.Join(dir, "*.sql"))
		if err != nil || len(found) == 0 {
			t.Fatalf("no queries under %s (%v)", dir, err)
		}
		files = append(files, found...)
	}
	var names []string
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range sqlcName.FindAllSubmatch(raw, -1) {
			names = append(names, string(m[1]))
		}
	}
	sort.Strings(names)
	return names
}

var sqlcName = regexp.MustCompile(`(?m)^-- name: (\w+)`)

// pgxModeName is pgx's QueryExecMode.String() for a SYNC_DB_EXEC_MODE value:
// for auto, the mode of a connection until it is proven direct.
func pgxModeName(mode string) string {
	return map[string]string{"auto": "exec", "cache_statement": "cache statement", "cache_describe": "cache describe",
		"describe_exec": "describe exec", "exec": "exec", "simple_protocol": "simple protocol"}[mode]
}

// queryRecorder is a pgx tracer that counts the sqlc queries that ran, by
// name, and keeps every statement that failed.
type queryRecorder struct {
	mu   sync.Mutex
	ran  map[string]int
	errs []string
}

type tracedSQL struct{}

func (r *queryRecorder) note(sql string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if m := sqlcName.FindStringSubmatch(sql); m != nil && err == nil {
		r.ran[m[1]]++
	}
	// A statement cut off by the server's own shutdown (the last rate spend
	// exchange, a replica probe) is not a mode's failure.
	if err != nil && !errors.Is(err, context.Canceled) {
		r.errs = append(r.errs, fmt.Sprintf("%v\n    statement: %.200s", err, sql))
	}
}

func (r *queryRecorder) count(name string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ran[name]
}

func (r *queryRecorder) failures() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.errs)
}

func (r *queryRecorder) await(name string, limit time.Duration) bool {
	return r.awaitN(name, 1, limit)
}

func (r *queryRecorder) awaitN(name string, n int, limit time.Duration) bool {
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if r.count(name) >= n {
			return true
		}
	}
	return false
}

func (r *queryRecorder) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	return context.WithValue(ctx, tracedSQL{}, data.SQL)
}

func (r *queryRecorder) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryEndData) {
	sql, _ := ctx.Value(tracedSQL{}).(string)
	r.note(sql, data.Err)
}

func (r *queryRecorder) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}

func (r *queryRecorder) TraceBatchQuery(_ context.Context, _ *pgx.Conn, data pgx.TraceBatchQueryData) {
	r.note(data.SQL, data.Err)
}

func (r *queryRecorder) TraceBatchEnd(_ context.Context, _ *pgx.Conn, data pgx.TraceBatchEndData) {
	if data.Err != nil {
		r.note("(end of batch)", data.Err)
	}
}

// PoolConfig sends no startup parameter but application_name (PgBouncer
// refuses the others), and takes the exec mode from SYNC_DB_EXEC_MODE unless
// DATABASE_URL names one itself, as pgx's own URL parameter.
func TestPoolConfig_StartupParametersAndExecMode(t *testing.T) {
	t.Parallel()
	cases := []struct {
		url, mode string
		want      pgx.QueryExecMode
	}{
		{"postgres://u@db:5432/app", "", pgx.QueryExecModeExec}, // auto: exec until a connection is proven direct
		{"postgres://u@db:5432/app", "cache_statement", pgx.QueryExecModeCacheStatement},
		{"postgres://u@db:6543/app?default_query_exec_mode=simple_protocol", "cache_statement", pgx.QueryExecModeSimpleProtocol},
		{"host=db port=6543 dbname=app default_query_exec_mode=cache_describe", "", pgx.QueryExecModeCacheDescribe},
	}
	for _, c := range cases {
		cfg, err := testenv.Config(map[string]string{"DATABASE_URL": c.url, "SYNC_JWT_SECRET": devicetest.Secret, "SYNC_DB_EXEC_MODE": c.mode})
		if err != nil {
			t.Fatal(err)
		}
		pc, err := server.PoolConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if got := pc.ConnConfig.DefaultQueryExecMode; got != c.want {
			t.Errorf("%s with SYNC_DB_EXEC_MODE=%q: mode %v, want %v", c.url, c.mode, got, c.want)
		}
		for k := range pc.ConnConfig.RuntimeParams {
			if k != "application_name" {
				t.Errorf("%s: startup parameter %s would be refused by PgBouncer", c.url, k)
			}
		}
	}
}
