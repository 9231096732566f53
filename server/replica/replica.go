// Package replica keeps the server's streaming replicas: which of them may
// serve reads now, and where each read was served. A background probe
// measures every replica's replay lag against the primary's WAL position;
// a replica further behind than the bound, or one that failed, is passed
// over at once (no client sees an error: the primary answers) and tried
// again once the probe finds it healthy. Whether a replica may serve one
// particular read is not decided here but by the store, per contractor
// (server/syncstore/replica.go): lag only bounds how stale an answer may be
// for devices whose cursors the replica is already past.
package replica

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/syncproxy/syncproxy/server/pgtx"
	"github.com/syncproxy/syncproxy/server/syncstore"
)

// Options configure a Set.
type Options struct {
	// MaxLag is how far behind the primary (in time) a replica may be and
	// still serve reads (SYNC_REPLICA_MAX_LAG). It also bounds one read on
	// a replica: past it the primary answers.
	MaxLag time.Duration
	// ProbeInterval is how often the probe measures the lag
	// (SYNC_REPLICA_PROBE_INTERVAL); one probe of one replica gets as long.
	ProbeInterval time.Duration
	Logger        *slog.Logger
}

// Set is the replicas of one server. Its zero value is not usable: New.
type Set struct {
	primary  *pgtx.Pool
	replicas []*Replica
	opts     Options
	next     atomic.Uint64 // where the next Candidates starts: reads spread over the replicas

	samples walSamples

	reads   *prometheus.CounterVec
	passed  *prometheus.CounterVec
	lag     *prometheus.GaugeVec
	usable  *prometheus.GaugeVec
	behindB *prometheus.GaugeVec
}

var _ syncstore.Replicas = (*Set)(nil)

// New returns the set of pools (one per replica, in SYNC_REPLICA_DATABASE_URLS
// order; the set closes none of them) probed against primary. Replicas are
// named replica1, replica2, ... in that order: metrics and logs never carry
// a URL. No replica serves before the first probe found it healthy (Run).
func New(primary *pgtx.Pool, pools []*pgtx.Pool, o Options) *Set {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Set{primary: primary, opts: o,
		reads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "syncproxy_replica_reads_total",
			Help: "Pull pages and digests by where they were read: source primary or a replica (replica1, ...).",
		}, []string{"op", "source"}),
		passed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "syncproxy_replica_passed_total",
			Help: "Reads a replica was tried for and passed over: reason behind (it had not replayed what the contractor's cursor needs) or failed.",
		}, []string{"op", "replica", "reason"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "syncproxy_replica_lag_seconds",
			Help: "How far behind the primary each replica's replay was at the last probe (from the primary's WAL positions).",
		}, []string{"replica"}),
		behindB: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "syncproxy_replica_lag_bytes",
			Help: "Bytes of WAL the primary had written at the last probe that each replica had not replayed.",
		}, []string{"replica"}),
		usable: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "syncproxy_replica_usable",
			Help: "1 when a replica may serve reads (healthy at the last probe, within SYNC_REPLICA_MAX_LAG, no failure since), else 0.",
		}, []string{"replica"}),
	}
	s.samples.keep = o.MaxLag + 4*o.ProbeInterval
	for i, p := range pools {
		r := &Replica{name: fmt.Sprintf("replica%d", i+1), pool: p, set: s}
		s.replicas = append(s.replicas, r)
		s.usable.WithLabelValues(r.name).Set(0)
		s.reads.WithLabelValues("pull", r.name)
	}
	s.reads.WithLabelValues("pull", syncstore.Primary)
	return s
}

// Collectors are the set's metrics, for the server's registry.
func (s *Set) Collectors() []prometheus.Collector {
	return []prometheus.Collector{s.reads, s.passed, s.lag, s.behindB, s.usable}
}

// Replicas lists the replicas, usable or not.
func (s *Set) Replicas() []*Replica { return s.replicas }

// Candidates implements syncstore.Replicas: the usable replicas, starting
// with a different one each call.
func (s *Set) Candidates() []syncstore.Replica {
	n := len(s.replicas)
	if n == 0 {
		return nil
	}
	start := int(s.next.Add(1) % uint64(n))
	out := make([]syncstore.Replica, 0, n)
	for i := range n {
		r := s.replicas[(start+i)%n]
		if r.Usable() {
			out = append(out, r)
		}
	}
	return out
}

// Served implements syncstore.Replicas.
func (s *Set) Served(op, source string) { s.reads.WithLabelValues(op, source).Inc() }

// Passed implements syncstore.Replicas.
func (s *Set) Passed(op, replica, reason string) { s.passed.WithLabelValues(op, replica, reason).Inc() }

// Replica is one streaming replica.
type Replica struct {
	name string
	pool *pgtx.Pool
	set  *Set

	mu       sync.Mutex
	usable   bool
	lag      time.Duration
	lagBytes int64
	problem  string // why it is not usable, for the log; "" when it is
}

// Name is replica1, replica2, ...
func (r *Replica) Name() string { return r.name }

// Pool is the replica's connection pool.
func (r *Replica) Pool() *pgtx.Pool { return r.pool }

// BeginTx implements syncstore.Replica.
func (r *Replica) BeginTx(ctx context.Context, o pgx.TxOptions) (pgx.Tx, error) {
	return r.pool.BeginTx(ctx, o)
}

// Timeout implements syncstore.Replica: a read that takes longer than a
// replica may lag is better served by the primary.
func (r *Replica) Timeout() time.Duration { return r.set.opts.MaxLag }

// Usable says whether the replica may serve reads now.
func (r *Replica) Usable() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.usable
}

// Lag is the replay lag the last probe measured.
func (r *Replica) Lag() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lag
}

// Failed implements syncstore.Replica: a read failed on the replica (it
// stopped, the network broke): it serves nothing more until a probe finds
// it healthy again.
func (r *Replica) Failed(err error) {
	r.setState(false, r.Lag(), r.lagBytes, "a read failed: "+err.Error())
}

// setState records a probe's or a read's verdict, logging changes only.
func (r *Replica) setState(usable bool, lag time.Duration, lagBytes int64, problem string) {
	r.mu.Lock()
	was, wasProblem := r.usable, r.problem
	r.usable, r.lag, r.lagBytes, r.problem = usable, lag, lagBytes, problem
	r.mu.Unlock()
	r.set.lag.WithLabelValues(r.name).Set(lag.Seconds())
	r.set.behindB.WithLabelValues(r.name).Set(float64(lagBytes))
	if usable {
		r.set.usable.WithLabelValues(r.name).Set(1)
	} else {
		r.set.usable.WithLabelValues(r.name).Set(0)
	}
	log := r.set.opts.Logger
	switch {
	case usable && !was:
		log.Info("replica serves reads", "replica", r.name, "lag_ms", lag.Milliseconds())
	case !usable && (was || problem != wasProblem && wasProblem == ""):
		log.Warn("replica passed over; the primary serves its reads until a probe finds it healthy",
			"replica", r.name, "reason", problem, "lag_ms", lag.Milliseconds())
	}
}
