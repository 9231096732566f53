package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/syncproxy/syncproxy/internal/pgcluster"
	"github.com/syncproxy/syncproxy/server"
	"github.com/syncproxy/syncproxy/server/syncstore"
)

// ReplicasResult is devices on a timer against a server that reads pulls
// on a streaming replica.
type ReplicasResult struct {
	Shape   string  `json:"shape"`
	Devices int     `json:"devices"`
	Seconds float64 `json:"seconds"`
	Pushes  int     `json:"pushes"`
	Pulls   int     `json:"pulls"` // pages
	Errors  int     `json:"errors"`
	// Pages by where the server read them (its /metrics), and how often it
	// passed the replica over.
	OnReplica      int     `json:"onReplica"`
	OnPrimary      int     `json:"onPrimary"`
	ReplicaBehind  int     `json:"replicaBehind"` // the replica had not replayed the device's cursor
	ReplicaFailed  int     `json:"replicaFailed"`
	ReplicaShare   float64 `json:"replicaShare"`   // OnReplica ÷ (OnReplica + OnPrimary)
	OwnPushUnseen  float64 `json:"ownPushUnseen"`  // share of syncs whose pull did not yet hold the push the device had just made
	VersionsBehind Latency `json:"versionsBehind"` // of those: how many versions the pull was behind that push (in the "ms" fields: versions)
	// ReplayLag is the replica's replay lag as the primary reports it
	// (pg_stat_replication.replay_lag, sampled every 100 ms while the
	// devices ran); ReplayLagBytes its largest WAL distance.
	ReplayLag      Latency  `json:"replayLagMs"`
	ReplayLagBytes int64    `json:"replayLagBytesMax"`
	PullLatency    Latency  `json:"pullLatency"`
	PushLatency    Latency  `json:"pushLatency"`
	ErrorSamples   []string `json:"errorSamples,omitempty"`
}

