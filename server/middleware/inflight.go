package middleware

import (
	"fmt"
	"net/http"
	"sync"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/syncproxy/syncproxy/server/apierror"
	"github.com/syncproxy/syncproxy/server/tenant"
)

// BodyBytes bounds the bytes of request bodies being read and held at once,
// per contractor and in all. A push body is read whole into memory, and its
// rows are held again as the statement's parameters: 100 concurrent 8 MiB
// pushes of one token took the server to 591 MiB. Each request reserves its
// body's size before a byte is read (its Content-Length, or the body limit
// when the length is unknown: chunked, or gzip, whose decompressed size
// only reading tells) and gives it back when it is answered.
type BodyBytes struct {
	total, perContractor, unknownLength int64

	mu           sync.Mutex
	used         int64
	byContractor map[uuid.UUID]int64
}

// NewBodyBytes allows total bytes in all and perContractor for one
// contractor; a body of unknown length counts as unknownLength (the body
// limit).
func NewBodyBytes(total, perContractor, unknownLength int64) *BodyBytes {
	return &BodyBytes{total: total, perContractor: perContractor, unknownLength: unknownLength,
		byContractor: map[uuid.UUID]int64{}}
}

// InFlight is the number of bytes reserved now (the metrics gauge).
func (b *BodyBytes) InFlight() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// RetryAfterBodyBytes is the Retry-After, in seconds, of a body refused for
// the bytes in flight: a push takes well under a second to read and apply.
const RetryAfterBodyBytes = 1

// reserve takes n bytes for contractor, or says which bound refused them.
func (b *BodyBytes) reserve(contractor uuid.UUID, n int64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	mine := b.byContractor[contractor]
	switch {
	case mine+n > b.perContractor:
		e := apierror.New(http.StatusTooManyRequests, fmt.Sprintf(
			"this contractor is sending too many request bodies at once (at most %d bytes in flight); retry after %d s",
			b.perContractor, RetryAfterBodyBytes))
		e.RetryAfter = RetryAfterBodyBytes
		return e
	case b.used+n > b.total:
		return apierror.Unavailable(fmt.Sprintf("the server is reading too many request bodies at once; retry after %d s",
			RetryAfterBodyBytes), RetryAfterBodyBytes, nil)
	}
	b.used += n
	b.byContractor[contractor] = mine + n
	return nil
}

func (b *BodyBytes) release(contractor uuid.UUID, n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= n
	if left := b.byContractor[contractor] - n; left > 0 {
		b.byContractor[contractor] = left
	} else {
		delete(b.byContractor, contractor) // the map holds the contractors reading now, no more
	}
}

// LimitBodyBytes reserves a request body's bytes in b before the handler
// reads it: 429 RATE_LIMITED past the contractor's share, 503 UNAVAILABLE
// past the total, both with Retry-After. It runs after Authenticate (the
// contractor is the server's, never the client's word) and after BodyLimit
// (a declared length above the limit is already a 413).
func LimitBodyBytes(b *BodyBytes) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			id, ok := tenant.FromContext(req.Context())
			if !ok || req.Body == nil || req.Body == http.NoBody || req.ContentLength == 0 {
				return next(c)
			}
			n := req.ContentLength
			if n < 0 || n > b.unknownLength {
				n = b.unknownLength
			}
			if err := b.reserve(id.ContractorID, n); err != nil {
				return err
			}
			defer b.release(id.ContractorID, n)
			return next(c)
		}
	}
}
