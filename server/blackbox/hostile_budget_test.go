package blackbox_test

// Hostile input, round 2: the request budget. One tenant's cheap-looking
// requests (a full pull in a loop, the canary, /readyz) must not cost the
// server what every other tenant needs.

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/syncproxy/syncproxy/server"
	"github.com/syncproxy/syncproxy/server/config"
	"github.com/syncproxy/syncproxy/server/pgtx"
)

// TestHostile_RateLimit_WeighsBytes: one tenant looping full pulls of a
// 4.2 MB dataset at 30 req/s stayed under the 50 req/s limit while another
// tenant's pulls went from 3.6 ms to 1.7 s. The bucket is charged by what a
// request costs: one token, plus one per SYNC_RATE_LIMIT_BYTES_PER_TOKEN of
// body read or written. Here a full pull of ~2 MB costs 9 tokens against a
// burst of 20 and 5 a second: the loop gets 429s (with Retry-After), and
// another tenant's pull is served.
func TestHostile_RateLimit_WeighsBytes(t *testing.T) {
	t.Parallel()
	heavy, other := env.NewTenant(t), env.NewTenant(t)
	// The data goes in through the harness's server, which has no limit.
	for range 4 {
		var rows []any
		for range 500 {
			rows = append(rows, map[string]any{"id": uuid.New(), "name": "item", "description": strings.Repeat("d", 1000)})
		}
		heavy.MustPush(map[string]any{"costbook_items": rows})
	}
	base, _ := env.Listen(t, env.DefaultConfig(t, map[string]string{
		"SYNC_RATE_LIMIT": "5", "SYNC_RATE_BURST": "20", "SYNC_RATE_LIMIT_BYTES_PER_TOKEN": "262144",
	}), env.Pool, nil)
	full := "/api/sync/pull?limit=5000&tables=costbook_items"
	limited := -1
	for i := range 10 {
		r := limDo(t, base, http.MethodGet, full, heavy.Token, nil)
		if r.Status == http.StatusTooManyRequests {
			r.Envelope(t, http.StatusTooManyRequests, "RATE_LIMITED")
			assertRetryAfter(t, r)
			limited = i
			break
		}
		if r.Status != http.StatusOK || len(r.Body) < 2_000_000 {
			t.Fatalf("full pull %d = %d, %d bytes", i, r.Status, len(r.Body))
		}
	}
	if limited < 0 {
		t.Fatal("10 full pulls of 2 MB each (9 tokens each against a burst of 20) were never limited")
	}
	if r := limDo(t, base, http.MethodGet, full, other.Token, nil); r.Status != http.StatusOK {
		t.Fatalf("another tenant's pull = %d %s", r.Status, r.Body)
	}
}

// TestHostile_Canary_RateLimitedBeforeTheTenantLookup: the canary was not
// rate limited and looked the tenant up in the database on every call (4,760
// req/s from one token slowed another tenant 60×). It declares its 429 in the
// spec like the other sync routes, and a caller over its budget is refused
// before the database is asked who it is.
func TestHostile_Canary_RateLimitedBeforeTheTenantLookup(t *testing.T) {
	t.Parallel()
	rec := &queryRecorder{ran: map[string]int{}}
	cfg := env.DefaultConfig(t, map[string]string{"SYNC_RATE_LIMIT": "0.01", "SYNC_RATE_BURST": "2"})
	base, _ := env.Listen(t, cfg, tracedPool(t, cfg, rec), nil)
	d := env.NewTenant(t)
	statuses := []int{}
	for range 20 {
		r := limDo(t, base, http.MethodGet, "/api/sync/canary", d.Token, nil)
		statuses = append(statuses, r.Status)
		if r.Status == http.StatusTooManyRequests {
			r.Envelope(t, http.StatusTooManyRequests, "RATE_LIMITED")
			assertRetryAfter(t, r)
		}
	}
	if statuses[0] != http.StatusOK || statuses[1] != http.StatusOK || statuses[19] != http.StatusTooManyRequests {
		t.Fatalf("canary statuses = %v, want 200 200 then 429s (burst 2)", statuses)
	}
	if n := rec.count("ResolveContractor"); n > 3 {
		t.Fatalf("20 canaries looked the tenant up %d times; refused ones must not reach the database", n)
	}
}

// TestHostile_Readyz_AnswersFromARecentResult: /readyz, unauthenticated,
// read schema_migrations on every call (6,800 req/s from anyone). It answers
// from a result at most about a second old.
func TestHostile_Readyz_AnswersFromARecentResult(t *testing.T) {
	t.Parallel()
	rec := &statementCounter{match: "schema_migrations"}
	cfg := env.DefaultConfig(t, nil)
	pool := tracedPool(t, cfg, rec)
	base, _ := env.Listen(t, cfg, pool, nil)
	start := time.Now()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 25 {
				if r := limDo(t, base, http.MethodGet, "/readyz", "", nil); r.Status != http.StatusOK {
					t.Errorf("/readyz = %d %s", r.Status, r.Body)
				}
			}
		})
	}
	wg.Wait()
	seconds := int(time.Since(start)/time.Second) + 1
	if n := rec.n(); n > seconds+1 {
		t.Fatalf("100 /readyz in %d s read schema_migrations %d times; want at most one read a second", seconds, n)
	}
}

// tracedPool is a pool on the harness database with tracer on every
// connection, closed at the end of the test.
func tracedPool(t *testing.T, cfg config.Config, tracer pgx.QueryTracer) *pgtx.Pool {
	t.Helper()
	pc, err := server.PoolConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	pc.ConnConfig.Tracer = tracer
	raw, err := pgxpool.NewWithConfig(context.Background(), pc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(raw.Close)
	return pgtx.New(raw, pgtx.Settings{StatementTimeout: cfg.StatementTimeout})
}

// statementCounter counts the statements whose text contains match.
type statementCounter struct {
	match string
	mu    sync.Mutex
	count int
}

func (c *statementCounter) n() int { c.mu.Lock(); defer c.mu.Unlock(); return c.count }

func (c *statementCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	if strings.Contains(data.SQL, c.match) {
		c.mu.Lock()
		c.count++
		c.mu.Unlock()
	}
	return ctx
}

func (c *statementCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// pgtx sends a single statement in a batch with its settings.
func (c *statementCounter) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}

func (c *statementCounter) TraceBatchQuery(ctx context.Context, conn *pgx.Conn, data pgx.TraceBatchQueryData) {
	c.TraceQueryStart(ctx, conn, pgx.TraceQueryStartData{SQL: data.SQL})
}

func (c *statementCounter) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}
