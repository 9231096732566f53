package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/uuid"
)

// The attack phase replays the three attacks of issue 17 that let one
// signed-in tenant take the server down for every tenant, each against a
// fresh server process with the default settings, and reports the process's
// peak RSS (VmHWM) over the attack:
//
//   - 409 amplification: 28 estimates of ~1 MiB of '<' in line_items, then a
//     2.4 KB push of their ids with a stale base_version, three at once
//     (e0a8c14 answered 176 MB each; 1.49 GiB for three);
//   - number expansion: a 13.6 KB push of 1,500 × 1e131071 in line_items,
//     then a full pull of the tenant (e0a8c14 stored it, and the pull page
//     was 196 MB);
//   - the tables list: four digest requests at once with 900 KB of `x,` in
//     `tables` (e0a8c14: 946 MiB), then four with 60 KB (under the header
//     bound: the list bound's turn).
//
// A fresh process per attack makes its VmHWM the attack's peak. Seeding the
// large rows goes through the bench's own in-process server, so the
// measured process only sees the attack. With -compare-with the same
// attacks run against that binary too (the "before").

// targetAttackMiB is the bound on the peak RSS of each attack.
const targetAttackMiB = 256

// attackSizes are the attacks' sizes: the issue's, or a small run's.
type attackSizes struct {
	bigRows      int // estimates of bigRowBytes of '<'
	bigRowBytes  int
	numbers      int // × 1e131071
	tablesQuery  int // bytes of `x,` in the first tables attack
	tablesSmall  int // in the second, under the header bound
	concurrent   int // requests at once (the 409s, the digests)
	digestsAtOne int
}

func attackSizesOf(o Options) attackSizes {
	if o.Quick {
		return attackSizes{bigRows: 4, bigRowBytes: 64 << 10, numbers: 150, tablesQuery: 90_000, tablesSmall: 30_000, concurrent: 3, digestsAtOne: 4}
	}
	return attackSizes{bigRows: 28, bigRowBytes: 1<<20 - 64, numbers: 1500, tablesQuery: 900_000, tablesSmall: 60_000, concurrent: 3, digestsAtOne: 4}
}

// attackRun is one prepared attack: it runs against a server process and
// describes the answers.
type attackRun func(ctx context.Context, srv *serverProcess) ([]string, error)

// attacks prepare their tenant (through the bench's in-process server) and
// say what they send.
var attacks = []struct {
	name    string
	prepare func(ctx context.Context, e *env, token string, sz attackSizes) (string, attackRun, error)
}{
	{"409 amplification", func(ctx context.Context, e *env, token string, sz attackSizes) (string, attackRun, error) {
		ids, err := seedBigRows(ctx, e, token, sz)
		request := fmt.Sprintf("%d × a push of %d stale ids (estimates of %s of '<' each)", sz.concurrent, len(ids), size(int64(sz.bigRowBytes)))
		return request, func(ctx context.Context, srv *serverProcess) ([]string, error) {
			return attack409(ctx, srv, token, ids, sz)
		}, err
	}},
	{"number expansion", func(_ context.Context, _ *env, token string, sz attackSizes) (string, attackRun, error) {
		return fmt.Sprintf("a push of %d × 1e131071 in line_items, then a pull", sz.numbers),
			func(ctx context.Context, srv *serverProcess) ([]string, error) {
				return attackNumbers(ctx, srv, token, sz)
			}, nil
	}},
	{"tables list", func(_ context.Context, _ *env, token string, sz attackSizes) (string, attackRun, error) {
		return fmt.Sprintf("%d × digest?tables= %d KB of `x,`, then %d × %d KB", sz.digestsAtOne, sz.tablesQuery/1000, sz.digestsAtOne, sz.tablesSmall/1000),
			func(ctx context.Context, srv *serverProcess) ([]string, error) {
				return attackTables(ctx, srv, token, sz)
			}, nil
	}},
}

