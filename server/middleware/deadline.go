package middleware

import (
	"context"
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
