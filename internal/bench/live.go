package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/uuid"

	"github.com/syncproxy/syncproxy/internal/pgcluster"
)

// The live phase measures contract 1.2's live pulls (issue 19) against
// `syncproxy serve` processes of this build (the bench's clients stay in
// this process, never in the server's):
//
//   - wake latency: LiveTenants × LiveDevicesPerTenant devices each hold a
//     pull (wait=30) while one device per tenant pushes one row a second;
//     the latency is from the pusher receiving its 200 to each other
//     device of the tenant receiving the row. One instance; across two
//     instances (pushes on one, pulls held on another that reaches the
//     database through PgBouncer in transaction mode and LISTENs on a
//     direct URL); and the same with only the pooler URL (the clock poll).
//   - many held pulls: LiveHeld pulls held on one fresh instance; its peak
//     RSS (VmHWM), and the time from a push of one tenant to the last of
//     that tenant's held pulls answering.

// Live targets of issue 19.
const (
	targetLiveP99Ms            = 5
	targetLiveCrossP99Ms       = 20
	targetLivePoolerOnlyP99Ms  = 100
	targetLiveHeldPeakRSSMiB   = 256
	liveWaitSeconds            = 30
	liveHeldPerTenant          = 10
	liveHeldWaitSeconds        = 300
	liveHeldMaxConnections     = 12000
	liveHeldBatch              = 500
	liveServerMaxConnections   = 2000
	liveHeldGaugeWait          = 2 * time.Minute
	liveGrace                  = 2 * time.Second
	liveInitialPullTableFilter = "costbook_items"
)

// LiveResult is the live phase's figures (bench/results.json `live`).
type LiveResult struct {
	Tenants          int     `json:"tenants"`
	DevicesPerTenant int     `json:"devicesPerTenant"`
	PushEverySec     float64 `json:"pushEverySec"`
	Seconds          float64 `json:"secondsPerRun"`
	// One instance, across two (listen), across two with only a pooler URL (poll).
	P50Ms                        float64   `json:"p50Ms"`
	P99Ms                        float64   `json:"p99Ms"`
	CrossInstanceP50Ms           float64   `json:"crossInstanceP50Ms"`
	CrossInstanceP99Ms           float64   `json:"crossInstanceP99Ms"`
	CrossInstancePoolerOnlyP50Ms float64   `json:"crossInstancePoolerOnlyP50Ms"`
	CrossInstancePoolerOnlyP99Ms float64   `json:"crossInstancePoolerOnlyP99Ms"`
	Runs                         []LiveRun `json:"runs"`
	// Many held pulls on one instance.
	HeldPulls          int     `json:"heldPulls"`
	HeldBaselineRssMiB float64 `json:"heldBaselineRssMiB"` // before any pull was held
	HeldRssMiB         float64 `json:"heldRssMiB"`         // with all of them held
	HeldPeakRssMiB     float64 `json:"heldPeakRssMiB"`     // VmHWM over the whole run of that process
	HeldWakeMs         Latency `json:"heldWakeMs"`         // push 200 → the last of the tenant's held pulls answered
	HeldSetupSeconds   float64 `json:"heldSetupSeconds"`
	Method             string  `json:"method"`
}

// LiveRun is one wake-latency run.
type LiveRun struct {
	Name    string  `json:"name"`
	Setup   string  `json:"setup"`
	Pushes  int     `json:"pushes"`
	Latency Latency `json:"latency"`
	// Early: deliveries that arrived before the pusher had its 200 (the
	// server wakes held pulls before it writes the pusher's answer): counted
	// as 0 ms.
	Early  int `json:"early"`
	Missed int `json:"missed"` // a pushed row a device never received
	Errors int `json:"errors"`
}

