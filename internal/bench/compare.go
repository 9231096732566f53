package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/syncproxy/syncproxy/server/pgtx"

	"github.com/syncproxy/syncproxy/server"
)

// runCompare runs the closed-loop devices against another version of the
// server and against this build, in the same run on the same machine: a
// before/after that holds on a noisy machine, where figures from another day
// would not. Both servers run as separate processes with the same settings,
// each on its own database of the throwaway cluster, and the rounds
// alternate (before, after, before, after, ...) so a slow patch of the
// machine hits both.
func runCompare(ctx context.Context, e *env, o Options, p *progress) (CompareResult, error) {
	t0 := time.Now()
	if e.cluster == nil {
		return CompareResult{}, errors.New("compare needs the throwaway cluster (unset DATABASE_URL)")
	}
	label := o.CompareLabel
	if label == "" {
		label = o.CompareBinary
	}
	sides := []*compareSide{
		{CompareSide: CompareSide{Label: label, Binary: o.CompareBinary}, database: "compare_before"},
		{CompareSide: CompareSide{Label: "this build", Binary: o.SelfBinary}, database: "compare_after"},
	}
	defer func() {
		for _, s := range sides {
			s.stop()
		}
	}()
	for _, s := range sides {
		if err := s.start(ctx, e, o); err != nil {
			return CompareResult{}, fmt.Errorf("compare: start %s: %w", s.Label, err)
		}
		p.line("compare: %s serving on %s", s.Label, s.env.baseURL)
		var err error
		if s.fleet, err = newFleet(ctx, s.env, o); err != nil {
			return CompareResult{}, fmt.Errorf("compare: devices on %s: %w", s.Label, err)
		}
	}
	if err := comparePush(ctx, sides, o, p); err != nil {
		return CompareResult{}, err
	}
	var lat [2][]time.Duration
	for round := range o.CompareRounds {
		for i, s := range sides {
			r, err := s.fleet.run(ctx, s.env, o, 0, o.CompareDuration, false)
			if err != nil {
				return CompareResult{}, fmt.Errorf("compare round %d on %s: %w", round+1, s.Label, err)
			}
			s.Requests += r.Requests
			s.Seconds += r.Seconds
			s.Errors += r.Errors
			s.ErrorSamples = append(s.ErrorSamples, r.ErrorSamples...)
			for _, d := range s.fleet.devices {
				lat[i] = append(append(lat[i], d.pushLat...), d.pullLat...)
			}
			p.line("compare: round %d/%d, %s: %.0f req/s", round+1, o.CompareRounds, s.Label, r.RequestsPerSec)
		}
	}
	res := CompareResult{Rounds: o.CompareRounds, RoundSecond: o.CompareDuration.Seconds(),
		Method: fmt.Sprintf("%d devices (%d per tenant), closed loop, against each server process in turn; %d rounds of %s each, alternating",
			o.Devices, o.DevicesPerTenant, o.CompareRounds, o.CompareDuration)}
	for i, s := range sides {
		s.RequestsPerSec = float64(s.Requests) / max(s.Seconds, 1e-9)
		s.Latency = latencyOf(lat[i])
		if len(s.ErrorSamples) > maxErrorSamples {
			s.ErrorSamples = s.ErrorSamples[:maxErrorSamples]
		}
	}
	res.Before, res.After = sides[0].CompareSide, sides[1].CompareSide
	if res.Before.RequestsPerSec > 0 {
		res.Ratio = res.After.RequestsPerSec / res.Before.RequestsPerSec
	}
	if res.Before.PushRowsPerSec > 0 {
		res.PushRatio = res.After.PushRowsPerSec / res.Before.PushRowsPerSec
	}
	p.phase(t0, "compare", "%s: %.0f req/s, p99 %.1f ms, push %.0f rows/s; this build: %.0f req/s, p99 %.1f ms, push %.0f rows/s; ratios %.2f (devices), %.2f (push)",
		res.Before.Label, res.Before.RequestsPerSec, res.Before.Latency.P99, res.Before.PushRowsPerSec,
		res.After.RequestsPerSec, res.After.Latency.P99, res.After.PushRowsPerSec, res.Ratio, res.PushRatio)
	return res, nil
}