// size is a byte count for a human.
func size(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// attackSide is one binary the attacks run against.
type attackSide struct {
	label, binary string
	thisBuild     bool
}

func runAttack(ctx context.Context, e *env, o Options, p *progress) (AttackResult, error) {
	t0 := time.Now()
	sides := []attackSide{{"this build", o.SelfBinary, true}}
	if o.CompareBinary != "" {
		label := o.CompareLabel
		if label == "" {
			label = o.CompareBinary
		}
		sides = append([]attackSide{{label, o.CompareBinary, false}}, sides...)
	}
	sz := attackSizesOf(o)
	res := AttackResult{Method: "each attack against a fresh `syncproxy serve` process with the default settings " +
		"(DATABASE_URL, SYNC_ADDR and SYNC_JWT_SECRET only) on the bench's database; peak RSS is the process's VmHWM, " +
		"read from /proc after the attack; large rows are seeded through the bench's in-process server first"}
	for _, side := range sides {
		for _, a := range attacks {
			_, tokens, err := e.newTenant(ctx, "bench attack "+a.name, 1)
			if err != nil {
				return AttackResult{}, err
			}
			request, run, err := a.prepare(ctx, e, tokens[0], sz)
			if err != nil {
				return AttackResult{}, fmt.Errorf("attack %s: prepare: %w", a.name, err)
			}
			srv, err := startServerProcess(ctx, side.binary, e)
			if err != nil {
				return AttackResult{}, fmt.Errorf("attack: start %s: %w", side.label, err)
			}
			baseline := srv.status("VmRSS")
			start := time.Now()
			answers, err := run(ctx, srv)
			// The kernel folds its per-CPU RSS counters into VmHWM lazily, so
			// VmHWM can read a few pages below a VmRSS read before it; the
			// peak is at least every RSS seen.
			peak := max(srv.status("VmHWM"), srv.status("VmRSS"), baseline)
			srv.stop()
			if err != nil {
				return AttackResult{}, fmt.Errorf("attack %s on %s: %w", a.name, side.label, err)
			}
			res.Runs = append(res.Runs, AttackRun{Server: side.label, Attack: a.name, Request: request, Answers: answers,
				BaselineRSSBytes: baseline, PeakRSSBytes: peak, PeakRSSMiB: float64(peak) / (1 << 20),
				Seconds: time.Since(start).Seconds(), ThisBuild: side.thisBuild})
			p.line("attack: %s on %s: peak RSS %s (from %s): %s", a.name, side.label, mib(peak), mib(baseline), strings.Join(answers, ", "))
		}
	}
	worst := 0.0
	for _, r := range res.Runs {
		if r.ThisBuild {
			worst = max(worst, r.PeakRSSMiB)
		}
	}
	p.phase(t0, "attack", "%d attacks on %d servers; this build's worst peak RSS %.0f MiB", len(attacks), len(sides), worst)
	return res, nil
}

// seedBigRows stores sz.bigRows estimates of ~bigRowBytes of '<' each through
// the bench's in-process server, in pushes under the body limit, and
// returns their ids. The bodies are written by hand (pushBytes):
// encoding/json would send every '<' as six bytes.
func seedBigRows(ctx context.Context, e *env, token string, sz attackSizes) ([]uuid.UUID, error) {
	lt := strings.Repeat("<", sz.bigRowBytes)
	perPush := max(1, int(e.cfg.MaxBodyBytes)/(sz.bigRowBytes+128)-1)
	var ids []uuid.UUID
	for len(ids) < sz.bigRows {
		var rows []string
		for range min(perPush, sz.bigRows-len(ids)) {
			id := uuid.New()
			ids = append(ids, id)
			rows = append(rows, fmt.Sprintf(`{"id":%q,"number":"E","line_items":[%q]}`, id, lt))
		}
		if _, err := e.pushBytes(ctx, token, []byte(`{"estimates":[`+strings.Join(rows, ",")+`]}`)); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

func attack409(ctx context.Context, srv *serverProcess, token string, ids []uuid.UUID, sz attackSizes) ([]string, error) {
	var rows []string
	for _, id := range ids {
		rows = append(rows, fmt.Sprintf(`{"id":%q,"number":"E","base_version":999999}`, id))
	}
	body := `{"estimates":[` + strings.Join(rows, ",") + `]}`
	return srv.atOnce(ctx, sz.concurrent, func() (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.baseURL+"/api/sync/push", strings.NewReader(body))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+token)
		}
		return req, err
	})
}

func attackNumbers(ctx context.Context, srv *serverProcess, token string, sz attackSizes) ([]string, error) {
	numbers := strings.TrimSuffix(strings.Repeat("1e131071,", sz.numbers), ",")
	body := fmt.Sprintf(`{"estimates":[{"id":%q,"number":"n","line_items":[%s]}]}`, uuid.New(), numbers)
	push, err := srv.atOnce(ctx, 1, func() (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.baseURL+"/api/sync/push", strings.NewReader(body))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+token)
		}
		return req, err
	})
	if err != nil {
		return nil, err
	}
	pull, err := srv.atOnce(ctx, 1, srv.get(ctx, token, "/api/sync/pull?tables=estimates"))
	return append(push, pull...), err
}

