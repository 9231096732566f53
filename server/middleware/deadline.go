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
			ctx, cancel := context.WithTimeout(c.Request().Context(), timeout)
			defer cancel()
			c.SetRequest(c.Request().WithContext(ctx))
			return next(c)
		}
	}
}
