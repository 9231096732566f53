package middleware

import (
	"log/slog"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/syncproxy/syncproxy/server/metrics"
	"github.com/syncproxy/syncproxy/server/tenant"
)

// AccessLog logs and counts every request once it has been answered. It logs
// the route, never the query string or headers (tokens live there).
func AccessLog(logger *slog.Logger, m *metrics.Metrics) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			if err != nil {
				// Render now so the status below is the one the client gets.
				c.Error(err)
			}
			elapsed := time.Since(start)
			status := c.Response().Status
			route := metrics.RouteOf(c)
			m.ObserveRequest(route, c.Request().Method, status, elapsed)
			attrs := []any{
				"request_id", c.Response().Header().Get(echo.HeaderXRequestID),
				"method", c.Request().Method,
				"route", route,
				"status", status,
				"duration_ms", float64(elapsed.Microseconds()) / 1000,
				"bytes_in", c.Request().ContentLength,
				"bytes_out", c.Response().Size,
			}
			if id, ok := tenant.FromContext(c.Request().Context()); ok {
				attrs = append(attrs, "contractor_id", id.ContractorID.String(), "user_id", id.UserID.String())
			}
			level := slog.LevelInfo
			if status >= 500 {
				level = slog.LevelError
			}
			logger.Log(c.Request().Context(), level, "request", attrs...)
			return nil
		}
	}
}
