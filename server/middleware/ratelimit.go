package middleware

import (
	"fmt"
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"

	"github.com/syncproxy/syncproxy/server/apierror"
	"github.com/syncproxy/syncproxy/server/tenant"
)

// RateLimiter is a token bucket per contractor: one tenant's runaway device
// (a sync loop gone wrong) gets 429s instead of starving the others. Buckets
// idle long enough to have refilled are evicted, so memory follows the active
// tenants, not every tenant ever seen.
type RateLimiter struct {
	limit rate.Limit
	burst int
	idle  time.Duration // a bucket untouched this long is full again: forget it
	now   func() time.Time

	mu        sync.Mutex
	buckets   map[uuid.UUID]*bucket
	lastSweep time.Time
}

type bucket struct {
	limiter  *rate.Limiter
	lastSeen time.Time
}

// NewRateLimiter allows perSecond requests per contractor on average and
// burst at once; perSecond <= 0 returns nil, which allows everything.
func NewRateLimiter(perSecond float64, burst int) *RateLimiter {
	if perSecond <= 0 {
		return nil
	}
	burst = max(burst, 1)
	refill := time.Duration(float64(burst) / perSecond * float64(time.Second))
	return &RateLimiter{
		limit:   rate.Limit(perSecond),
		burst:   burst,
		idle:    max(refill, time.Minute),
		now:     time.Now,
		buckets: map[uuid.UUID]*bucket{},
	}
}

// Allow takes one token of key's bucket; when there is none it says how long
// until there is.
func (l *RateLimiter) Allow(key uuid.UUID) (ok bool, retryAfter time.Duration) {
	if l == nil {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	b, found := l.buckets[key]
	if !found {
		b = &bucket{limiter: rate.NewLimiter(l.limit, l.burst)}
		l.buckets[key] = b
	}
	b.lastSeen = now
	r := b.limiter.ReserveN(now, 1)
	if delay := r.DelayFrom(now); delay > 0 {
		r.CancelAt(now) // a refused request must not use up future tokens
		return false, delay
	}
	return true, 0
}

// Buckets is how many contractors are being tracked (tests, diagnostics).
func (l *RateLimiter) Buckets() int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// sweep evicts idle buckets, at most once per idle period; l.mu is held.
func (l *RateLimiter) sweep(now time.Time) {
	if now.Sub(l.lastSweep) < l.idle {
		return
	}
	l.lastSweep = now
	for key, b := range l.buckets {
		if now.Sub(b.lastSeen) >= l.idle {
			delete(l.buckets, key)
		}
	}
}

// RateLimit answers 429 RATE_LIMITED with Retry-After (whole seconds, at
// least 1) when the caller's contractor is over its rate. It runs after
// Authenticate: the key is the server-derived contractor, never client input.
func RateLimit(l *RateLimiter) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		if l == nil {
			return next
		}
		return func(c echo.Context) error {
			id, ok := tenant.FromContext(c.Request().Context())
			if !ok {
				return next(c) // not authenticated: nothing to key on (wiring keeps this unreachable)
			}
			if allowed, wait := l.Allow(id.ContractorID); !allowed {
				seconds := max(int(math.Ceil(wait.Seconds())), 1)
				e := apierror.New(http.StatusTooManyRequests,
					fmt.Sprintf("too many requests for this contractor; retry after %d s", seconds))
				e.RetryAfter = seconds
				return e
			}
			return next(c)
		}
	}
}
