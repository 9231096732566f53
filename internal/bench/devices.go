package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
)

// maxErrorSamples bounds the error messages a run keeps.
const maxErrorSamples = 5

// device is one simulated app install: its own auth user in a shared
// contractor, its own cursor, and a working set of items it keeps editing.
type device struct {
	token  string
	cursor string
	ids    []uuid.UUID

	pushLat, pullLat       []time.Duration
	pushes, pulls          int
	rowsPushed, rowsPulled int
	errors                 int
}

// fleet is the simulated devices of one server, with their tenants.
type fleet struct {
	devices []*device
	tenants int
}

// newFleet provisions Devices devices, DevicesPerTenant to a contractor, and
// brings each up to date with a full pull, as a fresh install does (not
// measured).
func newFleet(ctx context.Context, e *env, o Options) (*fleet, error) {
	f := &fleet{tenants: (o.Devices + o.DevicesPerTenant - 1) / o.DevicesPerTenant}
	for t := 0; len(f.devices) < o.Devices; t++ {
		_, tokens, err := e.newTenant(ctx, fmt.Sprintf("bench devices %d", t), min(o.DevicesPerTenant, o.Devices-len(f.devices)))
		if err != nil {
			return nil, err
		}
		for _, tok := range tokens {
			ids := make([]uuid.UUID, 10*o.DeviceRows)
			for i := range ids {
				ids[i] = uuid.New()
			}
			f.devices = append(f.devices, &device{token: tok, ids: ids})
		}
	}
	if err := forEach(f.devices, 16, func(d *device) error { return d.catchUp(ctx, e) }); err != nil {
		return nil, fmt.Errorf("initial pull: %w", err)
	}
	return f, nil
}

// runDevices runs the fleet's devices, each looping "push DeviceRows rows,
// then delta pull with its cursor (following hasMore)" for duration, one
// loop per interval (0: back to back), and reports throughput and latency.
// The server's own durations and pool figures are only known for the
// in-process server (observe).
func (f *fleet) run(ctx context.Context, e *env, o Options, interval, duration time.Duration, observe bool) (DevicesResult, error) {
	res := DevicesResult{Devices: len(f.devices), Tenants: f.tenants, DevicesPerTenant: o.DevicesPerTenant,
		Shape: fmt.Sprintf("%d tenants × %d devices (each device its own auth user; devices of a tenant share its rows and clock); "+
			"loop: push %d costbook_items with an Idempotency-Key (new rows for 10 rounds, then edits), delta pull with the device's cursor following hasMore; %s",
			f.tenants, o.DevicesPerTenant, o.DeviceRows, pacing(interval)),
		IntervalMs: ms(interval)}
	for _, d := range f.devices {
		d.reset()
	}
	var before *pgxpool.Stat
	if observe {
		before = e.serverPool.Stat()
		e.observer.start()
	}
	mem := startSampler(observe)
	var errMu sync.Mutex
	report := func(err error) {
		errMu.Lock()
		defer errMu.Unlock()
		if len(res.ErrorSamples) < maxErrorSamples {
			res.ErrorSamples = append(res.ErrorSamples, err.Error())
		}
	}
	start := time.Now()
	deadline := start.Add(duration)
	var wg sync.WaitGroup
	for _, d := range f.devices {
		wg.Go(func() { d.loop(ctx, e, o.DeviceRows, interval, deadline, report) })
	}
	wg.Wait()
	elapsed := time.Since(start)
	var server map[string][]time.Duration
	if observe {
		server = e.observer.stop()
	}
	res.Memory = mem.finish()
	if err := ctx.Err(); err != nil {
		return res, err
	}

	var all, pushes, pulls []time.Duration
	for _, d := range f.devices {
		pushes, pulls = append(pushes, d.pushLat...), append(pulls, d.pullLat...)
		res.Pushes, res.Pulls, res.Errors = res.Pushes+d.pushes, res.Pulls+d.pulls, res.Errors+d.errors
		res.RowsPushed, res.RowsPulled = res.RowsPushed+d.rowsPushed, res.RowsPulled+d.rowsPulled
	}
	all = append(append(all, pushes...), pulls...)
	res.Seconds = elapsed.Seconds()
	res.Requests = res.Pushes + res.Pulls
	res.RequestsPerSec = float64(res.Requests) / elapsed.Seconds()
	res.Latency, res.PushLatency, res.PullLatency = latencyOf(all), latencyOf(pushes), latencyOf(pulls)
	if observe {
		res.ServerLatency = latencyOf(append(server["/api/sync/push"], server["/api/sync/pull"]...))
		after := e.serverPool.Stat()
		acquires := after.AcquireCount() - before.AcquireCount()
		res.Pool = PoolFigures{MaxConns: after.MaxConns(), Acquires: acquires,
			WaitedAcquires: after.EmptyAcquireCount() - before.EmptyAcquireCount()}
		if acquires > 0 {
			res.Pool.MeanAcquireWaitMs = ms(after.EmptyAcquireWaitTime()-before.EmptyAcquireWaitTime()) / float64(acquires)
		}
	}
	return res, nil
}

