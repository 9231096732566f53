package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/net/netutil"

	"github.com/syncproxy/syncproxy/migrations"
	"github.com/syncproxy/syncproxy/server/apierror"
	"github.com/syncproxy/syncproxy/server/auth"
	"github.com/syncproxy/syncproxy/server/config"
	"github.com/syncproxy/syncproxy/server/middleware"
	"github.com/syncproxy/syncproxy/server/opspage"
	"github.com/syncproxy/syncproxy/server/pgtx"
	"github.com/syncproxy/syncproxy/server/ratebudget"
	"github.com/syncproxy/syncproxy/server/syncstore"
)

// drainTimeout is how long a stopping server waits for in-flight requests.
const drainTimeout = 20 * time.Second

// Run migrates the database, serves on cfg.Addr until ctx is cancelled (SIGINT
// or SIGTERM), then drains in-flight requests. ready, if not nil, receives the
// bound address once the listener is open.
func Run(ctx context.Context, cfg config.Config, logger *slog.Logger, ready func(addr string)) error {
	pool, err := OpenPool(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := migrations.Apply(ctx, pool, logger); err != nil {
		return err
	}
	return Serve(ctx, cfg, pool, logger, ready)
}

// Serve is Run without the migration step, on an existing pool. Besides the
// listener it runs the purges of expired Idempotency-Keys and tombstones, and
// stops them before it returns; the JWKS refresh (when configured) is jwkset's
// goroutine, which ends with the same context.
func Serve(ctx context.Context, cfg config.Config, pool *pgtx.Pool, logger *slog.Logger, ready func(addr string)) error {
	background, stopBackground := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stopBackground()

	verifier, err := newVerifier(background, cfg, logger)
	if err != nil {
		return err
	}
	var activity *opspage.Activity // the ops page's; nil without one
	if cfg.OpsAddr != "" {
		activity = opspage.NewActivity()
	}
	wg.Go(func() {
		purgeIdempotencyKeys(background, pool, cfg.IdempotencyTTL, cfg.IdempotencyPurge, logger, activity)
	})
	wg.Go(func() {
		store := syncstore.New(pool, syncstore.Options{})
		purgeTombstones(background, store, cfg.TombstoneKeep, cfg.TombstonePurge, cfg.RequestTimeout+time.Second, logger, activity)
	})
	replicas, closeReplicas, err := OpenReplicas(background, cfg, pool, logger)
	if err != nil {
		return err
	}
	wg.Go(func() {
		replicas.Run(background) // until the listener has drained: nothing reads through them after
		closeReplicas()
	})
	contractors := middleware.NewRateLimiter(cfg.RateLimit, cfg.RateBurst, cfg.RateBytes)
	if contractors != nil {
		contractors.ShareSpend()
		wg.Go(func() {
			ratebudget.New(pool, contractors, cfg.RateShareInterval).Run(background, cfg.RateShareInterval, logger)
		})
	}
	hub, err := NewHub()
	if err != nil {
		return err
	}
	wg.Go(func() { LiveFeed(cfg, pool, logger).Run(background, hub) })
	// The ledger's last flush runs once the listener has drained (wg.Wait
	// after stopBackground), so a clean stop loses none of it.
	ledger := NewDeviceRecorder(cfg, pool, logger)
	if ledger != nil {
		wg.Go(func() { ledger.Run(background) })
	}
	handler, err := New(cfg, pool, verifier, logger, WithReplicas(replicas), WithContractorLimiter(contractors), WithDevices(ledger), WithLive(hub), WithOps(activity))
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Addr, err)
	}
	// Above SYNC_MAX_CONNECTIONS a new connection waits in the kernel's
	// accept queue until one closes: nothing bounded what connections held.
	ln = netutil.LimitListener(ln, cfg.MaxConnections)
	ln = apierror.Listener(ln, logger, cfg.MaxHeaderBytes) // net/http's own 400/431 replies become the envelope
	srv := &http.Server{
		Handler:           handler,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	if activity != nil {
		stopOps, err := serveOps(background, cfg, pool, activity, hub, logger)
		if err != nil {
			return err
		}
		defer stopOps()
	}
	logger.Info("serving", "addr", ln.Addr().String())
	if ready != nil {
		ready(ln.Addr().String())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down; draining in-flight requests", "timeout", drainTimeout.String(), "held_pulls", hub.Held())
	hub.Close() // held pulls answer now (their cursors stay good), not after their wait
	drainCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), drainTimeout)
	defer cancel()
	if err := srv.Shutdown(drainCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	// Held pulls are parked outside net/http (server/handlers/held.go):
	// Shutdown does not wait for their answers.
	if err := hub.Drain(drainCtx); err != nil {
		return fmt.Errorf("shutdown: answering held pulls: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	logger.Info("stopped")
	return nil
}

// newVerifier builds the token verifier cfg asks for: HS256, JWKS (RS256 and
// ES256) or both. With JWKS, the key set is fetched now (waiting at most
// SYNC_JWKS_FETCH_TIMEOUT) and kept fresh until ctx is done; a provider that
// is down at start is logged, not fatal, since HS256 may still work and an
// unknown kid refetches later.
func newVerifier(ctx context.Context, cfg config.Config, logger *slog.Logger) (*auth.Verifier, error) {
	opts := auth.Options{Audience: cfg.JWTAudience}
	if len(cfg.JWTSecret) > 0 {
		opts.HS256Secret = cfg.JWTSecret
	}
	if cfg.JWKSURL != "" {
		keys, err := auth.NewKeySet(ctx, auth.KeySetOptions{
			URL:          cfg.JWKSURL,
			Refresh:      cfg.JWKSRefresh,
			MinRefetch:   cfg.JWKSMinRefetch,
			FetchTimeout: cfg.JWKSFetchTimeout,
			Logger:       logger,
		})
		if err != nil {
			return nil, err
		}
		opts.KeySet = keys
	}
	return auth.New(opts)
}
