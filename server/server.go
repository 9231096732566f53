// Package server wires the generated Echo server to the glue: middleware
// order, the error envelope, the strict handlers and the database pool.
package server

import (
	"fmt"
	"log/slog"
	"strconv"

	"github.com/labstack/echo/v4"
	echomw "github.com/labstack/echo/v4/middleware"

	"github.com/syncproxy/syncproxy/gen/api"
	"github.com/syncproxy/syncproxy/gen/db"
	"github.com/syncproxy/syncproxy/internal/contract"
	"github.com/syncproxy/syncproxy/server/apierror"
	"github.com/syncproxy/syncproxy/server/config"
	"github.com/syncproxy/syncproxy/server/devices"
	"github.com/syncproxy/syncproxy/server/handlers"
	"github.com/syncproxy/syncproxy/server/live"
	"github.com/syncproxy/syncproxy/server/metrics"
	"github.com/syncproxy/syncproxy/server/middleware"
	"github.com/syncproxy/syncproxy/server/pgtx"
	"github.com/syncproxy/syncproxy/server/pushbody"
	"github.com/syncproxy/syncproxy/server/syncstore"
)

// New builds the HTTP handler for cfg on pool.
func New(cfg config.Config, pool *pgtx.Pool, verifier middleware.TokenVerifier, logger *slog.Logger, opts ...Option) (*echo.Echo, error) {
	var x extras
	for _, o := range opts {
		o(&x)
	}
	doc, err := api.GetSwagger()
	if err != nil {
		return nil, fmt.Errorf("server: load embedded spec: %w", err)
	}
	push, err := pushbody.Compile(contract.FromDoc(doc), pushbody.Limits{
		MaxRows: cfg.MaxPushRows, MaxJSONValueBytes: cfg.MaxJSONBytes,
	})
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	if err := syncstore.CheckRegistry(push.TableNames()); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	ops, err := operationsOf(doc)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}

	compress, err := middleware.CompressResponses()
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}

	m := metrics.New()
	m.Register(newPoolCollector(pool.Pool))
	if x.devices != nil {
		m.Register(x.devices.Collectors()...)
	}

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.JSONSerializer = jsonBodies{push: push}
	e.HTTPErrorHandler = apierror.Handler(logger)
	e.Use(
		middleware.RequestID(),
		middleware.AccessLog(logger, m),
		x.ops.Middleware(), // the ops page's recent errors; nil: passes through
		compress,           // outside Recover: a panic's 500 is rendered through it like any error
		echomw.RecoverWithConfig(echomw.RecoverConfig{
			DisableStackAll: true,
			LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
				logger.Error("panic", "request_id", c.Response().Header().Get(echo.HeaderXRequestID),
					"err", err, "stack", string(stack))
				return err
			},
		}),
		middleware.ClientBody(), // before BodyLimit: its 413 is not a broken body
		echomw.BodyLimit(strconv.FormatInt(cfg.MaxBodyBytes, 10)+"B"),
		middleware.DecompressRequests(cfg.MaxBodyBytes), // after both: they judge the compressed bytes, it the decompressed ones
	)

	validate, err := middleware.ValidateRequests()
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	params, err := middleware.Parameters()
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	bodies := middleware.NewBodyBytes(cfg.MaxPushBytes, cfg.MaxPushBytesPerContractor, cfg.MaxBodyBytes)
	m.RegisterBodyBytesInFlight(func() float64 { return float64(bodies.InFlight()) })
	contractors := x.contractors
	if contractors == nil {
		contractors = middleware.NewRateLimiter(cfg.RateLimit, cfg.RateBurst, cfg.RateBytes)
	}
	users := middleware.NewRateLimiter(cfg.RateLimit, cfg.RateBurst, cfg.RateBytes)
	hub := x.live
	if hub == nil {
		if hub, err = NewHub(); err != nil {
			return nil, fmt.Errorf("server: %w", err)
		}
	}
	m.RegisterHeldPulls(func() float64 { return float64(hub.Held()) })
	r := routes{
		e:           e,
		ops:         ops,
		deadline:    middleware.Deadline(cfg.RequestTimeout),
		auth:        middleware.Authenticate(verifier, db.New(pool), nil),
		authLimited: middleware.Authenticate(verifier, db.New(pool), users),
		rateLimit:   middleware.RateLimit(contractors, users),
		device:      devices.Middleware(x.devices),
		bodyBytes:   middleware.LimitBodyBytes(bodies),
		validate:    validate,
		params:      params,
	}
	h := &handlers.Server{
		Store:          syncstore.New(pool, syncstore.Options{IdempotencyTTL: cfg.IdempotencyTTL, MaxPageBytes: cfg.MaxPageBytes, Replicas: x.readReplicas(m)}),
		Pool:           pool,
		Metrics:        m,
		Live:           hub,
		MaxPullWait:    cfg.MaxPullWait,
		RequestTimeout: cfg.RequestTimeout,
	}
	api.RegisterHandlers(&r, api.NewStrictHandler(h, nil))
	if missing := r.unregistered(); len(missing) > 0 {
		return nil, fmt.Errorf("server: operations of the spec without a route: %v", missing)
	}
	return e, nil
}

// NewHub is a hub of live pulls for the registry's tables.
func NewHub() (*live.Hub, error) {
	var names []string
	for _, t := range syncstore.Tables() {
		names = append(names, t.Name)
	}
	return live.New(names)
}
