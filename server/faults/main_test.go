package faults_test

// One server under test per test binary (devicetest) with Options.Outages:
// the suite's own cluster, which the tests stop, kill and freeze under the
// server, reached straight (never through PgBouncer).

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/syncproxy/syncproxy/internal/devicetest"
)

// requestTimeout is SYNC_REQUEST_TIMEOUT of the server under test: with
// the database gone, every answer must come within it.
const requestTimeout = 3 * time.Second

var env *devicetest.Server

func TestMain(m *testing.M) {
	os.Exit(devicetest.Main(m, &env, devicetest.Options{
		Database: "faults",
		Settings: map[string]string{
			"SYNC_REQUEST_TIMEOUT": requestTimeout.String(),
			"SYNC_RATE_LIMIT":      "0",
		},
		// The client gives up well after the request timeout: a server that
		// hangs fails the test with a client timeout instead of stalling it.
		Client:  &http.Client{Timeout: requestTimeout + 10*time.Second},
		Outages: true,
	}))
}

// unavailableError checks a 503 UNAVAILABLE envelope with a Retry-After.
func unavailableError(what string, r devicetest.Response) error {
	if err := r.CheckEnvelope(http.StatusServiceUnavailable, "UNAVAILABLE"); err != nil {
		return fmt.Errorf("%s: %w\nserver log:\n%s", what, err, env.Logs.Tail(5))
	}
	if s, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || s <= 0 {
		return fmt.Errorf("%s: Retry-After = %q, want a positive number of seconds", what, r.Header.Get("Retry-After"))
	}
	return nil
}

func checkUnavailable(t *testing.T, what string, r devicetest.Response) {
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

// pushResult is what a push sent in the background got back.
type pushResult struct {
	r   devicetest.Response
	err error
}

// pushHeldOnRow sends body as a push of d while the test holds d's row of
// table FOR UPDATE, and returns once the push waits for that lock: it is then
// in flight inside the database until the test ends blocker.
func pushHeldOnRow(t *testing.T, d *devicetest.Device, table string, body any) (blocker pgx.Tx, done <-chan pushResult) {
	t.Helper()
	ctx := context.Background()
	blocker, err := env.Checks.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { blocker.Rollback(context.Background()) })
	// table is one of the test's constants, never input.
	if _, err := blocker.Exec(ctx, "SELECT 1 FROM "+table+" WHERE contractor_id = $1 FOR UPDATE", d.ContractorID); err != nil {
		t.Fatal(err)
	}
	results := make(chan pushResult, 1)
	go func() {
		r, err := d.Exchange(http.MethodPost, devicetest.PushPath, body, nil)
		results <- pushResult{r, err}
	}()
	env.AwaitLockWaiters(t, 1, table)
	return blocker, results
}
