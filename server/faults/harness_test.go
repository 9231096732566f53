package faults_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/syncproxy/syncproxy/internal/pgcluster"
	"github.com/syncproxy/syncproxy/internal/testenv"
	"github.com/syncproxy/syncproxy/migrations"
	"github.com/syncproxy/syncproxy/server"
	"github.com/syncproxy/syncproxy/server/pgtx"
)

const (
	testSecret = "faults-secret-0123456789abcdef-0123456789"
	database   = "faults"
	// requestTimeout is SYNC_REQUEST_TIMEOUT of the server under test: with
	// the database gone, every answer must come within it.
	requestTimeout = 3 * time.Second
)

var env struct {
	cluster *pgcluster.Cluster
	pool    *pgxpool.Pool // the tests' own connections, for setup and checks
	server  *httptest.Server
	log     *testenv.LogBuffer  // the in-process server's log, shown when a test fails
	doer    testenv.CheckedDoer // every response, 503s included, is checked against the spec
}

// client gives up well after the request timeout: a server that hangs fails
// the test with a client timeout instead of stalling it.
var client = &http.Client{Timeout: requestTimeout + 10*time.Second}

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	ctx := context.Background()
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "faults harness:", err)
		return 1
	}
	cluster, err := testenv.StartCluster(ctx, database)
	if err != nil {
		return fail(err)
	}
	defer cluster.Remove()
	cfg, err := testenv.Config(serverEnv(cluster))
	if err != nil {
		return fail(err)
	}
	pool, err := pgxpool.New(ctx, cluster.URL(database))
	if err != nil {
		return fail(err)
	}
	defer pool.Close()
	env.log = &testenv.LogBuffer{}
	logger := env.log.Logger(slog.LevelInfo)
	if err := migrations.Apply(ctx, pool, logger); err != nil {
		return fail(err)
	}
	serverPool, err := server.OpenPool(ctx, cfg)
	if err != nil {
		return fail(err)
	}
	defer serverPool.Close()
	handler, err := testenv.NewHandler(cfg, serverPool, logger)
	if err != nil {
		return fail(err)
	}
	env.server = httptest.NewServer(handler)
	defer env.server.Close()
	check, err := testenv.SpecCheck()
	if err != nil {
		return fail(err)
	}
	env.cluster, env.pool = cluster, pool
	env.doer = testenv.CheckedDoer{Doer: client, Check: check}
	return m.Run()
}

// serverEnv is the environment of every server these tests run, in process
// or as the built binary.
func serverEnv(cluster *pgcluster.Cluster) map[string]string {
	return map[string]string{
		"DATABASE_URL":         cluster.URL(database),
		"SYNC_JWT_SECRET":      testSecret,
		"SYNC_REQUEST_TIMEOUT": requestTimeout.String(),
		"SYNC_RATE_LIMIT":      "0",
	}
}

// ensureUp restarts the cluster after a test that stopped it, whatever happened.
func ensureUp(t *testing.T) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if err := env.cluster.Start(ctx); err != nil {
			t.Errorf("restart cluster: %v", err)
		}
		env.pool.Reset() // its connections died with the old server
	})
}

// killCluster stops Postgres the way a crash does (pg_ctl stop -m immediate):
// no shutdown checkpoint, sessions are not rolled back cleanly, the next start
// runs crash recovery. pgcluster only stops cleanly, so this runs pg_ctl
// itself, as the account that owns the cluster.
func killCluster(t *testing.T) {
	t.Helper()
	pgCtl, err := exec.LookPath("pg_ctl")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(pgCtl, "stop", "-D", filepath.Join(env.cluster.Dir(), "data"), "-m", "immediate", "-w", "-s")
	cmd.Dir = env.cluster.Dir()
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if os.Geteuid() == 0 { // postgres refuses root; pgcluster runs it as "postgres"
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatal(err)
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pg_ctl stop -m immediate: %v\n%s", err, out)
	}
}