// compareSide is one server process of the compare phase.
type compareSide struct {
	CompareSide
	database string
	cmd      *exec.Cmd
	exited   chan error
	pool     *pgtx.Pool
	env      *env
	fleet    *fleet
}

func (s *compareSide) start(ctx context.Context, e *env, o Options) error {
	if err := e.cluster.CreateDatabase(ctx, s.database); err != nil {
		return err
	}
	dbURL := e.cluster.URL(s.database)
	port, err := freePort()
	if err != nil {
		return err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	s.cmd = exec.Command(s.Binary, "serve")
	s.cmd.Env = append(os.Environ(),
		"DATABASE_URL="+dbURL,
		"SYNC_ADDR="+addr,
		"SYNC_JWT_SECRET="+string(e.cfg.JWTSecret),
		"SYNC_JWT_AUDIENCE="+e.cfg.JWTAudience,
		"SYNC_DB_MAX_CONNS="+strconv.Itoa(int(e.cfg.DBMaxConns)),
		"SYNC_RATE_LIMIT=0",
		"SYNC_LOG_LEVEL="+e.cfg.LogLevel.String(),
	)
	s.cmd.Stdout, s.cmd.Stderr = io.Discard, io.Discard
	if err := s.cmd.Start(); err != nil {
		return err
	}
	s.exited = make(chan error, 1)
	go func() { s.exited <- s.cmd.Wait() }()
	baseURL := "http://" + addr
	if err := waitReady(ctx, baseURL, s.exited); err != nil {
		return err
	}
	cfg := e.cfg
	cfg.DatabaseURL = dbURL
	cfg.DBMaxConns = 4
	if s.pool, err = server.OpenPool(ctx, cfg); err != nil {
		return err
	}
	s.env = &env{cfg: cfg, serverPool: s.pool, baseURL: baseURL, client: newClient(o.Devices)}
	return nil
}

func (s *compareSide) stop() {
	if s.env != nil {
		s.env.client.CloseIdleConnections()
	}
	if s.pool != nil {
		s.pool.Close()
	}
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck // it may have exited
		select {
		case <-s.exited:
		case <-time.After(30 * time.Second):
			s.cmd.Process.Kill() //nolint:errcheck // last resort
		}
	}
}

// waitReady polls /readyz until the server answers 200 (it migrates first).
func waitReady(ctx context.Context, baseURL string, exited <-chan error) error {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("exited before it was ready: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		resp, err := http.Get(baseURL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("not ready after a minute")
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// comparePush pushes PushBatches batches of PushRows new costbook_items to
// each server, alternating batch by batch so both see the same machine, and
// records each side's rows/s over its median batch.
func comparePush(ctx context.Context, sides []*compareSide, o Options, p *progress) error {
	tokens := make([]string, len(sides))
	for i, s := range sides {
		_, tok, err := s.env.newTenant(ctx, "bench compare push", 1)
		if err != nil {
			return err
		}
		tokens[i] = tok[0]
		// A warm-up batch a side: connections, statement caches.
		body, err := pushBody(costbookItems(o.PushRows, nil, 0))
		if err != nil {
			return err
		}
		if _, err := s.env.push(ctx, tokens[i], body, ""); err != nil {
			return fmt.Errorf("compare push warm-up on %s: %w", s.Label, err)
		}
	}
	times := make([][]float64, len(sides)) // seconds
	for range o.PushBatches {
		for i, s := range sides {
			body, err := pushBody(costbookItems(o.PushRows, nil, 0))
			if err != nil {
				return err
			}
			t := time.Now()
			if _, err := s.env.push(ctx, tokens[i], body, ""); err != nil {
				return fmt.Errorf("compare push on %s: %w", s.Label, err)
			}
			times[i] = append(times[i], time.Since(t).Seconds())
		}
	}
	for i, s := range sides {
		s.PushRowsPerSec = float64(o.PushRows) / median(times[i])
	}
	p.line("compare: push %d × %d rows: %s %.0f rows/s, %s %.0f rows/s", o.PushBatches, o.PushRows,
		sides[0].Label, sides[0].PushRowsPerSec, sides[1].Label, sides[1].PushRowsPerSec)
	return nil
}
