package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/syncproxy/syncproxy/server"
	"github.com/syncproxy/syncproxy/server/config"
	"github.com/syncproxy/syncproxy/server/pgtx"
)

// LedgerResult is the devices' loop with the device ledger (issue 21:
// every request recorded in memory, flushed in batches) on and off, in one
// run, on the same Postgres: what the ledger costs a request.
type LedgerResult struct {
	Shape        string    `json:"shape"`
	Devices      int       `json:"devices"`
	SliceSeconds float64   `json:"sliceSeconds"`
	Rounds       int       `json:"rounds"`
	Runs         []ModeRun `json:"runs"` // on, then off; Ratio is req/s ÷ the ledger-on servers'
	// Spread is how far apart the two servers of one setting were (the
	// larger of the two settings, 0.05: 5%): differences between the
	// settings within it are this machine's noise, not the ledger.
	Spread float64 `json:"spread"`
}

// ledgerVariants: the default (on) first, every ratio is taken against it.
var ledgerVariants = []struct {
	name       string
	maxPending int
	note       string
}{
	{"ledger on (default)", 50000, "every sync request added to an in-memory entry per device; written once a second, one statement per contractor"},
	{"ledger off", 0, "SYNC_DEVICES_MAX_PENDING=0: nothing recorded"},
}

// runLedger serves the same configuration four times in this process,
// ledger on, off, on, off, each on a pool of its own, and lets o.Devices
// devices loop push + delta pull against one server at a time, in
// o.ModesSlice slices rotating o.ModesRounds times (after one unmeasured
// slice each), so every server sees the same machine, noise included. Two
// servers per setting: an A/A test of this phase (both servers off) showed
// one of two identical servers 11% faster than the other, whatever either
// ran; with each setting on two servers started in turn, that bias falls on
// both, and the two servers of one setting show how large it is (Spread).
func runLedger(ctx context.Context, e *env, o Options, p *progress) (_ LedgerResult, err error) {
	t0 := time.Now()
	logger := slog.New(slog.NewJSONHandler(&errorTap{w: os.Stderr, quiet: ctx.Done()}, &slog.HandlerOptions{Level: e.cfg.LogLevel}))
	const perSetting = 2
	n := perSetting * len(ledgerVariants)
	targets := make([]*env, n)
	servers := make([]ModeRun, n)
	res := LedgerResult{Devices: o.Devices, SliceSeconds: o.ModesSlice.Seconds(), Rounds: o.ModesRounds}
	for i := range n {
		v := ledgerVariants[i%len(ledgerVariants)]
		cfg := e.cfg
		cfg.DevicesMaxPending = v.maxPending
		url, stop, err := startLedgerServer(ctx, cfg, logger)
		if err != nil {
			return res, fmt.Errorf("start the %q server: %w", v.name, err)
		}
		defer func() { err = errors.Join(err, stop()) }()
		targets[i] = &env{baseURL: url, client: withDeviceIDs(e.client)}
	}
	f, err := newFleet(ctx, e, o)
	if err != nil {
		return res, err
	}
	res.Shape = fmt.Sprintf("%d servers in this process on one Postgres (ledger on, off, on, off, started in that order), each with SYNC_DB_MAX_CONNS=%d; "+
		"%d devices (%d tenants × %d), each sending its own X-Device-Id and a User-Agent, loop push %d costbook_items + delta pull back to back "+
		"against one server at a time, in %s slices rotating %d times after one unmeasured slice each; a setting's figures are its two servers'",
		n, e.cfg.DBMaxConns, o.Devices, f.tenants, o.DevicesPerTenant, o.DeviceRows, o.ModesSlice, o.ModesRounds)
	var errMu sync.Mutex
	slice := func(i int, measured bool) {
		run := &servers[i]
		report := func(err error) {
			errMu.Lock()
			defer errMu.Unlock()
			if measured && len(run.ErrorSamples) < maxErrorSamples {
				run.ErrorSamples = append(run.ErrorSamples, err.Error())
			}
		}
		start := time.Now()
		deadline := start.Add(o.ModesSlice)
		var wg sync.WaitGroup
		for _, d := range f.devices {
			wg.Go(func() { d.loop(ctx, targets[i], o.DeviceRows, 0, deadline, report) })
		}
		wg.Wait()
		if measured {
			run.Seconds += time.Since(start).Seconds()
		}
		for _, d := range f.devices {
			if measured {
				run.Requests += d.pushes + d.pulls
				run.Errors += d.errors
				run.lat = append(append(run.lat, d.pushLat...), d.pullLat...)
			}
			d.pushLat, d.pullLat, d.pushes, d.pulls, d.rowsPushed, d.rowsPulled, d.errors = nil, nil, 0, 0, 0, 0, 0
		}
	}
	for i := range n {
		slice(i, false)
	}
	for round := range o.ModesRounds {
		for k := range n {
			slice((round+k)%n, true)
			if err := ctx.Err(); err != nil {
				return res, err
			}
		}
	}
	for vi, v := range ledgerVariants {
		run := ModeRun{Name: v.name, ExecMode: e.cfg.DBExecMode.String(), TimeoutPerTransaction: true, Note: v.note}
		var rates []float64
		for i := vi; i < n; i += len(ledgerVariants) {
			s := servers[i]
			run.Seconds += s.Seconds
			run.Requests += s.Requests
			run.Errors += s.Errors
			run.ErrorSamples = append(run.ErrorSamples, s.ErrorSamples...)
			run.lat = append(run.lat, s.lat...)
			rates = append(rates, float64(s.Requests)/s.Seconds)
		}
		run.RequestsPerSec = float64(run.Requests) / run.Seconds
		run.Latency = latencyOf(run.lat)
		run.Note += fmt.Sprintf(" (its two servers: %.0f and %.0f req/s)", rates[0], rates[1])
		res.Spread = max(res.Spread, max(rates[0], rates[1])/min(rates[0], rates[1])-1)
		res.Runs = append(res.Runs, run)
	}
	for i := range res.Runs {
		res.Runs[i].Ratio = res.Runs[i].RequestsPerSec / res.Runs[0].RequestsPerSec
	}
	p.phase(t0, "ledger", "%s", res.summary())
	return res, nil
}

