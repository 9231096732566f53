package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/syncproxy/syncproxy/gen/db"
	"github.com/syncproxy/syncproxy/server/config"
	"github.com/syncproxy/syncproxy/server/opspage"
	"github.com/syncproxy/syncproxy/server/pgtx"
)

// serveOps serves the ops page on cfg.OpsAddr, a listener apart from the
// sync API's: an operator's page never shares a port (or a proxy route)
// with the apps, and no app token opens it. stop closes it.
func serveOps(ctx context.Context, cfg config.Config, pool *pgtx.Pool, activity *opspage.Activity, held opspage.Holder, logger *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", cfg.OpsAddr)
	if err != nil {
		return nil, fmt.Errorf("listen SYNC_OPS_ADDR %s: %w", cfg.OpsAddr, err)
	}
	srv := &http.Server{
		Handler: opspage.Handler(opspage.Options{
			Queries:  db.New(pool),
			Token:    cfg.OpsToken,
			Activity: activity,
			Settings: opsSettings(cfg),
			Logger:   logger,
			Timeout:  cfg.RequestTimeout,
			Live:     held,
		}),
		ReadHeaderTimeout: 10 * time.Second,
		WriteTimeout:      cfg.WriteTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	logger.Info("ops page serving", "addr", ln.Addr().String())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("ops page stopped", "err", err)
		}
	}()
	return func() {
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
		<-done
	}, nil
}

// opsSettings are the settings the page shows: limits and intervals an
// operator asks about, never a secret or a URL (which may carry one).
func opsSettings(cfg config.Config) []opspage.Setting {
	rate := "off"
	if cfg.RateLimit > 0 {
		rate = fmt.Sprintf("%g requests/s per contractor and per user, burst %d, 1 token per %d bytes", cfg.RateLimit, cfg.RateBurst, cfg.RateBytes)
	}
	ledger := "off"
	if cfg.DevicesMaxPending > 0 {
		ledger = fmt.Sprintf("flushed every %s, at most %d devices pending", cfg.DevicesFlush, cfg.DevicesMaxPending)
	}
	return []opspage.Setting{
		{Name: "rate limit", Value: rate},
		{Name: "device ledger", Value: ledger},
		{Name: "tombstone retention", Value: fmt.Sprintf("%s (purged every %s)", cfg.TombstoneKeep, cfg.TombstonePurge)},
		{Name: "Idempotency-Key TTL", Value: fmt.Sprintf("%s (purged every %s)", cfg.IdempotencyTTL, cfg.IdempotencyPurge)},
		{Name: "read replicas", Value: strconv.Itoa(len(cfg.ReplicaURLs))},
		{Name: "database connections", Value: strconv.Itoa(int(cfg.DBMaxConns))},
		{Name: "request timeout", Value: cfg.RequestTimeout.String()},
	}
}
