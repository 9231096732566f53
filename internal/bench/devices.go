package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/google/uuid"
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

// runDevices runs Devices devices, DevicesPerTenant to a contractor, each
// looping "push DeviceRows rows, then delta pull with its cursor (following
// hasMore)" for DevicesDuration, and reports throughput and latency.
func runDevices(ctx context.Context, e *env, o Options, p *progress) (DevicesResult, error) {
	t0 := time.Now()
	tenants := (o.Devices + o.DevicesPerTenant - 1) / o.DevicesPerTenant
	devices := make([]*device, 0, o.Devices)
	for t := 0; len(devices) < o.Devices; t++ {
		_, tokens, err := e.newTenant(ctx, fmt.Sprintf("bench devices %d", t), min(o.DevicesPerTenant, o.Devices-len(devices)))
		if err != nil {
			return DevicesResult{}, err
		}
		for _, tok := range tokens {
			ids := make([]uuid.UUID, 10*o.DeviceRows)
			for i := range ids {
				ids[i] = uuid.New()
			}
			devices = append(devices, &device{token: tok, ids: ids})
		}
	}
	// Every device starts from a full pull, as a fresh install does (not measured).
	if err := forEach(devices, 16, func(d *device) error { return d.catchUp(ctx, e) }); err != nil {
		return DevicesResult{}, fmt.Errorf("initial pull: %w", err)
	}

	res := DevicesResult{Devices: o.Devices, Tenants: tenants, DevicesPerTenant: o.DevicesPerTenant,
		Shape: fmt.Sprintf("%d tenants × %d devices (each device its own auth user; devices of a tenant share its rows and clock); "+
			"loop: push %d costbook_items with an Idempotency-Key (new rows for 10 rounds, then edits), delta pull with the device's cursor following hasMore; %s",
			tenants, o.DevicesPerTenant, o.DeviceRows, pacing(o.DeviceInterval)),
		IntervalMs: ms(o.DeviceInterval)}
	before := e.serverPool.Stat()
	mem := startSampler(true)
	e.observer.start()
	var errMu sync.Mutex
	report := func(err error) {
		errMu.Lock()
		defer errMu.Unlock()
		if len(res.ErrorSamples) < maxErrorSamples {
			res.ErrorSamples = append(res.ErrorSamples, err.Error())
		}
	}
	start := time.Now()
	deadline := start.Add(o.DevicesDuration)
	var wg sync.WaitGroup
	for _, d := range devices {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.loop(ctx, e, o.DeviceRows, o.DeviceInterval, deadline, report)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	server := e.observer.stop()
	res.Memory = mem.finish()
	if err := ctx.Err(); err != nil {
		return res, err
	}
	after := e.serverPool.Stat()

	var all, pushes, pulls []time.Duration
	for _, d := range devices {
		pushes, pulls = append(pushes, d.pushLat...), append(pulls, d.pullLat...)
		res.Pushes, res.Pulls, res.Errors = res.Pushes+d.pushes, res.Pulls+d.pulls, res.Errors+d.errors
		res.RowsPushed, res.RowsPulled = res.RowsPushed+d.rowsPushed, res.RowsPulled+d.rowsPulled
	}
	all = append(append(all, pushes...), pulls...)
	res.Seconds = elapsed.Seconds()
	res.Requests = res.Pushes + res.Pulls
	res.RequestsPerSec = float64(res.Requests) / elapsed.Seconds()
	res.Latency, res.PushLatency, res.PullLatency = latencyOf(all), latencyOf(pushes), latencyOf(pulls)
	res.ServerLatency = latencyOf(append(server["/api/sync/push"], server["/api/sync/pull"]...))
	acquires := after.AcquireCount() - before.AcquireCount()
	res.Pool = PoolFigures{MaxConns: after.MaxConns(), Acquires: acquires,
		WaitedAcquires: after.EmptyAcquireCount() - before.EmptyAcquireCount()}
	if acquires > 0 {
		res.Pool.MeanAcquireWaitMs = ms(after.EmptyAcquireWaitTime()-before.EmptyAcquireWaitTime()) / float64(acquires)
	}
	p.phase(t0, "devices", "%d devices (%d tenants × %d) for %.0fs: %.0f req/s, p50 %.1f ms, p95 %.1f ms, p99 %.1f ms (server alone p99 %.1f ms), %d errors; peak RSS %.0f MiB",
		o.Devices, tenants, o.DevicesPerTenant, elapsed.Seconds(), res.RequestsPerSec,
		res.Latency.P50, res.Latency.P95, res.Latency.P99, res.ServerLatency.P99, res.Errors, res.Memory.PeakRSSMiB)
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
