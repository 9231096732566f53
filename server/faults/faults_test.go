package faults_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/syncproxy/syncproxy/internal/devicetest"
)

// TestFaults_DatabaseDown_503WithinTimeout_ThenRecoversWithoutRestart stops
// Postgres under a running server: sync requests and /readyz answer 503
// UNAVAILABLE with Retry-After, /healthz stays 200, and when Postgres is back
// the same server serves again, data intact.
func TestFaults_DatabaseDown_503WithinTimeout_ThenRecoversWithoutRestart(t *testing.T) {
	env.RestartAtEnd(t)
	d := env.NewTenant(t)
	before := uuid.New()
	if r := d.Do(http.MethodPost, "/api/sync/push", map[string]any{
		"costbook_items": []map[string]any{{"id": before, "name": "before the outage"}},
	}, nil); r.Status != http.StatusOK {
		t.Fatalf("push = %d: %s", r.Status, r.Body)
	}

	env.StopDatabase(t)
	// Every answer arrives (the client gives up after requestTimeout + 10s,
	// which fails the test) and says: come back later.
	checkUnavailable(t, "pull", d.Do(http.MethodGet, "/api/sync/pull", nil, nil))
	checkUnavailable(t, "push", d.Do(http.MethodPost, "/api/sync/push", map[string]any{
		"costbook_items": []map[string]any{{"id": uuid.New(), "name": "during the outage"}},
	}, nil))
	checkUnavailable(t, "readyz", d.Do(http.MethodGet, "/readyz", nil, nil))
	if r := d.Do(http.MethodGet, "/healthz", nil, nil); r.Status != http.StatusOK {
		t.Fatalf("healthz with the database down = %d, want 200 (the process is alive): %s", r.Status, r.Body)
	}

	env.StartDatabase(t)
	// The same server, not restarted, serves again once its pool reconnects.
	deadline := time.Now().Add(10 * time.Second)
	var pull devicetest.Response
	for {
		r, err := d.Exchange(http.MethodGet, "/api/sync/pull", nil, nil)
		if err == nil && r.Status == http.StatusOK {
			pull = r
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server did not recover within 10 s of the database's return: %v %d %s", err, r.Status, r.Body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(string(pull.Body), before.String()) {
		t.Fatalf("after recovery the pull lacks the row pushed before the outage: %s", pull.Body)
	}
	if r := d.Do(http.MethodPost, "/api/sync/push", map[string]any{
		"costbook_items": []map[string]any{{"id": uuid.New(), "name": "after the outage"}},
	}, nil); r.Status != http.StatusOK {
		t.Fatalf("push after recovery = %d: %s", r.Status, r.Body)
	}
	// /readyz answers from a check at most a second old (contract 1.2): the
	// outage's answer may stand for that second, no longer.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		r := d.Do(http.MethodGet, "/readyz", nil, nil)
		if r.Status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz after recovery = %d: %s", r.Status, r.Body)
		}
	}
}

