package proof_test

// One server under test per test binary (devicetest), tuned for the proofs:
// a larger pool, no rate limit, a small JSON column bound for the fuzzer,
// and a client that gives up instead of hanging.

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/syncproxy/syncproxy/internal/devicetest"
)

var env *devicetest.Server

func TestMain(m *testing.M) {
	os.Exit(devicetest.Main(m, &env, devicetest.Options{
		Database: "proof",
		Settings: map[string]string{
			"SYNC_MAX_BODY_BYTES": "1048576",
			"SYNC_MAX_PUSH_ROWS":  "5000",
			// Small, so the fuzzer reaches the JSON column bound within a body.
			"SYNC_MAX_JSON_VALUE_BYTES": fmt.Sprint(fuzzMaxJSONBytes),
			// Larger than the default, so that the concurrency tests measure
			// the clock lock, not a wait for a free connection.
			"SYNC_DB_MAX_CONNS": "24",
			// The proofs hammer one tenant on purpose: no rate limit may interfere.
			"SYNC_RATE_LIMIT": "0",
		},
		// The fuzzer sends millions of requests: only what goes wrong is kept.
		LogLevel: slog.LevelWarn,
		// Every request is bounded: a hang fails the test instead of stalling it.
		Client: &http.Client{
			Timeout:   60 * time.Second,
			Transport: &http.Transport{MaxIdleConnsPerHost: 64},
		},
		// go test -fuzz runs its workers as child processes of this binary,
		// each through TestMain: they attach to this cluster instead of
		// starting clusters of their own.
		ShareEnv: "SYNCPROXY_PROOF_DATABASE_URL",
		// The replica tests read pulls on a streaming replica of the cluster.
		Replica: true,
	}))
}

// clockSeq reads a contractor's change clock straight from the database.
func clockSeq(t testing.TB, contractorID uuid.UUID) int64 {
	t.Helper()
	var seq int64
	if err := env.Pool.QueryRow(context.Background(),
		"SELECT seq FROM sync_clock WHERE contractor_id = $1", contractorID).Scan(&seq); err != nil {
		t.Fatal(err)
	}
	return seq
}