func (l LedgerResult) summary() string {
	var parts []string
	for _, r := range l.Runs {
		parts = append(parts, fmt.Sprintf("%s %.0f req/s (%.2f×), p50 %.1f ms, p99 %.1f ms, %d errors",
			r.Name, r.RequestsPerSec, r.Ratio, r.Latency.P50, r.Latency.P99, r.Errors))
	}
	return strings.Join(parts, "; ") + fmt.Sprintf("; servers of one setting %.0f%% apart", 100*l.Spread)
}

func (r Result) writeLedger(b *strings.Builder) {
	l := r.Ledger
	fmt.Fprintf(b, "\nDEVICE LEDGER: %d devices against 4 servers on one Postgres (on, off, on, off), %.1fs slices in turn × %d rounds; the two servers of one setting were %.0f%% apart (noise)\n",
		l.Devices, l.SliceSeconds, l.Rounds, 100*l.Spread)
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVER\tREQ/S\tVS LEDGER ON\tP50 MS\tP99 MS\tERRORS")
	for _, run := range l.Runs {
		fmt.Fprintf(tw, "%s\t%.0f\t%.2f×\t%.1f\t%.1f\t%d\n", run.Name, run.RequestsPerSec, run.Ratio, run.Latency.P50, run.Latency.P99, run.Errors)
	}
	tw.Flush()
	for _, run := range l.Runs {
		fmt.Fprintf(b, "  %s: %s\n", run.Name, run.Note)
		for _, s := range run.ErrorSamples {
			fmt.Fprintf(b, "    error: %s\n", s)
		}
	}
}

// startLedgerServer serves cfg on a pool of its own and returns its base
// URL and how to stop it (which runs the ledger's last flush).
func startLedgerServer(ctx context.Context, cfg config.Config, logger *slog.Logger) (string, func() error, error) {
	pc, err := server.PoolConfig(cfg)
	if err != nil {
		return "", nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return "", nil, err
	}
	srvCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- server.Serve(srvCtx, cfg, pgtx.New(pool, pgtx.Settings{StatementTimeout: cfg.StatementTimeout}), logger, func(addr string) { ready <- addr })
	}()
	stop := func() error {
		cancel()
		defer pool.Close()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			return errors.New("bench: a ledger server did not stop within 30s")
		}
	}
	select {
	case addr := <-ready:
		return "http://" + addr, stop, nil
	case err := <-done:
		cancel()
		pool.Close()
		return "", nil, err
	}
}

// benchDevices names the bench's device ids (uuid v5 of each token).
var benchDevices = uuid.MustParse("6f1b0c52-8a4e-4f7b-9c3d-2e5a7b9d1c40")

// withDeviceIDs is client with every request carrying an X-Device-Id of
// its bearer (one per simulated device) and a User-Agent, as the SDK sends.
func withDeviceIDs(client *http.Client) *http.Client {
	c := *client
	next := c.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	c.Transport = deviceIDTransport{next: next}
	return &c
}

type deviceIDTransport struct{ next http.RoundTripper }

func (t deviceIDTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Device-Id", uuid.NewSHA1(benchDevices, []byte(r.Header.Get("Authorization"))).String())
	r.Header.Set("User-Agent", "syncproxy-bench/1 SyncProxyClient/1.2.0")
	return t.next.RoundTrip(r)
}