func attackTables(ctx context.Context, srv *serverProcess, token string, sz attackSizes) ([]string, error) {
	big, err := srv.atOnce(ctx, sz.digestsAtOne, srv.get(ctx, token, "/api/sync/digest?tables="+strings.Repeat("x,", sz.tablesQuery/2)))
	if err != nil {
		return nil, err
	}
	small, err := srv.atOnce(ctx, sz.digestsAtOne, srv.get(ctx, token, "/api/sync/digest?tables="+strings.Repeat("x,", sz.tablesSmall/2)))
	return append(big, small...), err
}

// serverProcess is `syncproxy serve` as its own process.
type serverProcess struct {
	cmd     *exec.Cmd
	exited  chan error
	baseURL string
	client  *http.Client
}

// startServerProcess starts binary's `serve` on e's database with the
// defaults: no SYNC_* setting but the address and the secret (the
// operator's environment is not passed on).
func startServerProcess(ctx context.Context, binary string, e *env) (*serverProcess, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	s := &serverProcess{baseURL: "http://" + addr, exited: make(chan error, 1),
		client: &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{DisableCompression: true}}}
	s.cmd = exec.Command(binary, "serve")
	s.cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"DATABASE_URL=" + e.cfg.DatabaseURL,
		"SYNC_ADDR=" + addr,
		"SYNC_JWT_SECRET=" + string(e.cfg.JWTSecret),
		"SYNC_JWT_AUDIENCE=" + e.cfg.JWTAudience,
		"SYNC_LOG_LEVEL=warn",
	}
	s.cmd.Stdout, s.cmd.Stderr = io.Discard, io.Discard
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

func (s *serverProcess) stop() {
	s.client.CloseIdleConnections()
	if s.cmd.Process == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck // it may have exited
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill() //nolint:errcheck // last resort
	}
}

// status reads a memory field of the process's /proc status in bytes (0
// where there is no /proc).
func (s *serverProcess) status(field string) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := bytes.Cut(sc.Bytes(), []byte(":"))
		if !ok || string(name) != field {
			continue
		}
		if fields := bytes.Fields(rest); len(fields) > 0 {
			kb, _ := strconv.ParseInt(string(fields[0]), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func (s *serverProcess) get(ctx context.Context, token, target string) func() (*http.Request, error) {
	return func() (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.baseURL+target, nil)
		if err == nil {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		return req, err
	}
}

// atOnce sends n requests at the same time, as an attacker would (a 429 is
// retried after its Retry-After, as an attacker would too), and describes
// the answers: "3 × 409 (8.0 MiB)". A request the server cuts off (a reset
// after a 431 it answered early) counts as its answer if one came.
func (s *serverProcess) atOnce(ctx context.Context, n int, build func() (*http.Request, error)) ([]string, error) {
	type answer struct {
		status int
		bytes  int64
		err    error
	}
	answers := make([]answer, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			for {
				req, err := build()
				if err != nil {
					answers[i] = answer{err: err}
					return
				}
				res, err := s.client.Do(req)
				if err != nil {
					answers[i] = answer{err: err}
					return
				}
				nbytes, _ := io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode == http.StatusTooManyRequests {
					wait, _ := strconv.Atoi(res.Header.Get("Retry-After"))
					select {
					case <-time.After(time.Duration(max(wait, 1)) * time.Second):
						continue
					case <-ctx.Done():
						answers[i] = answer{err: ctx.Err()}
						return
					}
				}
				answers[i] = answer{status: res.StatusCode, bytes: nbytes}
				return
			}
		})
	}
	wg.Wait()
	counts := map[string]int{}
	var order []string
	for _, a := range answers {
		key := ""
		switch {
		case errors.Is(a.err, context.Canceled), errors.Is(a.err, context.DeadlineExceeded):
			return nil, a.err
		case a.err != nil:
			key = "connection closed by the server"
		default:
			key = fmt.Sprintf("%d (%s)", a.status, size(a.bytes))
		}
		if counts[key] == 0 {
			order = append(order, key)
		}
		counts[key]++
	}
	out := make([]string, len(order))
	for i, k := range order {
		out[i] = fmt.Sprintf("%d × %s", counts[k], k)
	}
	return out, nil
}
