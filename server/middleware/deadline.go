package middleware

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// Deadline bounds everything a request does after it (tenant lookup, handler,
// database) by one timeout, so a dead or stuck database yields a 503 within
// SYNC_REQUEST_TIMEOUT instead of a hang.
func Deadline(timeout time.Duration) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			parent := c.Request().Context()
			ctx, cancel := context.WithTimeout(parent, timeout)
			defer cancel()
			ctx = context.WithValue(ctx, deadlineKey{}, deadline{parent: parent, timeout: timeout})
			c.SetRequest(c.Request().WithContext(ctx))
			return next(c)
		}
	}
}

type deadlineKey struct{}

type deadline struct {
	parent  context.Context
	timeout time.Duration
}

// Unbounded is the request's context without Deadline's timeout: it still
// ends when the client goes away. A live pull waits on it (the wait is
// bounded by `wait`, not by SYNC_REQUEST_TIMEOUT, which is database work).
// Without Deadline it is ctx itself.
func Unbounded(ctx context.Context) context.Context {
	if d, ok := ctx.Value(deadlineKey{}).(deadline); ok {
		return d.parent
	}
	return ctx
}

// Renewed is the request's context with a fresh SYNC_REQUEST_TIMEOUT from
// now: the database work a live pull does once woken gets the whole budget
// again, however long it waited.
func Renewed(ctx context.Context) (context.Context, context.CancelFunc) {
	if d, ok := ctx.Value(deadlineKey{}).(deadline); ok {
		return context.WithTimeout(d.parent, d.timeout)
	}
	return context.WithCancel(ctx)
}

// Hold lets a request that may be held for up to maxHold (a live pull)
// outlive the server's write timeout, which counts from when the request was
// read: past SYNC_WRITE_TIMEOUT net/http would cut its answer off. The write
// deadline moves to maxHold plus the request timeout from now. (The read
// timeout needs nothing: net/http clears the read deadline once the request
// is read, while it watches the idle connection for the client going away.)
func Hold(maxHold, requestTimeout time.Duration) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if c.QueryParams().Has("wait") {
				// An error: a writer without deadlines (httptest's
				// recorder), which has no timeout to outlive either.
				_ = http.NewResponseController(c.Response()).SetWriteDeadline(time.Now().Add(maxHold + requestTimeout))
			}
			return next(c)
		}
	}
}