// runReplicas starts a streaming replica of the throwaway cluster (or uses
// the first of SYNC_REPLICA_DATABASE_URLS with DATABASE_URL), a server that
// reads pulls on it, and o.Devices devices that each push DeviceRows rows
// and pull from their cursor once every PacedInterval, for DevicesDuration.
func runReplicas(ctx context.Context, e *env, o Options, p *progress) (_ ReplicasResult, err error) {
	t0 := time.Now()
	replicaURL := ""
	switch {
	case e.cluster != nil:
		restore, err := flushWALOften(ctx, e)
		if err != nil {
			return ReplicasResult{}, err
		}
		defer func() { err = errors.Join(err, restore()) }()
		p.line("replicas: pg_basebackup of the throwaway cluster into a hot standby")
		replica, err := e.cluster.StartReplica(ctx, pgcluster.ReplicaOptions{Log: nil})
		if err != nil {
			return ReplicasResult{}, err
		}
		defer func() { err = errors.Join(err, replica.Remove()) }()
		replicaURL = replica.URL(benchDatabase)
	case len(e.cfg.ReplicaURLs) > 0:
		replicaURL = e.cfg.ReplicaURLs[0]
	default:
		p.line("replicas: skipped (DATABASE_URL without SYNC_REPLICA_DATABASE_URLS)")
		return ReplicasResult{}, nil
	}
	cfg := e.cfg
	cfg.ReplicaURLs = []string{replicaURL}
	pool, err := server.OpenPool(ctx, cfg)
	if err != nil {
		return ReplicasResult{}, err
	}
	defer pool.Close()
	logger := slog.New(slog.NewJSONHandler(&errorTap{w: os.Stderr, quiet: ctx.Done()}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srvCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	ready, done := make(chan string, 1), make(chan error, 1)
	go func() { done <- server.Serve(srvCtx, cfg, pool, logger, func(addr string) { ready <- addr }) }()
	defer func() {
		cancel()
		err = errors.Join(err, <-done)
	}()
	var target *env
	select {
	case addr := <-ready:
		target = &env{cfg: e.cfg, serverPool: e.serverPool, baseURL: "http://" + addr, client: e.client}
	case err := <-done:
		done <- nil
		return ReplicasResult{}, fmt.Errorf("start the replica-reading server: %w", err)
	}
	f, err := newFleet(ctx, target, o)
	e.mu.Lock()
	e.tenants = append(e.tenants, target.tenants...)
	e.mu.Unlock()
	if err != nil {
		return ReplicasResult{}, err
	}

	res := ReplicasResult{Devices: len(f.devices),
		Shape: fmt.Sprintf("one server reading pulls on one streaming replica (SYNC_REPLICA_MAX_LAG=%s, probe every %s); %d devices (%d tenants × %d), "+
			"each pushing %d costbook_items then pulling from its cursor (following hasMore), one sync every %s at a random offset",
			cfg.ReplicaMaxLag, cfg.ReplicaProbe, len(f.devices), f.tenants, o.DevicesPerTenant, o.DeviceRows, o.PacedInterval)}
	before, err := replicaCounters(ctx, target)
	if err != nil {
		return res, err
	}
	lagCtx, stopLag := context.WithCancel(ctx)
	lags := make(chan lagSamples, 1)
	go func() { lags <- sampleReplayLag(lagCtx, e) }()

	start := time.Now()
	deadline := start.Add(o.DevicesDuration)
	var mu sync.Mutex
	var pushLat, pullLat, behind []time.Duration
	syncs := 0
	var wg sync.WaitGroup
	for _, d := range f.devices {
		wg.Go(func() {
			s := d.replicaLoop(ctx, target, o.DeviceRows, o.PacedInterval, deadline)
			mu.Lock()
			defer mu.Unlock()
			pushLat, pullLat = append(pushLat, s.push...), append(pullLat, s.pull...)
			behind = append(behind, s.behind...)
			syncs += s.syncs
			res.Pushes, res.Pulls, res.Errors = res.Pushes+len(s.push), res.Pulls+len(s.pull), res.Errors+s.errors
			if len(res.ErrorSamples) < maxErrorSamples && s.firstErr != nil {
				res.ErrorSamples = append(res.ErrorSamples, s.firstErr.Error())
			}
		})
	}
	wg.Wait()
	res.Seconds = time.Since(start).Seconds()
	stopLag()
	lag := <-lags
	if err := ctx.Err(); err != nil {
		return res, err
	}
	after, err := replicaCounters(ctx, target)
	if err != nil {
		return res, err
	}
	res.OnReplica, res.OnPrimary = after.onReplica-before.onReplica, after.onPrimary-before.onPrimary
	res.ReplicaBehind, res.ReplicaFailed = after.behind-before.behind, after.failed-before.failed
	res.ReplicaShare = float64(res.OnReplica) / max(float64(res.OnReplica+res.OnPrimary), 1)
	res.OwnPushUnseen = float64(len(behind)) / max(float64(syncs), 1)
	res.VersionsBehind = latencyOf(behind)
	res.ReplayLag, res.ReplayLagBytes = latencyOf(lag.lag), lag.maxBytes
	res.PushLatency, res.PullLatency = latencyOf(pushLat), latencyOf(pullLat)
	p.phase(t0, "replicas", "%s", res.summary())
	return res, nil
}

func (r ReplicasResult) summary() string {
	return fmt.Sprintf("%d devices, %.0fs: %d pulls, %.1f%% read on the replica (%d on the primary: the replica was behind the cursor %d times, failed %d); "+
		"%.1f%% of syncs pulled before the replica had the device's own push (by %.0f versions at p50, %.0f max); replay lag p50 %.1f ms, p99 %.1f ms, max %.1f ms (%d bytes); "+
		"pull p50 %.1f ms, p99 %.1f ms; %d errors",
		r.Devices, r.Seconds, r.Pulls, 100*r.ReplicaShare, r.OnPrimary, r.ReplicaBehind, r.ReplicaFailed,
		100*r.OwnPushUnseen, r.VersionsBehind.P50, r.VersionsBehind.Max, r.ReplayLag.P50, r.ReplayLag.P99, r.ReplayLag.Max, r.ReplayLagBytes,
		r.PullLatency.P50, r.PullLatency.P99, r.Errors)
}

// flushWALOften makes the throwaway primary flush its WAL every 10 ms
// instead of 200: it commits asynchronously (synchronous_commit=off), so WAL
// reaches a replica when the WAL writer flushes it, where a durable primary
// flushes at every commit. restore puts the default back.
func flushWALOften(ctx context.Context, e *env) (restore func() error, err error) {
	set := func(sql string) error {
		if _, err := e.rawPool.Pool.Exec(ctx, sql); err != nil {
			return fmt.Errorf("replicas: %s: %w", sql, err)
		}
		_, err := e.rawPool.Pool.Exec(ctx, "SELECT pg_reload_conf()")
		return err
	}
	if err := set("ALTER SYSTEM SET wal_writer_delay = '10ms'"); err != nil {
		return nil, err
	}
	return func() error { return set("ALTER SYSTEM RESET wal_writer_delay") }, nil
}

// replicaSyncs is what one device measured.
type replicaSyncs struct {
	push, pull []time.Duration
	behind     []time.Duration // versions, in a Duration so that latencyOf sorts them: 1 ms = 1 version
	syncs      int
	errors     int
	firstErr   error
}

// replicaLoop is device.loop that also notes, after each sync, whether its
// pull held the push the device had just made.
func (d *device) replicaLoop(ctx context.Context, e *env, rows int, interval time.Duration, deadline time.Time) replicaSyncs {
	var s replicaSyncs
	fail := func(err error) {
		s.errors++
		if s.firstErr == nil {
			s.firstErr = err
		}
	}
	next := time.Now().Add(rand.N(interval))
	for round := 0; ctx.Err() == nil; round++ {
		if wait := time.Until(next); wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return s
			}
		}
		next = next.Add(interval)
		if !time.Now().Before(deadline) {
			return s
		}
		w := (round % (len(d.ids) / rows)) * rows
		body, err := pushBody(costbookItems(rows, d.ids[w:w+rows], round))
		if err != nil {
			fail(err)
			return s
		}
		t := time.Now()
		reply, err := e.push(ctx, d.token, body, uuid.NewString())
		s.push = append(s.push, time.Since(t))
		if err != nil {
			fail(err)
			continue
		}
		var version int64
		for {
			t := time.Now()
			page, _, err := e.pull(ctx, d.token, d.cursor, 0)
			s.pull = append(s.pull, time.Since(t))
			if err != nil {
				fail(err)
				break
			}
			d.cursor = page.Cursor
			if !page.HasMore {
				version, _, err = syncstore.CursorVersion(page.Cursor)
				if err != nil {
					fail(err)
				}
				break
			}
		}
		s.syncs++
		if version > 0 && version < reply.Version {
			s.behind = append(s.behind, time.Duration(reply.Version-version)*time.Millisecond)
		}
	}
	return s
}