// TestFaults_DatabaseHangs_503WithinRequestTimeout freezes every Postgres
// process (SIGSTOP): connections and queries get no answer at all, the case a
// refused connection does not cover. Requests must still answer 503 once the
// request deadline passes, instead of hanging with the database.
func TestFaults_DatabaseHangs_503WithinRequestTimeout(t *testing.T) {
	env.RestartAtEnd(t)
	d := env.NewTenant(t)
	if r := d.Do(http.MethodGet, "/api/sync/pull", nil, nil); r.Status != http.StatusOK {
		t.Fatalf("pull = %d: %s", r.Status, r.Body)
	}

	thaw := env.FreezeDatabase(t)
	// The client gives up after requestTimeout + 10 s: a hang fails the test.
	checkUnavailable(t, "pull", d.Do(http.MethodGet, "/api/sync/pull", nil, nil))
	checkUnavailable(t, "push", d.Do(http.MethodPost, "/api/sync/push", map[string]any{
		"costbook_items": []map[string]any{{"id": uuid.New(), "name": "into the void"}},
	}, nil))
	checkUnavailable(t, "readyz", d.Do(http.MethodGet, "/readyz", nil, nil))
	if r := d.Do(http.MethodGet, "/healthz", nil, nil); r.Status != http.StatusOK {
		t.Fatalf("healthz with the database frozen = %d: %s", r.Status, r.Body)
	}
	thaw()

	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := d.Exchange(http.MethodGet, "/api/sync/pull", nil, nil)
		if err == nil && r.Status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server did not recover within 10 s of the database thawing: %v %d %s", err, r.Status, r.Body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestFaults_PushInFlight_WhenDatabaseDies_AppliedAllOrNothing kills Postgres
// while a 3,000-row push is inside its transaction, after its rows are written
// and before it commits: it holds the push on a row lock of a later table
// (pdf_settings, written after costbook_items) and kills the cluster while the
// push waits there. After crash recovery the table holds none of the rows and
// the clock never moved: a push is one transaction, never half applied.
func TestFaults_PushInFlight_WhenDatabaseDies_AppliedAllOrNothing(t *testing.T) {
	env.RestartAtEnd(t)
	ctx := context.Background()
	d := env.NewTenant(t)
	if r := d.Do(http.MethodPost, "/api/sync/push", map[string]any{
		"pdf_settings": []map[string]any{{"template": "before"}},
	}, nil); r.Status != http.StatusOK {
		t.Fatalf("seed push = %d: %s", r.Status, r.Body)
	}
	var seqBefore int64
	if err := env.Checks.QueryRow(ctx, "SELECT seq FROM sync_clock WHERE contractor_id = $1", d.ContractorID).Scan(&seqBefore); err != nil {
		t.Fatal(err)
	}
	// The cluster runs with synchronous_commit=off: make the seed durable
	// before the crash, so that what recovery shows is the push's doing only.
	if _, err := env.Checks.Exec(ctx, "CHECKPOINT"); err != nil {
		t.Fatal(err)
	}

	const rows = 3000
	// Waiting on pdf_settings means the costbook_items statement (earlier in
	// the push) has run: the 3,000 rows are in the table, uncommitted.
	_, done := pushHeldOnRow(t, d, "pdf_settings", map[string]any{
		"costbook_items": itemRows(rows, "in flight"),
		"pdf_settings":   []map[string]any{{"template": "in flight"}},
	})
	// Flush the WAL first (synchronous_commit is off in test clusters): had any
	// part of the push committed on its own, the crash must not hide it.
	if _, err := env.Checks.Exec(ctx, "CHECKPOINT"); err != nil {
		t.Fatal(err)
	}
	env.KillDatabase(t)

	res := <-done
	if res.err != nil {
		t.Fatalf("the push in flight got no HTTP answer: %v", res.err)
	}
	// The answer is checked without stopping: whatever it says, the database
	// below must hold all of the push or none of it.
	if err := unavailableError("push in flight when the database died", res.r); err != nil {
		t.Error(err)
	}

	env.StartDatabase(t)
	var n int
	var seqAfter int64
	var template string
	if err := env.Checks.QueryRow(ctx, `
		SELECT (SELECT count(*) FROM costbook_items WHERE contractor_id = $1),
		       (SELECT seq FROM sync_clock WHERE contractor_id = $1),
		       (SELECT template FROM pdf_settings WHERE contractor_id = $1)`, d.ContractorID).Scan(&n, &seqAfter, &template); err != nil {
		t.Fatal(err)
	}
	switch {
	case n == 0 && seqAfter == seqBefore && template == "before":
		// Not at all: what the staging above must produce.
	case n == rows && seqAfter == seqBefore+1 && template == "in flight":
		t.Fatal("the push was applied although it never committed; the kill was not staged mid-transaction")
	default:
		t.Fatalf("half a push survived: %d of %d rows, clock %d -> %d, pdf template %q", n, rows, seqBefore, seqAfter, template)
	}
}

// TestFaults_SIGTERM_DrainsInFlightRequest_ExitsCleanly runs the real binary,
// holds a big push inside the database, sends SIGTERM, and proves the push
// still completes with 200 before the process exits 0.
func TestFaults_SIGTERM_DrainsInFlightRequest_ExitsCleanly(t *testing.T) {
	env.RestartAtEnd(t)
	ctx := context.Background()
	bin := filepath.Join(t.TempDir(), "syncproxy")
	build := exec.Command("go", "build", "-o", bin, "github.com/syncproxy/syncproxy/cmd/syncproxy")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	cmd := exec.Command(bin, "serve")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "SYNC_ADDR=127.0.0.1:0", "SYNC_LOG_LEVEL=info"}
	for k, v := range env.Env() {
		if k == "SYNC_REQUEST_TIMEOUT" {
			// The push is held on purpose while the test signals the
			// process: its deadline must not be what ends it.
			v = "60s"
		}
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	logs := &processLog{lines: make(chan map[string]any, 1000)}
	cmd.Stderr = logs
	cmd.Stdout = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var exitErr error
	exited := make(chan struct{})
	go func() { exitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			cmd.Process.Kill()
			<-exited
		}
	})
	serving := logs.await(t, "serving", exited)
	d := env.NewTenant(t)
	d.URL = "http://" + serving["addr"].(string)

	// Hold the push on the contractor's clock lock: it is in flight, inside
	// the database, until the test lets it go.
	const rows = 3000
	blocker, done := pushHeldOnRow(t, d, "sync_clock", map[string]any{"costbook_items": itemRows(rows, "draining")})

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	logs.await(t, "shutting down", exited)
	select {
	case r := <-done:
		t.Fatalf("the push answered before it was let go: %v %d %s", r.err, r.r.Status, r.r.Body)
	default:
	}
	if err := blocker.Rollback(ctx); err != nil {
		t.Fatal(err)
	}

	res := <-done
	if res.err != nil {
		t.Fatalf("push in flight during SIGTERM: %v", res.err)
	}
	if res.r.Status != http.StatusOK {
		t.Fatalf("push in flight during SIGTERM = %d: %s", res.r.Status, res.r.Body)
	}
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		t.Fatal("syncproxy serve did not exit after SIGTERM and a drained request")
	}
	if exitErr != nil {
		t.Fatalf("syncproxy serve exited with %v after SIGTERM, want status 0", exitErr)
	}
	if !logs.saw("stopped") {
		t.Fatal(`the log does not say "stopped"`)
	}
	var n int
	if err := env.Checks.QueryRow(ctx, "SELECT count(*) FROM costbook_items WHERE contractor_id = $1", d.ContractorID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != rows {
		t.Fatalf("%d rows after the drained push, want %d", n, rows)
	}
}

