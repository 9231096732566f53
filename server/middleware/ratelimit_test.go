package middleware

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/syncproxy/syncproxy/server/apierror"
	"github.com/syncproxy/syncproxy/server/tenant"
)

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

func limiterAt(perSecond float64, burst int) (*RateLimiter, *testClock) {
	l := NewRateLimiter(perSecond, burst, 1024)
	clock := &testClock{t: time.Unix(1_700_000_000, 0)}
	l.now = clock.now
	return l, clock
}

func TestRateLimiter_BurstThenRate(t *testing.T) {
	l, clock := limiterAt(2, 3)
	tenantA := uuid.New()
	for i := range 3 {
		if ok, _ := l.Allow(tenantA); !ok {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	ok, wait := l.Allow(tenantA)
	if ok || wait <= 0 || wait > 500*time.Millisecond {
		t.Fatalf("over the burst: ok=%v wait=%s, want refused with wait <= 1/rate", ok, wait)
	}
	// Refused requests do not dig the hole deeper: after 1/rate one passes.
	for range 10 {
		l.Allow(tenantA)
	}
	clock.add(500 * time.Millisecond)
	if ok, _ := l.Allow(tenantA); !ok {
		t.Fatal("a token refilled after 1/rate was not granted")
	}
}

// A request is charged what it cost: the bucket goes into debt, and the
// next request waits until the debt is paid off at the rate.
func TestRateLimiter_ChargesBytes(t *testing.T) {
	l, clock := limiterAt(10, 20) // bytesPerToken 1024
	key := uuid.New()
	if ok, _ := l.Allow(key); !ok {
		t.Fatal("first request refused")
	}
	l.Charge(key, 1023) // less than a token: the request's own token covers it
	l.Charge(key, 30*1024)
	ok, wait := l.Allow(key)
	// 20 - 1 - 30 = -11 tokens: 12 to go before one is whole, at 10 a second.
	if ok || wait < 1100*time.Millisecond || wait > 1300*time.Millisecond {
		t.Fatalf("after a 30-token request: ok=%v wait=%s, want refused for 1.2 s", ok, wait)
	}
	clock.add(1200 * time.Millisecond)
	if ok, _ := l.Allow(key); !ok {
		t.Fatal("refused after the debt was paid off")
	}
	// A bucket in debt is not forgotten by the sweep (that would forgive the
	// debt), and is once it would be full again.
	l.Charge(key, 2000*1024)
	clock.add(61 * time.Second) // 610 of 2000 tokens refilled
	l.Allow(uuid.New())
	if n := l.Buckets(); n != 2 {
		t.Fatalf("buckets = %d, want the one in debt kept", n)
	}
	if ok, _ := l.Allow(key); ok {
		t.Fatal("a bucket in debt let a request in")
	}
	clock.add(200 * time.Second)
	l.Allow(uuid.New())
	if n := l.Buckets(); n != 1 {
		t.Fatalf("buckets = %d, want only the newest once the debt was refilled", n)
	}
}

func TestRateLimiter_PerContractor(t *testing.T) {
	l, _ := limiterAt(1, 1)
	noisy, quiet := uuid.New(), uuid.New()
	l.Allow(noisy)
	if ok, _ := l.Allow(noisy); ok {
		t.Fatal("noisy tenant not limited")
	}
	if ok, _ := l.Allow(quiet); !ok {
		t.Fatal("one tenant's excess limited another tenant")
	}
}

func TestRateLimiter_EvictsIdleBuckets(t *testing.T) {
	l, clock := limiterAt(10, 10)
	for range 1000 {
		l.Allow(uuid.New())
	}
	if n := l.Buckets(); n != 1000 {
		t.Fatalf("buckets = %d, want 1000", n)
	}
	clock.add(2 * time.Minute)
	active := uuid.New()
	l.Allow(active)
	if n := l.Buckets(); n != 1 {
		t.Fatalf("buckets after idle period = %d, want only the active tenant", n)
	}
}

func TestRateLimiter_ZeroDisables(t *testing.T) {
	l := NewRateLimiter(0, 10, 1024)
	if l != nil {
		t.Fatal("rate 0 built a limiter")
	}
	for range 1000 {
		if ok, _ := l.Allow(uuid.New()); !ok {
			t.Fatal("a disabled limiter refused")
		}
	}
}

func TestRateLimit_429WithRetryAfter(t *testing.T) {
	l, _ := limiterAt(0.5, 1) // one request, then one every 2 s
	e := echo.New()
	e.HTTPErrorHandler = apierror.Handler(slogDiscard())
	id := tenant.Identity{UserID: uuid.New(), ContractorID: uuid.New()}
	h := RateLimit(l, nil)(func(c echo.Context) error { return c.NoContent(http.StatusNoContent) })
	e.GET("/x", func(c echo.Context) error {
		c.SetRequest(c.Request().WithContext(tenant.WithIdentity(c.Request().Context(), id)))
		return h(c)
	})
	codes := []int{}
	var retryAfter string
	for range 2 {
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/x", nil))
		codes = append(codes, rec.Code)
		retryAfter = rec.Header().Get("Retry-After")
	}
	if codes[0] != http.StatusNoContent || codes[1] != http.StatusTooManyRequests {
		t.Fatalf("statuses = %v, want [204 429]", codes)
	}
	if retryAfter != "2" {
		t.Fatalf("Retry-After = %q, want 2 (seconds until the next token)", retryAfter)
	}
}

func slogDiscard() *slog.Logger { return slog.New(slog.DiscardHandler) }
