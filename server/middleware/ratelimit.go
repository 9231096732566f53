package middleware

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/syncproxy/syncproxy/server/apierror"
	"github.com/syncproxy/syncproxy/server/tenant"
)

// RateLimiter is a token bucket per key (a contractor, or an auth user): one
// tenant's runaway device (a sync loop gone wrong) gets 429s instead of
// starving the others.
//
// A request takes one token to be let in, and is charged what it cost once
// it is answered: one more token per bytesPerToken of body it read or wrote.
// Counting requests alone let one tenant loop full pulls of 4.2 MB at 30 a
// second, under the limit of 50, while another tenant's pull went from
// 3.6 ms to 1.7 s. A bucket may go into debt (a large pull is charged after
// it was let in); the next request waits until the debt is paid off.
// Buckets that would be full again are evicted, so memory follows the
// active keys, not every key ever seen.
type RateLimiter struct {
	rate          float64 // tokens per second
	burst         float64
	bytesPerToken int64
	idle          time.Duration // how often buckets are swept
	now           func() time.Time

	mu        sync.Mutex
	buckets   map[uuid.UUID]*bucket
	lastSweep time.Time
	spent     map[uuid.UUID]int64 // tokens taken since TakeSpent; nil unless shared (ratelimit_shared.go)
}

type bucket struct {
	tokens float64
	last   time.Time // when tokens was last brought up to date
}

// NewRateLimiter allows perSecond tokens per key on average and burst at
// once, a request costing one token plus one per bytesPerToken of body;
// perSecond <= 0 returns nil, which allows everything.
func NewRateLimiter(perSecond float64, burst int, bytesPerToken int64) *RateLimiter {
	if perSecond <= 0 {
		return nil
	}
	burst = max(burst, 1)
	refill := time.Duration(float64(burst) / perSecond * float64(time.Second))
	return &RateLimiter{
		rate:          perSecond,
		burst:         float64(burst),
		bytesPerToken: max(bytesPerToken, 1),
		idle:          max(refill, time.Minute),
		now:           time.Now,
		buckets:       map[uuid.UUID]*bucket{},
	}
}

// bucketOf returns key's bucket brought up to now; l.mu is held.
func (l *RateLimiter) bucketOf(key uuid.UUID, now time.Time) *bucket {
	b, found := l.buckets[key]
	if !found {
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = min(l.burst, b.tokens+elapsed.Seconds()*l.rate)
		b.last = now
	}
	return b
}

// Allow takes the token of one request from key's bucket; when there is
// none it says how long until there is. A refused request takes nothing.
func (l *RateLimiter) Allow(key uuid.UUID) (ok bool, retryAfter time.Duration) {
	if l == nil {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	b := l.bucketOf(key, now)
	if b.tokens < 1 {
		return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
	}
	b.tokens--
	l.record(key, 1)
	return true, 0
}

// Charge takes from key's bucket what a request let in by Allow cost beyond
// its token: one token per bytesPerToken of body read and written.
func (l *RateLimiter) Charge(key uuid.UUID, bytes int64) {
	if l == nil || bytes < l.bytesPerToken {
		return
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.bucketOf(key, now).tokens -= float64(bytes / l.bytesPerToken)
	l.record(key, bytes/l.bytesPerToken)
}

// Buckets is how many keys are being tracked (tests, diagnostics).
func (l *RateLimiter) Buckets() int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// sweep evicts the buckets that would be full by now (forgetting one is
// then the same as keeping it), at most once per idle period; l.mu is held.
func (l *RateLimiter) sweep(now time.Time) {
	if now.Sub(l.lastSweep) < l.idle {
		return
	}
	l.lastSweep = now
	for key, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.buckets, key)
		}
	}
}

// refuse is the 429 for a wait of d.
func refuse(d time.Duration, whose string) error {
	seconds := max(int(math.Ceil(d.Seconds())), 1)
	e := apierror.New(http.StatusTooManyRequests,
		fmt.Sprintf("too many requests (or bytes) for this %s; retry after %d s", whose, seconds))
	e.RetryAfter = seconds
	return e
}

// RateLimit answers 429 RATE_LIMITED with Retry-After (whole seconds, at
// least 1) when the caller's contractor is over its rate, and charges the
// contractor's bucket, and the auth user's (see Authenticate), what the
// request cost once it is answered. It runs after Authenticate: the key is
// the server-derived contractor, never client input.
func RateLimit(contractors, users *RateLimiter) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		if contractors == nil {
			return next
		}
		return func(c echo.Context) error {
			id, ok := tenant.FromContext(c.Request().Context())
			if !ok {
				return next(c) // not authenticated: nothing to key on (wiring keeps this unreachable)
			}
			if allowed, wait := contractors.Allow(id.ContractorID); !allowed {
				return refuse(wait, "contractor")
			}
			req := c.Request()
			body := &countedBody{ReadCloser: req.Body}
			if req.Body != nil && req.Body != http.NoBody {
				req.Body = body
			}
			err := next(c)
			if err != nil && !c.Response().Committed {
				// Rendered here, so that an error's body (a 409's rows) is
				// charged like any other.
				c.Error(err)
			}
			cost := body.n + c.Response().Size
			contractors.Charge(id.ContractorID, cost)
			users.Charge(id.UserID, cost)
			return err
		}
	}
}

// countedBody counts the bytes of a request body the handler read (after
// decompression: what the server worked on).
type countedBody struct {
	io.ReadCloser
	n int64
}

func (b *countedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	return n, err
}
