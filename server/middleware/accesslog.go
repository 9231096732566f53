package middleware

import (
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/syncproxy/syncproxy/server/apierror"
	"github.com/syncproxy/syncproxy/server/metrics"
	"github.com/syncproxy/syncproxy/server/tenant"
)

// AccessLog logs and counts every request once it has been answered: request
// id, route, status, duration, contractor and, for pulls and pushes, the rows
// per table. It logs the route pattern and the method's label, never the raw
// method or path (any length, any text a client likes), the query string or
// any header (tokens live there), and no body.
func AccessLog(logger *slog.Logger, m *metrics.Metrics) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			req := c.Request()
			body := &countingReader{r: req.Body}
			if req.Body != nil && req.Body != http.NoBody {
				req.Body = body
			}
			ctx, outcome := metrics.WithOutcome(req.Context())
			c.SetRequest(req.WithContext(ctx))

			err := next(c)
			if err != nil {
				// Render now so the status below is the one the client gets.
				c.Error(err)
			}
			elapsed := time.Since(start)
			status := c.Response().Status
			route := metrics.RouteOf(c)
			code := ""
			if status >= 400 {
				code = string(apierror.New(status, "").Code)
			}
			m.ObserveRequest(route, c.Request().Method, status, code, elapsed)
			if route == metrics.PushRoute {
				m.ObservePushBytes(body.n)
			}
			attrs := []any{
				"request_id", c.Response().Header().Get(echo.HeaderXRequestID),
				"method", metrics.MethodLabel(c.Request().Method),
				"route", route,
				"status", status,
				"duration_ms", float64(elapsed.Microseconds()) / 1000,
				"bytes_in", body.n,
				"bytes_out", c.Response().Size,
			}
			if code != "" {
				attrs = append(attrs, "error", code)
			}
			if id, ok := tenant.FromContext(c.Request().Context()); ok {
				attrs = append(attrs, "contractor_id", id.ContractorID.String(), "user_id", id.UserID.String())
			}
			attrs = append(attrs, outcome.LogAttrs()...)
			level := slog.LevelInfo
			if status >= 500 {
				level = slog.LevelError
			}
			logger.Log(c.Request().Context(), level, "request", attrs...)
			return nil
		}
	}
}

// countingReader counts the body bytes the server actually read, which is
// what a push cost (Content-Length may be absent or a lie).
type countingReader struct {
	r io.ReadCloser
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (c *countingReader) Close() error { return c.r.Close() }
