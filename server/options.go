package server

import (
	"log/slog"

	"github.com/syncproxy/syncproxy/gen/db"
	"github.com/syncproxy/syncproxy/server/config"
	"github.com/syncproxy/syncproxy/server/devices"
	"github.com/syncproxy/syncproxy/server/live"
	"github.com/syncproxy/syncproxy/server/metrics"
	"github.com/syncproxy/syncproxy/server/middleware"
	"github.com/syncproxy/syncproxy/server/opspage"
	"github.com/syncproxy/syncproxy/server/pgtx"
	"github.com/syncproxy/syncproxy/server/replica"
	"github.com/syncproxy/syncproxy/server/syncstore"
)

// Option adds to what New builds: parts whose lifecycle its caller owns
// (Serve, or a test), such as background loops.
type Option func(*extras)

type extras struct {
	replicas    *replica.Set
	contractors *middleware.RateLimiter
	devices     *devices.Recorder
	live        *live.Hub
	ops         *opspage.Activity
}

// WithOps records the sync API's error responses for the ops page.
func WithOps(a *opspage.Activity) Option {
	return func(x *extras) { x.ops = a }
}

// WithDevices records every sync request in the device ledger through rec,
// whose flush loop (Recorder.Run) the caller runs. Without it nothing is
// recorded; GET /api/sync/devices still lists what is stored.
func WithDevices(rec *devices.Recorder) Option {
	return func(x *extras) { x.devices = rec }
}

// NewDeviceRecorder is the device ledger cfg asks for, writing on pool; nil
// when SYNC_DEVICES_MAX_PENDING is 0 (the ledger off).
func NewDeviceRecorder(cfg config.Config, pool *pgtx.Pool, logger *slog.Logger) *devices.Recorder {
	if cfg.DevicesMaxPending == 0 {
		return nil
	}
	return devices.NewRecorder(db.New(pool), devices.Options{
		FlushInterval: cfg.DevicesFlush, MaxPending: cfg.DevicesMaxPending, Logger: logger,
	})
}

// WithLive makes hub the instance's live pulls (the caller runs its feed
// of other instances' pushes and closes it on shutdown, as Serve does),
// instead of a hub of the handler's own, which only this handler's pushes
// wake.
func WithLive(hub *live.Hub) Option {
	return func(x *extras) { x.live = hub }
}

// WithReplicas lets pulls and digests be read on the streaming replicas of
// set (whose probe the caller runs), and exposes its metrics.
func WithReplicas(set *replica.Set) Option {
	return func(x *extras) { x.replicas = set }
}

// WithContractorLimiter makes l the per-contractor rate limit (its spend
// shared with other instances by the caller, server/ratebudget), instead of
// a limiter of the handler's own.
func WithContractorLimiter(l *middleware.RateLimiter) Option {
	return func(x *extras) { x.contractors = l }
}

// readReplicas registers the replicas' metrics and hands them to the store;
// nil without replicas.
func (x extras) readReplicas(m *metrics.Metrics) syncstore.Replicas {
	if x.replicas == nil {
		return nil
	}
	m.Register(x.replicas.Collectors()...)
	return x.replicas
}