// freezeCluster stops every process of the cluster with SIGSTOP (the
// postmaster first, so it forks no new ones) and returns the function that
// resumes them, which also runs at cleanup.
func freezeCluster(t *testing.T) (thaw func()) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(env.cluster.Dir(), "data", "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	postmaster, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(raw), "\n", 2)[0]))
	if err != nil {
		t.Fatalf("postmaster.pid: %v", err)
	}
	pids := []int{postmaster}
	if err := syscall.Kill(postmaster, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range procs {
		stat, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces, so cut after ')'.
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(postmaster) {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			if syscall.Kill(pid, syscall.SIGSTOP) == nil {
				pids = append(pids, pid)
			}
		}
	}
	thawed := false
	thaw = func() {
		if thawed {
			return
		}
		thawed = true
		for i := len(pids) - 1; i >= 0; i-- {
			syscall.Kill(pids[i], syscall.SIGCONT)
		}
	}
	t.Cleanup(thaw)
	return thaw
}

// device is one app install of one tenant's owner.
type device struct {
	baseURL      string
	token        string
	contractorID uuid.UUID
}

func newTenant(t *testing.T) *device {
	t.Helper()
	contractor, owner, err := testenv.NewTenant(context.Background(), pgtx.New(env.pool, pgtx.Settings{}), t.Name())
	if err != nil {
		t.Fatalf("provision tenant: %v", err)
	}
	token, err := testenv.Token(testSecret, owner)
	if err != nil {
		t.Fatal(err)
	}
	return &device{baseURL: env.server.URL, token: token, contractorID: contractor}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends body as JSON (nil: no body) to path through the generated client
// (gen/api) when path is an operation of the spec, as written otherwise.
func (d *device) do(method, path string, body any) (response, error) {
	var reader io.Reader
	contentType := ""
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return response{}, err
		}
		reader, contentType = bytes.NewReader(raw), "application/json"
	}
	res, err := testenv.Do(context.Background(), testenv.NewClient(d.baseURL, d.token, env.doer), method, path, contentType, reader)
	if err != nil {
		return response{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	r, err := testenv.ReadResponse(res)
	if err != nil {
		return response{}, err
	}
	return response{status: r.Status, header: r.Header, body: r.Body}, nil
}

func (d *device) mustDo(t *testing.T, method, path string, body any) response {
	t.Helper()
	r, err := d.do(method, path, body)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// unavailableError checks a 503 UNAVAILABLE envelope with a Retry-After.
func unavailableError(what string, r response) error {
	if r.status != http.StatusServiceUnavailable {
		return fmt.Errorf("%s = %d, want 503; body %s\nserver log:\n%s", what, r.status, r.body, env.log.Tail(5))
	}
	var e struct {
		Ok        bool              `json:"ok"`
		Error     string            `json:"error"`
		Message   string            `json:"message"`
		RequestID string            `json:"requestId"`
		Details   []json.RawMessage `json:"details"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil || e.Ok || e.Error != "UNAVAILABLE" || e.Message == "" ||
		e.RequestID == "" || e.Details == nil || r.header.Get("X-Request-Id") != e.RequestID {
		return fmt.Errorf("%s: 503 body %s is not the UNAVAILABLE envelope", what, r.body)
	}
	if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s <= 0 {
		return fmt.Errorf("%s: Retry-After = %q, want a positive number of seconds", what, r.header.Get("Retry-After"))
	}
	return nil
}

func checkUnavailable(t *testing.T, what string, r response) {
	t.Helper()
	if err := unavailableError(what, r); err != nil {
		t.Fatal(err)
	}
}

func itemRows(n int, name string) []map[string]any {
	rows := make([]map[string]any, n)
	for i := range rows {
		rows[i] = map[string]any{"id": uuid.New(), "name": fmt.Sprintf("%s %d", name, i), "unit_cost": "1.25",
			"description": strings.Repeat("x", 100)}
	}
	return rows
}

// waitForLockWaiter blocks until a session waits for a lock in a statement
// that mentions table: the request is provably in flight in the database.
func waitForLockWaiter(t *testing.T, table string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var waiting int
		err := env.pool.QueryRow(context.Background(), `
			SELECT count(*) FROM pg_stat_activity
			WHERE wait_event_type = 'Lock' AND query LIKE '%' || $1 || '%' AND pid <> pg_backend_pid()`, table).Scan(&waiting)
		if err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no session waits for a lock on %s", table)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// pushResult is what a push sent in the background got back.
type pushResult struct {
	r   response
	err error
}

// pushHeldOnRow sends body as a push of d while the test holds d's row of
// table FOR UPDATE, and returns once the push waits for that lock: it is then
// in flight inside the database until the test ends blocker.
func pushHeldOnRow(t *testing.T, d *device, table string, body any) (blocker pgx.Tx, done <-chan pushResult) {
	t.Helper()
	ctx := context.Background()
	blocker, err := env.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { blocker.Rollback(context.Background()) })
	// table is one of the test's constants, never input.
	if _, err := blocker.Exec(ctx, "SELECT 1 FROM "+table+" WHERE contractor_id = $1 FOR UPDATE", d.contractorID); err != nil {
		t.Fatal(err)
	}
	results := make(chan pushResult, 1)
	go func() {
		r, err := d.do(http.MethodPost, "/api/sync/push", body)
		results <- pushResult{r, err}
	}()
	waitForLockWaiter(t, table)
	return blocker, results
}
