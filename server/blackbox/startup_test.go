package blackbox_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/syncproxy/syncproxy/internal/devicetest"
	"github.com/syncproxy/syncproxy/internal/testenv"
	"github.com/syncproxy/syncproxy/migrations"
	"github.com/syncproxy/syncproxy/server"
)

// freshDatabase creates an empty database for one test. serverURL reaches it
// as the harness's server reaches its own (through PgBouncer under make
// test-pooler); directURL goes straight to Postgres, for a test's own
// connections that are not under test.
func freshDatabase(t *testing.T) (serverURL, directURL string) {
	t.Helper()
	name := "t_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
	if err := env.Cluster.CreateDatabase(context.Background(), name); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(env.Config.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String(), env.Cluster.URL(name)
}

// TestStart_InstancesAtOnce_FreshDatabase_AllMigrateAndServe starts two
// servers at the same moment on an empty database, as a deploy of two
// replicas does, then a third: each must come up ready, and each migration
// must be applied exactly once. Behind a transaction pooler a session
// advisory lock failed both ways: the instances' lock statements collided as
// prepared statements, and the unlock ran on another server connection, so
// the lock stayed and the next instance waited forever.
func TestStart_InstancesAtOnce_FreshDatabase_AllMigrateAndServe(t *testing.T) {
	t.Parallel()
	dbURL, _ := freshDatabase(t)
	cfg, err := testenv.Config(map[string]string{
		"DATABASE_URL":    dbURL,
		"SYNC_ADDR":       "127.0.0.1:0",
		"SYNC_JWT_SECRET": devicetest.Secret,
	})
	if err != nil {
		t.Fatal(err)
	}
	logs := &testenv.LogBuffer{}
	logger := logs.Logger(slog.LevelInfo)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	type instance struct {
		addr chan string
		done chan error
	}
	launch := func(gate <-chan struct{}) instance {
		in := instance{addr: make(chan string, 1), done: make(chan error, 1)}
		go func() {
			<-gate
			in.done <- server.Run(ctx, cfg, logger, func(addr string) { in.addr <- addr })
		}()
		return in
	}
	// up waits for an instance to serve and checks that it is ready. The
	// bound only turns a hang (a lock nobody releases) into a failure.
	up := func(name string, in instance) {
		t.Helper()
		select {
		case addr := <-in.addr:
			res, err := http.Get("http://" + addr + "/readyz")
			if err != nil {
				t.Fatalf("%s: readyz: %v", name, err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				t.Fatalf("%s: readyz = %d\n%s", name, res.StatusCode, logs.Tail(20))
			}
		case err := <-in.done:
			t.Fatalf("%s did not start: %v\n%s", name, err, logs.Tail(20))
		case <-time.After(2 * time.Minute):
			t.Fatalf("%s did not come up within 2 minutes\n%s", name, logs.Tail(20))
		}
	}

	gate := make(chan struct{})
	first, second := launch(gate), launch(gate)
	close(gate)
	up("first instance", first)
	up("second instance", second)
	third := launch(gate) // gate is closed: starts now, after both
	up("third instance", third)

	for _, v := range migrations.Versions() {
		if n := strings.Count(logs.String(), `"msg":"migration applied","version":"`+v+`"`); n != 1 {
			t.Errorf("migration %s applied %d times, want once\n%s", v, n, logs.Tail(20))
		}
	}
	cancel()
	for i, in := range []instance{first, second, third} {
		if err := <-in.done; err != nil {
			t.Errorf("instance %d: %v", i+1, err)
		}
	}
}
