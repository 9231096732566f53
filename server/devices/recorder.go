// Package devices keeps the device ledger (contract 1.2, "Devices"): who
// syncs for each contractor, from which device, how often, how far behind.
//
// Requests never wait on it. The middleware hands each sync request's
// outcome to a Recorder, which adds it to an in-memory entry per
// (contractor, device); a background loop writes the entries in batches,
// one statement per contractor, every flush interval and once more on
// shutdown. Memory is bounded by a cap on entries: past it, requests of new
// devices are dropped (counted), those of devices already pending still
// add up. A crash loses at most what arrived since the last flush.
package devices

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/syncproxy/syncproxy/gen/db"
)

// NoDevice is the device of requests without a usable X-Device-Id.
var NoDevice = uuid.Nil

// Kind is what a request did, as the ledger counts it.
type Kind int

const (
	// Other is any sync request but a push or a pull (canary, digest, the
	// device list): it only makes the device seen.
	Other Kind = iota
	Push
	Pull
)

// MaxUserAgent bounds the bytes of a User-Agent kept per device: a header is
// up to SYNC_MAX_HEADER_BYTES, and the ledger keeps one per device in memory.
const MaxUserAgent = 256

// Request is one answered sync request of an authenticated caller.
type Request struct {
	ContractorID uuid.UUID
	DeviceID     uuid.UUID // NoDevice when the request named none
	UserID       uuid.UUID
	UserAgent    string
	Kind         Kind
	Status       int       // the HTTP status the request was answered with
	At           time.Time // when it was answered
	// Pulled is set by a pull whose page ended its walk (hasMore false):
	// the device now holds every change up to Version, as of Time.
	Pulled *Pulled
}

// Pulled is the version a complete pull delivered up to, and its serverTime.
type Pulled struct {
	Version int64
	Time    time.Time
}

// key is one row of the ledger.
type key struct {
	contractor, device uuid.UUID
}

// entry is what a device's requests since the last flush add up to.
type entry struct {
	user                uuid.UUID
	userAgent           string
	firstSeen, lastSeen time.Time
	lastPush, lastPull  time.Time
	pulledVersion       int64 // -1: no complete pull since the last flush
	pulledAt            time.Time
	pushes, pulls       int64
	conflicts, rejected int64
}

// Writer writes one contractor's entries (db.Queries.RecordDevices).
type Writer interface {
	RecordDevices(ctx context.Context, arg db.RecordDevicesParams) error
}

// Options configure a Recorder.
type Options struct {
	// FlushInterval is how often pending entries are written (default 1 s).
	FlushInterval time.Duration
	// MaxPending caps the entries held between flushes (default 50,000).
	MaxPending int
	// FlushTimeout bounds one flush (default 10 s).
	FlushTimeout time.Duration
	Logger       *slog.Logger
}

// Recorder buffers the ledger in memory and writes it in batches. Its
// methods are safe for concurrent use; a nil *Recorder records nothing.
type Recorder struct {
	w    Writer
	opts Options

	mu      sync.Mutex
	pending map[key]*entry

	flushMu sync.Mutex // one flush at a time: Run's and Flush's

	dropped  prometheus.Counter
	failed   prometheus.Counter
	written  prometheus.Counter
	held     prometheus.GaugeFunc
	duration prometheus.Histogram
}

// NewRecorder returns a Recorder that writes through w.
func NewRecorder(w Writer, opts Options) *Recorder {
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = time.Second
	}
	if opts.MaxPending <= 0 {
		opts.MaxPending = 50_000
	}
	if opts.FlushTimeout <= 0 {
		opts.FlushTimeout = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Recorder{w: w, opts: opts, pending: map[key]*entry{}}
	r.dropped = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "syncproxy_devices_dropped_total",
		Help: "Sync requests the device ledger did not record because its pending entries were at the cap (SYNC_DEVICES_MAX_PENDING).",
	})
	r.failed = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "syncproxy_devices_flush_failures_total",
		Help: "Batches of the device ledger (one contractor's devices) that could not be written; their entries are lost.",
	})
	r.written = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "syncproxy_devices_written_total",
		Help: "Device ledger entries written (one per device per flush).",
	})
	r.held = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "syncproxy_devices_pending",
		Help: "Device ledger entries held in memory until the next flush.",
	}, func() float64 { return float64(r.Pending()) })
	r.duration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "syncproxy_devices_flush_duration_seconds",
		Help:    "Duration of one flush of the device ledger.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	})
	return r
}

// Collectors are the recorder's metrics.
func (r *Recorder) Collectors() []prometheus.Collector {
	return []prometheus.Collector{r.dropped, r.failed, r.written, r.held, r.duration}
}

// Pending is the number of entries waiting for the next flush.
func (r *Recorder) Pending() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pending)
}

// Record adds one answered request to its device's entry. It never blocks
// on the database: at worst it waits for another request's Record.
func (r *Recorder) Record(req Request) {
	if r == nil {
		return
	}
	if len(req.UserAgent) > MaxUserAgent {
		req.UserAgent = truncate(req.UserAgent, MaxUserAgent)
	}
	k := key{req.ContractorID, req.DeviceID}
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.pending[k]
	if !ok {
		if len(r.pending) >= r.opts.MaxPending {
			r.dropped.Inc()
			return
		}
		e = &entry{firstSeen: req.At, pulledVersion: -1}
		r.pending[k] = e
	}
	e.add(req)
}

