package blackbox_test

// One server under test per test binary (devicetest: a real PostgreSQL
// cluster, behind PgBouncer under make test-pooler, a real HTTP listener),
// and devices that talk to it the way an app does. Tests isolate by tenant:
// every test provisions its own contractors.

import (
	"log/slog"
	"os"
	"testing"

	"github.com/syncproxy/syncproxy/internal/devicetest"
)

var env *devicetest.Server

func TestMain(m *testing.M) {
	os.Exit(devicetest.Main(m, &env, devicetest.Options{
		Database: "e2e",
		Settings: map[string]string{
			"SYNC_MAX_BODY_BYTES": "1048576",
			"SYNC_MAX_PUSH_ROWS":  "5000",
			// Rate limiting has its own servers in limits_test.go; here it
			// would only make parallel tests flaky.
			"SYNC_RATE_LIMIT": "0",
			// The device ledger is read back by devices_test.go within a
			// poll: flush it often.
			"SYNC_DEVICES_FLUSH_INTERVAL": "50ms",
		},
		// Debug, so that the check for tokens in the log after the run
		// covers every line the server can write.
		LogLevel: slog.LevelDebug,
	}))
}