// processLog parses the JSON log lines of the binary as they arrive.
type processLog struct {
	mu      sync.Mutex
	partial []byte
	seen    []string
	lines   chan map[string]any
}

func (p *processLog) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.partial = append(p.partial, b...)
	for {
		i := bytes.IndexByte(p.partial, '\n')
		if i < 0 {
			break
		}
		line := p.partial[:i]
		p.partial = p.partial[i+1:]
		var entry map[string]any
		if json.Unmarshal(line, &entry) != nil {
			entry = map[string]any{"msg": string(line)}
		}
		if msg, ok := entry["msg"].(string); ok {
			p.seen = append(p.seen, msg)
		}
		select {
		case p.lines <- entry:
		default:
		}
	}
	return len(b), nil
}

// await returns the first log entry whose msg is msg.
func (p *processLog) await(t *testing.T, msg string, exited <-chan struct{}) map[string]any {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case entry := <-p.lines:
			if entry["msg"] == msg || strings.HasPrefix(fmt.Sprint(entry["msg"]), msg) {
				return entry
			}
		case <-exited:
			t.Fatalf("syncproxy exited before logging %q; it logged %v", msg, p.messages())
		case <-timeout:
			t.Fatalf("syncproxy did not log %q; it logged %v", msg, p.messages())
		}
	}
}

func (p *processLog) saw(msg string) bool {
	for _, m := range p.messages() {
		if m == msg {
			return true
		}
	}
	return false
}

func (p *processLog) messages() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.seen...)
}