type lagSamples struct {
	lag      []time.Duration
	maxBytes int64
}

// sampleReplayLag reads the replicas' replay lag from the primary every
// 100 ms until ctx is done (no sample while no replica reports one).
func sampleReplayLag(ctx context.Context, e *env) lagSamples {
	var out lagSamples
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return out
		case <-tick.C:
		}
		var seconds float64
		var bytes int64
		var n int
		err := e.rawPool.QueryRow(ctx, `SELECT count(*), coalesce(max(extract(epoch FROM replay_lag)), 0)::float8,
			coalesce(max(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)), 0)::bigint FROM pg_stat_replication`).Scan(&n, &seconds, &bytes)
		if err != nil || n == 0 {
			continue
		}
		out.lag = append(out.lag, time.Duration(seconds*float64(time.Second)))
		out.maxBytes = max(out.maxBytes, bytes)
	}
}

type replicaCounts struct{ onReplica, onPrimary, behind, failed int }

// replicaCounters reads the server's replica metrics.
func replicaCounters(ctx context.Context, e *env) (replicaCounts, error) {
	var c replicaCounts
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.baseURL+"/metrics", nil)
	if err != nil {
		return c, err
	}
	res, err := e.client.Do(req)
	if err != nil {
		return c, err
	}
	defer res.Body.Close()
	series := map[string]*int{
		`syncproxy_replica_reads_total{op="pull",source="replica1"}`:                   &c.onReplica,
		`syncproxy_replica_reads_total{op="pull",source="primary"}`:                    &c.onPrimary,
		`syncproxy_replica_passed_total{op="pull",reason="behind",replica="replica1"}`: &c.behind,
		`syncproxy_replica_passed_total{op="pull",reason="failed",replica="replica1"}`: &c.failed,
	}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if dst, known := series[name]; ok && known {
			f, err := strconv.ParseFloat(value, 64)
			if err != nil {
				return c, fmt.Errorf("metrics: %s: %w", name, err)
			}
			*dst = int(f)
		}
	}
	return c, sc.Err()
}
