package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/syncproxy/syncproxy/server"
	"github.com/syncproxy/syncproxy/server/pgtx"
)

// modeVariant is one way the server can send its statements to Postgres.
type modeVariant struct {
	name  string
	mode  pgx.QueryExecMode // with auto: the mode of connections not proven direct
	auto  bool              // SYNC_DB_EXEC_MODE=auto: cache_statement on connections proven direct
	perTx bool              // the statement timeout per transaction (pgtx), else as a startup parameter
	note  string
}

// modeVariants are served side by side on the same Postgres. The first is
// the default every ratio is taken against.
var modeVariants = []modeVariant{
	{"default (auto)", pgx.QueryExecModeExec, true, true,
		"cache_statement on connections proven direct (as here), exec behind a pooler; statement timeout per transaction"},
	{"SYNC_DB_EXEC_MODE=exec", pgx.QueryExecModeExec, false, true,
		"exec everywhere, statement timeout per transaction: works behind a transaction pooler (the default before auto)"},
	{"SYNC_DB_EXEC_MODE=cache_describe", pgx.QueryExecModeCacheDescribe, false, true,
		"unnamed statements described once per connection, statement timeout per transaction: works behind a transaction pooler"},
	{"SYNC_DB_EXEC_MODE=cache_statement", pgx.QueryExecModeCacheStatement, false, true,
		"named prepared statements, statement timeout per transaction: direct connections only"},
	{"before (no pooler support)", pgx.QueryExecModeCacheStatement, false, false,
		"named prepared statements, statement_timeout as a startup parameter: the server before pooler support, for reference"},
}

// runModes measures what the pooler-safe default costs on a direct
// connection: one in-process server per variant on the same database, and
// o.Devices devices looping push + delta pull against one server at a time,
// in slices of o.ModesSlice that rotate through the variants o.ModesRounds
// times, so that every variant sees the same machine, noise included.
func runModes(ctx context.Context, e *env, o Options, p *progress) (_ ModesResult, err error) {
	t0 := time.Now()
	logger := slog.New(slog.NewJSONHandler(&errorTap{w: os.Stderr, quiet: ctx.Done()}, &slog.HandlerOptions{Level: e.cfg.LogLevel}))
	targets := make([]*env, len(modeVariants))
	for i, v := range modeVariants {
		url, stop, err := startVariant(ctx, e, v, logger)
		if err != nil {
			return ModesResult{}, fmt.Errorf("start the %q server: %w", v.name, err)
		}
		defer func() { err = errors.Join(err, stop()) }()
		targets[i] = &env{baseURL: url, client: e.client}
	}
	f, err := newFleet(ctx, e, o)
	if err != nil {
		return ModesResult{}, err
	}
	devices, tenants := f.devices, f.tenants
	res := ModesResult{Devices: o.Devices, SliceSeconds: o.ModesSlice.Seconds(), Rounds: o.ModesRounds,
		Shape: fmt.Sprintf("%d servers in this process on one Postgres (direct connection), each with SYNC_DB_MAX_CONNS=%d; "+
			"%d devices (%d tenants × %d) loop push %d costbook_items + delta pull back to back against one server at a time, "+
			"in %s slices rotating through the servers %d times after one unmeasured warm-up slice each",
			len(modeVariants), e.cfg.DBMaxConns, o.Devices, tenants, o.DevicesPerTenant, o.DeviceRows, o.ModesSlice, o.ModesRounds)}
	for _, v := range modeVariants {
		mode := v.mode.String()
		if v.auto {
			mode = "auto"
		}
		res.Runs = append(res.Runs, ModeRun{Name: v.name, ExecMode: mode, TimeoutPerTransaction: v.perTx, Note: v.note})
	}

	var errMu sync.Mutex
	slice := func(i int, measured bool) {
		run := &res.Runs[i]
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
		for _, d := range devices {
			wg.Go(func() { d.loop(ctx, targets[i], o.DeviceRows, 0, deadline, report) })
		}
		wg.Wait()
		if measured {
			run.Seconds += time.Since(start).Seconds()
		}
		for _, d := range devices {
			if measured {
				run.Requests += d.pushes + d.pulls
				run.Errors += d.errors
				run.lat = append(append(run.lat, d.pushLat...), d.pullLat...)
			}
			d.pushLat, d.pullLat, d.pushes, d.pulls, d.rowsPushed, d.rowsPulled, d.errors = nil, nil, 0, 0, 0, 0, 0
		}
	}
	for i := range modeVariants { // connections, statement caches, plans
		slice(i, false)
	}
	for round := range o.ModesRounds {
		for k := range modeVariants {
			slice((round+k)%len(modeVariants), true) // each variant goes first in turn
			if err := ctx.Err(); err != nil {
				return res, err
			}
		}
	}
	for i := range res.Runs {
		r := &res.Runs[i]
		r.RequestsPerSec = float64(r.Requests) / r.Seconds
		r.Latency = latencyOf(r.lat)
		r.Ratio = r.RequestsPerSec / res.Runs[0].RequestsPerSec
	}
	p.phase(t0, "modes", "%s", res.summary())
	return res, nil
}

func (m ModesResult) summary() string {
	s := ""
	for i, r := range m.Runs {
		if i > 0 {
			s += "; "
		}
		s += fmt.Sprintf("%s %.0f req/s (%.2f×), p99 %.1f ms, %d errors", r.Name, r.RequestsPerSec, r.Ratio, r.Latency.P99, r.Errors)
	}
	return s
}

// startVariant serves e's configuration on a pool of its own, sending
// statements the way v says, and returns its base URL and how to stop it.
func startVariant(ctx context.Context, e *env, v modeVariant, logger *slog.Logger) (string, func() error, error) {
	cfg := e.cfg
	cfg.DBExecMode, cfg.DBExecAuto = v.mode, v.auto
	pc, err := server.PoolConfig(cfg)
	if err != nil {
		return "", nil, err
	}
	if !v.auto {
		pc.ConnConfig.DefaultQueryExecMode = v.mode // also over a DATABASE_URL's default_query_exec_mode
	}
	settings := pgtx.Settings{StatementTimeout: e.cfg.StatementTimeout}
	if !v.perTx {
		pc.ConnConfig.RuntimeParams["statement_timeout"] = strconv.FormatInt(e.cfg.StatementTimeout.Milliseconds(), 10)
		settings = pgtx.Settings{}
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return "", nil, err
	}
	srvCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- server.Serve(srvCtx, e.cfg, pgtx.New(pool, settings), logger, func(addr string) { ready <- addr })
	}()
	stop := func() error {
		cancel()
		defer pool.Close()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			return errors.New("bench: a modes server did not stop within 30s")
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
