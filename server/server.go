// Package server wires the generated Echo server to the glue: middleware
// order, the error envelope, the strict handlers and the database pool.
package server

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	echomw "github.com/labstack/echo/v4/middleware"

	"github.com/syncproxy/syncproxy/gen/api"
	"github.com/syncproxy/syncproxy/gen/db"
	"github.com/syncproxy/syncproxy/server/apierror"
	"github.com/syncproxy/syncproxy/server/config"
	"github.com/syncproxy/syncproxy/server/handlers"
	"github.com/syncproxy/syncproxy/server/metrics"
	"github.com/syncproxy/syncproxy/server/middleware"
	"github.com/syncproxy/syncproxy/server/syncstore"
)

// syncPrefix is where authentication is required.
const syncPrefix = "/api/sync/"

// rateLimited are the operations whose contract declares 429. The canary is
// not among them: once authenticated it costs nothing more.
var rateLimited = map[string]bool{metrics.PullRoute: true, metrics.PushRoute: true}

// New builds the HTTP handler for cfg on pool.
func New(cfg config.Config, pool *pgxpool.Pool, verifier middleware.TokenVerifier, logger *slog.Logger) (*echo.Echo, error) {
	m := metrics.New()
	m.Register(newPoolCollector(pool))

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.JSONSerializer = exactJSON{}
	e.HTTPErrorHandler = apierror.Handler(logger)
	e.Use(
		middleware.RequestID(),
		middleware.AccessLog(logger, m),
		echomw.RecoverWithConfig(echomw.RecoverConfig{
			DisableStackAll: true,
			LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
				logger.Error("panic", "request_id", c.Response().Header().Get(echo.HeaderXRequestID),
					"err", err, "stack", string(stack))
				return err
			},
		}),
		echomw.BodyLimit(strconv.FormatInt(cfg.MaxBodyBytes, 10)+"B"),
	)

	validate, err := middleware.ValidateRequests()
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	r := routes{
		e:         e,
		deadline:  middleware.Deadline(cfg.RequestTimeout),
		auth:      middleware.Authenticate(verifier, db.New(pool)),
		rateLimit: middleware.RateLimit(middleware.NewRateLimiter(cfg.RateLimit, cfg.RateBurst)),
		validate:  validate,
	}
	h := &handlers.Server{
		Store:   syncstore.New(pool, cfg.IdempotencyTTL, cfg.MaxPushRows),
		Pool:    pool,
		Metrics: m,
	}
	api.RegisterHandlers(r, api.NewStrictHandler(h, nil))
	return e, nil
}

// routes attaches per-route middleware while the generated code registers the
// spec's operations: only /api/sync routes get a deadline and authenticate,
// pulls and pushes are rate limited per contractor, only bodies of methods
// that carry one are checked for JSON, and every operation is validated
// against the spec. Unknown routes skip all of it and get 404/405.
type routes struct {
	e         *echo.Echo
	deadline  echo.MiddlewareFunc
	auth      echo.MiddlewareFunc
	rateLimit echo.MiddlewareFunc
	validate  echo.MiddlewareFunc
}

func (r routes) chain(method, path string, m []echo.MiddlewareFunc) []echo.MiddlewareFunc {
	var out []echo.MiddlewareFunc
	if strings.HasPrefix(path, syncPrefix) {
		out = append(out, r.deadline, r.auth)
	}
	if rateLimited[path] {
		out = append(out, r.rateLimit)
	}
	if method == echo.POST || method == echo.PUT || method == echo.PATCH {
		out = append(out, middleware.RequireJSON())
	}
	out = append(out, r.validate)
	return append(out, m...)
}

func (r routes) CONNECT(p string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.e.CONNECT(p, h, r.chain(echo.CONNECT, p, m)...)
}
func (r routes) DELETE(p string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.e.DELETE(p, h, r.chain(echo.DELETE, p, m)...)
}
func (r routes) GET(p string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.e.GET(p, h, r.chain(echo.GET, p, m)...)
}
func (r routes) HEAD(p string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.e.HEAD(p, h, r.chain(echo.HEAD, p, m)...)
}
func (r routes) OPTIONS(p string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.e.OPTIONS(p, h, r.chain(echo.OPTIONS, p, m)...)
}
func (r routes) PATCH(p string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.e.PATCH(p, h, r.chain(echo.PATCH, p, m)...)
}
func (r routes) POST(p string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.e.POST(p, h, r.chain(echo.POST, p, m)...)
}
func (r routes) PUT(p string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.e.PUT(p, h, r.chain(echo.PUT, p, m)...)
}
func (r routes) TRACE(p string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.e.TRACE(p, h, r.chain(echo.TRACE, p, m)...)
}