func runLive(ctx context.Context, e *env, o Options, p *progress) (LiveResult, error) {
	res := LiveResult{Tenants: o.LiveTenants, DevicesPerTenant: o.LiveDevicesPerTenant, PushEverySec: 1,
		Seconds: o.LiveDuration.Seconds(), HeldPulls: o.LiveHeld,
		Method: "`syncproxy serve` processes of this build (SYNC_RATE_LIMIT=0, the rest default) on the bench's database; the clients run in the bench's process. " +
			"Latency: from the pusher receiving its 200 to another device of the tenant receiving the pushed row from its held pull (wait=30, tables=costbook_items); " +
			"cross-instance: pushes through instance A (direct DATABASE_URL), pulls held on B (DATABASE_URL through PgBouncer, transaction mode), which LISTENs on a direct SYNC_LISTEN_DATABASE_URL, " +
			"or, pooler-only, polls the clocks every SYNC_LIVE_POLL_INTERVAL (50 ms). " +
			"Held pulls: a fresh instance; VmHWM from /proc; wake: a push of one tenant until the last of its held pulls answered."}
	if o.SelfBinary == "" {
		return res, errors.New("live runs this build's syncproxy binary as its own processes (-self; scripts/bench.sh builds it)")
	}
	t0 := time.Now()
	tenants := make([][]string, o.LiveTenants)
	for i := range tenants {
		_, tokens, err := e.newTenant(ctx, fmt.Sprintf("bench live %d", i), o.LiveDevicesPerTenant)
		if err != nil {
			return res, err
		}
		tenants[i] = tokens
	}
	p.phase(t0, "live", "%d tenants × %d devices provisioned", o.LiveTenants, o.LiveDevicesPerTenant)

	direct := e.cfg.DatabaseURL
	base := map[string]string{"SYNC_MAX_CONNECTIONS": strconv.Itoa(liveServerMaxConnections)}
	a, err := startLiveServer(ctx, o.SelfBinary, e, direct, withVars(base, "SYNC_LISTEN_DATABASE_URL", direct))
	if err != nil {
		return res, fmt.Errorf("live: start instance A: %w", err)
	}
	defer a.stop()

	run, err := liveRound(ctx, "one instance", "pushes and held pulls on instance A (direct)", a, a, tenants, o, p)
	if err != nil {
		return res, err
	}
	res.Runs = append(res.Runs, run)
	res.P50Ms, res.P99Ms = run.Latency.P50, run.Latency.P99

	if e.cluster == nil {
		p.line("live: across instances skipped (DATABASE_URL given: the bench starts PgBouncer only in front of its own cluster)")
	} else {
		bouncer, err := pgcluster.StartBouncer(ctx, e.cluster, pgcluster.BouncerOptions{})
		if err != nil {
			return res, fmt.Errorf("live: PgBouncer: %w", err)
		}
		defer bouncer.Stop() //nolint:errcheck // the cluster goes anyway
		pooled := bouncer.URL(benchDatabase)
		for _, side := range []struct {
			name, setup string
			vars        map[string]string
			set         func(Latency)
		}{
			{"across instances (listen)", "pushes on A; pulls held on B: DATABASE_URL through PgBouncer (transaction mode), SYNC_LISTEN_DATABASE_URL direct",
				withVars(base, "SYNC_LISTEN_DATABASE_URL", direct), func(l Latency) { res.CrossInstanceP50Ms, res.CrossInstanceP99Ms = l.P50, l.P99 }},
			{"across instances (pooler only)", "pushes on A; pulls held on B: only DATABASE_URL, through PgBouncer (transaction mode): the clock poll every 50 ms",
				base, func(l Latency) { res.CrossInstancePoolerOnlyP50Ms, res.CrossInstancePoolerOnlyP99Ms = l.P50, l.P99 }},
		} {
			b, err := startLiveServer(ctx, o.SelfBinary, e, pooled, side.vars)
			if err != nil {
				return res, fmt.Errorf("live: start instance B: %w", err)
			}
			run, err := liveRound(ctx, side.name, side.setup, a, b, tenants, o, p)
			b.stop()
			if err != nil {
				return res, err
			}
			res.Runs = append(res.Runs, run)
			side.set(run.Latency)
		}
	}
	a.stop()

	if err := liveHeld(ctx, e, o, p, &res); err != nil {
		return res, err
	}
	return res, nil
}

