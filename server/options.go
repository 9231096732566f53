package server

import (
	"github.com/syncproxy/syncproxy/server/metrics"
	"github.com/syncproxy/syncproxy/server/middleware"
	"github.com/syncproxy/syncproxy/server/replica"
	"github.com/syncproxy/syncproxy/server/syncstore"
)

// Option adds to what New builds: parts whose lifecycle its caller owns
// (Serve, or a test), such as background loops.
type Option func(*extras)

type extras struct {
	replicas    *replica.Set
	contractors *middleware.RateLimiter
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