// runDevices is the closed loop: every device back to back, which saturates
// the server; latency is then devices ÷ throughput (Little's law).
func runDevices(ctx context.Context, e *env, o Options, f *fleet, p *progress) (DevicesResult, error) {
	t0 := time.Now()
	res, err := f.run(ctx, e, o, o.DeviceInterval, o.DevicesDuration, true)
	if err != nil {
		return res, err
	}
	p.phase(t0, "devices", "%d devices (%d tenants × %d), %s, for %.0fs: %.0f req/s, p50 %.1f ms, p95 %.1f ms, p99 %.1f ms (server alone p99 %.1f ms), %d errors; peak RSS %.0f MiB",
		res.Devices, res.Tenants, res.DevicesPerTenant, pacing(o.DeviceInterval), res.Seconds, res.RequestsPerSec,
		res.Latency.P50, res.Latency.P95, res.Latency.P99, res.ServerLatency.P99, res.Errors, res.Memory.PeakRSSMiB)
	return res, nil
}

// runPaced is the same devices syncing once every PacedInterval each, as
// apps on a timer do: the latency a device sees when the server is not
// saturated.
func runPaced(ctx context.Context, e *env, o Options, f *fleet, p *progress) (DevicesResult, error) {
	t0 := time.Now()
	res, err := f.run(ctx, e, o, o.PacedInterval, o.DevicesDuration, true)
	if err != nil {
		return res, err
	}
	p.phase(t0, "paced", "%d devices, one sync each every %s, for %.0fs: %.0f req/s, p50 %.1f ms, p99 %.1f ms (server alone p99 %.1f ms), %d errors",
		res.Devices, o.PacedInterval, res.Seconds, res.RequestsPerSec, res.Latency.P50, res.Latency.P99, res.ServerLatency.P99, res.Errors)
	return res, nil
}

// forEach runs fn on every device, at most parallel at once, and returns the
// first error.
func forEach(devices []*device, parallel int, fn func(*device) error) error {
	sem := make(chan struct{}, parallel)
	errs := make(chan error, len(devices))
	for _, d := range devices {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			errs <- fn(d)
		}()
	}
	for range devices {
		if err := <-errs; err != nil {
			return err
		}
	}
	return nil
}

// reset clears what a run measured, keeping the device's cursor and rows.
func (d *device) reset() {
	d.pushLat, d.pullLat = d.pushLat[:0], d.pullLat[:0]
	d.pushes, d.pulls, d.rowsPushed, d.rowsPulled, d.errors = 0, 0, 0, 0, 0
}

// catchUp pulls until the device has everything and a resting cursor.
func (d *device) catchUp(ctx context.Context, e *env) error {
	for {
		page, _, err := e.pull(ctx, d.token, d.cursor, 0)
		if err != nil {
			return err
		}
		d.cursor = page.Cursor
		if !page.HasMore {
			return nil
		}
	}
}

// loop syncs until deadline. A failed request is counted and the loop goes
// on, as an app would retry; requests cut short by ctx (Ctrl-C) are not errors.
func (d *device) loop(ctx context.Context, e *env, rows int, interval time.Duration, deadline time.Time, report func(error)) {
	fail := func(err error) bool {
		if ctx.Err() != nil {
			return true
		}
		d.errors++
		report(err)
		return false
	}
	next := time.Now()
	if interval > 0 {
		next = next.Add(rand.N(interval)) // spread the devices over the interval
	}
	for round := 0; ctx.Err() == nil; round++ {
		if interval > 0 {
			if wait := time.Until(next); wait > 0 {
				select {
				case <-time.After(wait):
				case <-ctx.Done():
					return
				}
			}
			next = next.Add(interval)
		}
		if !time.Now().Before(deadline) {
			return
		}
		w := (round % (len(d.ids) / rows)) * rows
		body, err := pushBody(costbookItems(rows, d.ids[w:w+rows], round))
		if err != nil {
			fail(err)
			return
		}
		t := time.Now()
		reply, err := e.push(ctx, d.token, body, uuid.NewString())
		d.pushLat = append(d.pushLat, time.Since(t))
		d.pushes++
		if err == nil && reply.Upserted.CostbookItems != rows {
			err = fmt.Errorf("push upserted %d rows, want %d", reply.Upserted.CostbookItems, rows)
		}
		if err == nil {
			d.rowsPushed += rows
		} else if fail(err) {
			return
		}

		for {
			t := time.Now()
			page, _, err := e.pull(ctx, d.token, d.cursor, 0)
			d.pullLat = append(d.pullLat, time.Since(t))
			d.pulls++
			if err != nil {
				if fail(err) {
					return
				}
				break
			}
			d.rowsPulled += page.rows()
			d.cursor = page.Cursor
			if !page.HasMore {
				break
			}
		}
	}
}

func pacing(interval time.Duration) string {
	if interval == 0 {
		return "loops back to back (closed loop, no think time)"
	}
	return fmt.Sprintf("one loop per device every %s", interval)
}