func withVars(base map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range base {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// startLiveServer runs `binary serve` on dbURL with vars on top of the
// harness's settings.
func startLiveServer(ctx context.Context, binary string, e *env, dbURL string, vars map[string]string) (*serverProcess, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	s := &serverProcess{baseURL: "http://" + addr, exited: make(chan error, 1), client: liveClient(1)}
	s.cmd = exec.Command(binary, "serve")
	s.cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"DATABASE_URL=" + dbURL,
		"SYNC_ADDR=" + addr,
		"SYNC_JWT_SECRET=" + string(e.cfg.JWTSecret),
		"SYNC_JWT_AUDIENCE=" + e.cfg.JWTAudience,
		"SYNC_LOG_LEVEL=warn",
		"SYNC_RATE_LIMIT=0",
		"SYNC_DB_MAX_CONNS=" + strconv.Itoa(int(e.cfg.DBMaxConns)),
	}
	for k, v := range vars {
		s.cmd.Env = append(s.cmd.Env, k+"="+v)
	}
	s.cmd.Stdout, s.cmd.Stderr = io.Discard, os.Stderr
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { s.exited <- s.cmd.Wait() }()
	if err := waitReady(ctx, s.baseURL, s.exited); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// liveClient keeps a connection per held pull (Go's default keeps 2 idle).
func liveClient(conns int) *http.Client {
	return &http.Client{Timeout: 10 * time.Minute, Transport: &http.Transport{
		DisableCompression: true, MaxIdleConns: conns + 100, MaxIdleConnsPerHost: conns + 100, IdleConnTimeout: time.Minute,
	}}
}

// livePage is what the bench reads of a pull page.
type livePage struct {
	Cursor  string `json:"cursor"`
	HasMore bool   `json:"hasMore"`
	Items   []struct {
		ID uuid.UUID `json:"id"`
	} `json:"costbook_items"`
}

func livePull(ctx context.Context, c *http.Client, base, token, cursor string, wait int) (livePage, error) {
	q := url.Values{"tables": {liveInitialPullTableFilter}}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	if wait > 0 {
		q.Set("wait", strconv.Itoa(wait))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/sync/pull?"+q.Encode(), nil)
	if err != nil {
		return livePage{}, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := c.Do(req)
	if err != nil {
		return livePage{}, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return livePage{}, err
	}
	if res.StatusCode != http.StatusOK {
		return livePage{}, fmt.Errorf("pull: %d %s", res.StatusCode, body)
	}
	var page livePage
	return page, json.Unmarshal(body, &page)
}

func livePush(ctx context.Context, c *http.Client, base, token string, id uuid.UUID) error {
	body := fmt.Sprintf(`{"costbook_items":[{"id":"%s","name":"live"}]}`, id)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/sync/push", strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	res, err := c.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("push: %d %s", res.StatusCode, raw)
	}
	return nil
}

var heldGauge = regexp.MustCompile(`(?m)^syncproxy_sync_pulls_held (\d+)`)

// held reads the server's held-pulls gauge.
func (s *serverProcess) held(ctx context.Context) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.baseURL+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	res, err := s.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, err
	}
	m := heldGauge.FindSubmatch(body)
	if m == nil {
		return 0, errors.New("no syncproxy_sync_pulls_held in /metrics")
	}
	return strconv.Atoi(string(m[1]))
}

// awaitHeld waits until s holds at least n pulls.
func (s *serverProcess) awaitHeld(ctx context.Context, n int, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		got, err := s.held(ctx)
		if err != nil {
			return err
		}
		if got >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d pulls held after %s, want %d", got, within, n)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// liveRound holds a pull on listen for every device of every tenant while
// device 0 of each tenant pushes a row a second through push.
func liveRound(ctx context.Context, name, setup string, push, listen *serverProcess, tenants [][]string, o Options, p *progress) (LiveRun, error) {
	t0 := time.Now()
	run := LiveRun{Name: name, Setup: setup}
	devices := len(tenants) * o.LiveDevicesPerTenant
	client := liveClient(devices + len(tenants))
	defer client.CloseIdleConnections()

	type key struct {
		id     uuid.UUID
		device int
	}
	var mu sync.Mutex
	pushedAt := map[uuid.UUID]time.Time{}
	pushedBy := map[uuid.UUID]int{} // tenant
	arrived := map[key]time.Time{}
	var errCount atomic.Int64

	listenCtx, stopListening := context.WithCancel(ctx)
	defer stopListening()
	var listeners sync.WaitGroup
	startErr := make(chan error, devices)
	for t, tokens := range tenants {
		for d, token := range tokens {
			device := t*o.LiveDevicesPerTenant + d
			listeners.Go(func() {
				first, err := livePull(listenCtx, client, listen.baseURL, token, "", 0)
				if err != nil {
					startErr <- err
					return
				}
				startErr <- nil
				cursor := first.Cursor
				for listenCtx.Err() == nil {
					page, err := livePull(listenCtx, client, listen.baseURL, token, cursor, liveWaitSeconds)
					now := time.Now()
					if err != nil {
						if listenCtx.Err() == nil {
							errCount.Add(1)
							time.Sleep(100 * time.Millisecond)
						}
						continue
					}
					mu.Lock()
					for _, it := range page.Items {
						if _, seen := arrived[key{it.ID, device}]; !seen {
							arrived[key{it.ID, device}] = now
						}
					}
					mu.Unlock()
					cursor = page.Cursor
				}
			})
		}
	}
	for range devices {
		if err := <-startErr; err != nil {
			return run, fmt.Errorf("live %s: first pull: %w", name, err)
		}
	}
	if err := listen.awaitHeld(ctx, devices, time.Minute); err != nil {
		return run, fmt.Errorf("live %s: %w", name, err)
	}

	pushCtx, stopPushing := context.WithTimeout(ctx, o.LiveDuration)
	defer stopPushing()
	var pushers sync.WaitGroup
	for t, tokens := range tenants {
		pushers.Go(func() {
			// A random phase, so that the tenants' pushes spread over the second.
			next := time.Now().Add(time.Duration(rand.Int64N(int64(time.Second))))
			for {
				select {
				case <-pushCtx.Done():
					return
				case <-time.After(time.Until(next)):
				}
				next = next.Add(time.Second)
				id := uuid.New()
				if err := livePush(pushCtx, client, push.baseURL, tokens[0], id); err != nil {
					if pushCtx.Err() == nil {
						errCount.Add(1)
					}
					continue
				}
				done := time.Now()
				mu.Lock()
				pushedAt[id], pushedBy[id] = done, t
				mu.Unlock()
			}
		})
	}
	pushers.Wait()
	time.Sleep(liveGrace) // the last pushes' rows on their way
	stopListening()
	listeners.Wait()

	mu.Lock()
	defer mu.Unlock()
	var lat []time.Duration
	for id, at := range pushedAt {
		t := pushedBy[id]
		for d := 1; d < o.LiveDevicesPerTenant; d++ { // device 0 pushed it
			got, ok := arrived[key{id, t*o.LiveDevicesPerTenant + d}]
			if !ok {
				run.Missed++
				continue
			}
			l := got.Sub(at)
			if l < 0 {
				run.Early++
				l = 0
			}
			lat = append(lat, l)
		}
	}
	run.Pushes = len(pushedAt)
	run.Latency = latencyOf(lat)
	run.Errors = int(errCount.Load())
	p.phase(t0, "live", "%s: %d pushes, %d deliveries: p50 %.2f ms, p99 %.2f ms, max %.1f ms (%d before the pusher's 200, %d missed, %d errors)",
		name, run.Pushes, len(lat), run.Latency.P50, run.Latency.P99, run.Latency.Max, run.Early, run.Missed, run.Errors)
	return run, nil
}

// liveHeld holds o.LiveHeld pulls on a fresh instance, then wakes tenants
// one at a time.
func liveHeld(ctx context.Context, e *env, o Options, p *progress, res *LiveResult) error {
	t0 := time.Now()
	n := o.LiveHeld
	tenantCount := (n + liveHeldPerTenant - 1) / liveHeldPerTenant
	tokens := make([]string, tenantCount)
	for i := range tokens {
		_, ts, err := e.newTenant(ctx, fmt.Sprintf("bench held %d", i), 1)
		if err != nil {
			return err
		}
		tokens[i] = ts[0]
	}
	srv, err := startLiveServer(ctx, o.SelfBinary, e, e.cfg.DatabaseURL, map[string]string{
		"SYNC_MAX_CONNECTIONS": strconv.Itoa(liveHeldMaxConnections),
		"SYNC_MAX_PULL_WAIT":   strconv.Itoa(liveHeldWaitSeconds),
	})
	if err != nil {
		return fmt.Errorf("live held: start: %w", err)
	}
	defer srv.stop()
	client := liveClient(n + 100)
	defer client.CloseIdleConnections()
	cursors := make([]string, tenantCount)
	for i, token := range tokens {
		page, err := livePull(ctx, client, srv.baseURL, token, "", 0)
		if err != nil {
			return fmt.Errorf("live held: first pull: %w", err)
		}
		cursors[i] = page.Cursor
	}
	res.HeldBaselineRssMiB = toMiB(srv.status("VmRSS"))

	heldCtx, release := context.WithCancel(ctx)
	defer release()
	answered := make([]chan time.Time, tenantCount)
	for i := range answered {
		answered[i] = make(chan time.Time, liveHeldPerTenant)
	}
	var holders sync.WaitGroup
	var failed atomic.Int64
	for start := 0; start < n; start += liveHeldBatch {
		for i := start; i < min(start+liveHeldBatch, n); i++ {
			t := i / liveHeldPerTenant
			holders.Go(func() {
				page, err := livePull(heldCtx, client, srv.baseURL, tokens[t], cursors[t], liveHeldWaitSeconds)
				if err != nil {
					if heldCtx.Err() == nil {
						failed.Add(1)
					}
					return
				}
				if len(page.Items) > 0 {
					answered[t] <- time.Now()
				}
			})
		}
		if err := srv.awaitHeld(ctx, min(start+liveHeldBatch, n), liveHeldGaugeWait); err != nil {
			return fmt.Errorf("live held: %w (%d requests failed)", err, failed.Load())
		}
	}
	res.HeldSetupSeconds = time.Since(t0).Seconds()
	time.Sleep(2 * time.Second) // settle (a GC cycle) before reading the resident set
	res.HeldRssMiB = toMiB(srv.status("VmRSS"))

	var wakes []time.Duration
	for t := range min(5, tenantCount) {
		if err := livePush(ctx, client, srv.baseURL, tokens[t], uuid.New()); err != nil {
			return fmt.Errorf("live held: push: %w", err)
		}
		pushed := time.Now()
		var last time.Time
		for range liveHeldPerTenant {
			select {
			case last = <-answered[t]:
			case <-time.After(30 * time.Second):
				return fmt.Errorf("live held: tenant %d's held pulls did not all answer within 30 s", t)
			}
		}
		wakes = append(wakes, max(0, last.Sub(pushed)))
	}
	res.HeldWakeMs = latencyOf(wakes)
	res.HeldPeakRssMiB = toMiB(srv.status("VmHWM"))
	p.phase(t0, "live", "%d held pulls on one instance: RSS %.0f MiB before, %.0f MiB held, peak %.0f MiB; waking one tenant's %d: median %.2f ms, max %.2f ms (%d failed)",
		n, res.HeldBaselineRssMiB, res.HeldRssMiB, res.HeldPeakRssMiB, liveHeldPerTenant, res.HeldWakeMs.P50, res.HeldWakeMs.Max, failed.Load())
	if f := failed.Load(); f > 0 {
		return fmt.Errorf("live held: %d held pulls failed", f)
	}
	release()
	holders.Wait()
	srv.cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck // stop() waits
	return nil
}

func toMiB(b int64) float64 { return float64(b) / (1 << 20) }

// writeLive prints the live phase.
func (r Result) writeLive(b *strings.Builder) {
	l := r.Live
	fmt.Fprintf(b, "\nLIVE PULLS (issue 19): %d tenants × %d devices holding pulls, one push per tenant a second, %.0f s per run\n",
		l.Tenants, l.DevicesPerTenant, l.Seconds)
	for _, run := range l.Runs {
		fmt.Fprintf(b, "  %-32s %5d pushes, %5d deliveries: p50 %6.2f ms  p99 %6.2f ms  max %6.1f ms  (%d early, %d missed, %d errors)\n",
			run.Name, run.Pushes, run.Latency.Count, run.Latency.P50, run.Latency.P99, run.Latency.Max, run.Early, run.Missed, run.Errors)
	}
	if l.HeldPeakRssMiB > 0 {
		fmt.Fprintf(b, "  %d held pulls on one instance: RSS %.0f MiB before, %.0f MiB held, peak %.0f MiB; waking one tenant's %d: median %.2f ms, max %.2f ms\n",
			l.HeldPulls, l.HeldBaselineRssMiB, l.HeldRssMiB, l.HeldPeakRssMiB, liveHeldPerTenant, l.HeldWakeMs.P50, l.HeldWakeMs.Max)
	}
	fmt.Fprintf(b, "  method: %s\n", l.Method)
}