// add folds req into e. Requests of one device may be answered out of
// order (two connections): times move forward only, and the user and user
// agent are those of the latest.
func (e *entry) add(req Request) {
	if req.At.Before(e.firstSeen) {
		e.firstSeen = req.At
	}
	if !req.At.Before(e.lastSeen) {
		e.lastSeen, e.user, e.userAgent = req.At, req.UserID, req.UserAgent
	}
	switch req.Kind {
	case Push:
		if req.At.After(e.lastPush) {
			e.lastPush = req.At
		}
		switch {
		case req.Status >= 200 && req.Status < 300:
			e.pushes++
		case req.Status == 409:
			e.conflicts++
		case req.Status >= 400 && req.Status < 500:
			e.rejected++
		}
	case Pull:
		if req.At.After(e.lastPull) {
			e.lastPull = req.At
		}
		if req.Status >= 200 && req.Status < 300 {
			e.pulls++
		}
	}
	if p := req.Pulled; p != nil && p.Version > e.pulledVersion {
		e.pulledVersion, e.pulledAt = p.Version, p.Time
	}
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// Run flushes every FlushInterval until ctx is done, then once more (with
// a context of its own, bounded by FlushTimeout), so a clean shutdown loses
// nothing.
func (r *Recorder) Run(ctx context.Context) {
	ticker := time.NewTicker(r.opts.FlushInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			r.Flush(context.WithoutCancel(ctx))
			return
		case <-ticker.C:
			// Not cancelled with ctx: a flush under way when the server
			// stops would lose its batch (bounded by FlushTimeout).
			r.Flush(context.WithoutCancel(ctx))
		}
	}
}

// Flush writes every pending entry now, one statement per contractor, and
// returns how many it wrote. A batch that fails is logged and lost (the
// ledger is bookkeeping; a retry loop would hold memory while the database
// is down).
func (r *Recorder) Flush(ctx context.Context) int {
	if r == nil {
		return 0
	}
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	// Emptiness is decided under the lock: an empty map stays in place and
	// Record keeps writing to it.
	r.mu.Lock()
	batch := r.pending
	if len(batch) == 0 {
		r.mu.Unlock()
		return 0
	}
	r.pending = make(map[key]*entry, len(batch))
	r.mu.Unlock()
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, r.opts.FlushTimeout)
	defer cancel()
	written := 0
	for _, p := range byContractor(batch) {
		if err := r.w.RecordDevices(ctx, p); err != nil {
			r.failed.Inc()
			r.opts.Logger.Warn("device ledger: writing a batch failed; its entries are lost",
				"contractor_id", p.ContractorID.String(), "devices", len(p.DeviceIds), "err", fmt.Errorf("record devices: %w", err))
			continue
		}
		written += len(p.DeviceIds)
	}
	r.written.Add(float64(written))
	r.duration.Observe(time.Since(start).Seconds())
	return written
}

// byContractor turns the pending entries into one statement's parameters
// per contractor, contractors and devices in order: two instances flushing
// the same rows lock them in the same order, so they never deadlock. The
// map already holds one entry per (contractor, device): no statement
// touches a row twice.
func byContractor(batch map[key]*entry) []db.RecordDevicesParams {
	keys := make([]key, 0, len(batch))
	for k := range batch {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if c := bytes.Compare(keys[i].contractor[:], keys[j].contractor[:]); c != 0 {
			return c < 0
		}
		return bytes.Compare(keys[i].device[:], keys[j].device[:]) < 0
	})
	var out []db.RecordDevicesParams
	for _, k := range keys {
		if len(out) == 0 || out[len(out)-1].ContractorID != k.contractor {
			out = append(out, db.RecordDevicesParams{ContractorID: k.contractor})
		}
		p, e := &out[len(out)-1], batch[k]
		p.DeviceIds = append(p.DeviceIds, k.device)
		p.AuthUserIds = append(p.AuthUserIds, e.user)
		p.UserAgents = append(p.UserAgents, e.userAgent)
		p.FirstSeen = append(p.FirstSeen, micros(e.firstSeen))
		p.LastSeen = append(p.LastSeen, micros(e.lastSeen))
		p.LastPushAt = append(p.LastPushAt, micros(e.lastPush))
		p.LastPullAt = append(p.LastPullAt, micros(e.lastPull))
		p.PulledVersions = append(p.PulledVersions, e.pulledVersion)
		p.PulledVersionAt = append(p.PulledVersionAt, micros(e.pulledAt))
		p.Pushes = append(p.Pushes, e.pushes)
		p.Pulls = append(p.Pulls, e.pulls)
		p.Conflicts = append(p.Conflicts, e.conflicts)
		p.RejectedPushes = append(p.RejectedPushes, e.rejected)
	}
	return out
}

// micros is t in Unix microseconds; 0 for the zero time ("none", as the
// statement reads it).
func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}
