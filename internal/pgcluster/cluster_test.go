package pgcluster

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// These tests run the real initdb/pg_ctl/postgres binaries.

type testLog struct{ t *testing.T }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func ping(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		return err
	}
	if one != 1 {
		return errors.New("SELECT 1 returned " + strconv.Itoa(one))
	}
	return nil
}

// tempCluster starts a throwaway cluster, removed when the test ends, and
// returns it with a context that bounds the test's work on it.
func tempCluster(t *testing.T) (context.Context, *Cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	c, err := StartTemp(ctx, testLog{t})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Remove() })
	return ctx, c
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	ctx, c := tempCluster(t)
	dir, port := c.Dir(), c.Port()
	if port == 0 {
		t.Fatal("port 0")
	}
	if want := "postgres://postgres@127.0.0.1:" + strconv.Itoa(port) + "/app?sslmode=disable"; c.URL("app") != want {
		t.Fatalf("URL = %q, want %q", c.URL("app"), want)
	}

	for i := 0; i < 2; i++ { // idempotent
		for _, name := range []string{"app", `we"ird Name`} {
			if err := c.CreateDatabase(ctx, name); err != nil {
				t.Fatalf("CreateDatabase(%q) #%d: %v", name, i+1, err)
			}
		}
	}
	if err := ping(ctx, c.URL("app")); err != nil {
		t.Fatalf("SELECT 1 on app: %v", err)
	}

	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(ctx); err != nil { // idempotent
		t.Fatalf("second Stop: %v", err)
	}
	if err := ping(ctx, c.URL("app")); err == nil {
		t.Fatal("connecting to a stopped cluster succeeded")
	}

	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if c.Port() != port {
		t.Fatalf("port changed across Stop/Start: %d -> %d", port, c.Port())
	}
	if err := ping(ctx, c.URL("app")); err != nil {
		t.Fatalf("SELECT 1 after restart: %v", err)
	}

	// Crash (SIGKILL the postmaster, leaving a stale postmaster.pid):
	// Ensure must bring it back on the same port.
	pf, err := readPidFile(c.dataDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pf.pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for isPostgres(pf.pid) { // wait until the kernel reaps it
		time.Sleep(10 * time.Millisecond)
	}
	c2, err := Ensure(ctx, Options{Dir: dir, Ephemeral: true, Log: testLog{t}})
	if err != nil {
		t.Fatalf("Ensure after crash: %v", err)
	}
	if c2.Port() != port {
		t.Fatalf("port after crash = %d, want %d", c2.Port(), port)
	}
	if err := ping(ctx, c2.URL("app")); err != nil {
		t.Fatalf("SELECT 1 after crash recovery: %v", err)
	}

	if err := c.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("dir %s still exists after Remove (stat err %v)", dir, err)
	}
	if err := c.Remove(); err != nil {
		t.Fatalf("second Remove: %v", err)
	}
}

// TestEnsureExistingDir covers the persistent-cluster path: a dir too long
// for a unix socket, reuse of a running cluster, a port held by another
// process, and restart of a stopped cluster on its remembered port.
func TestEnsureExistingDir(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	base, err := os.MkdirTemp("", "pgcluster-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil { // MkdirTemp gives 0700
		t.Fatal(err)
	}
	dir := filepath.Join(base, "persistent-"+strings.Repeat("x", 100))
	opts := Options{
		Dir:         dir,
		Ephemeral:   true,
		Log:         testLog{t},
		ExtraConfig: map[string]string{"max_connections": "23", "application_name": "it's a test"},
	}

	c, err := Ensure(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Remove() })
	port := c.Port()
	if !c.ownSock || !strings.HasPrefix(c.sockDir, "/tmp/") {
		t.Errorf("long dir: expected a short socket dir under /tmp, got %q", c.sockDir)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "port")); err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(port) {
		t.Fatalf("port file = %q, %v; want %d", b, err, port)
	}
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	var maxConn, appName string
	if err := conn.QueryRow(ctx, "SELECT current_setting('max_connections'), current_setting('fsync')").Scan(&maxConn, &appName); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	if maxConn != "23" || appName != "off" {
		t.Fatalf("max_connections=%s fsync=%s, want 23 off", maxConn, appName)
	}

	// Ensure while running reuses the server.
	pf1, err := readPidFile(c.dataDir)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := Ensure(ctx, opts)
	if err != nil {
		t.Fatalf("Ensure on running cluster: %v", err)
	}
	pf2, _ := readPidFile(c.dataDir)
	if c2.Port() != port || pf2.pid != pf1.pid {
		t.Fatalf("Ensure on running cluster restarted it: port %d->%d pid %d->%d", port, c2.Port(), pf1.pid, pf2.pid)
	}
	other := opts
	other.Port = port + 1
	if _, err := Ensure(ctx, other); err == nil || !strings.Contains(err.Error(), "already running on port") {
		t.Fatalf("Ensure with another port on running cluster: err = %v", err)
	}

	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	// Port held by someone else: clear error.
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Ensure(ctx, opts)
	l.Close()
	if !errors.Is(err, ErrPortInUse) || !strings.Contains(err.Error(), strconv.Itoa(port)) {
		t.Fatalf("Ensure with port taken: err = %v, want ErrPortInUse naming %d", err, port)
	}
	t.Logf("port-taken error: %v", err)

	// Stopped cluster: Ensure restarts it on the remembered port.
	opts.ExtraConfig = nil
	c3, err := Ensure(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if c3.Port() != port {
		t.Fatalf("restart port = %d, want remembered %d", c3.Port(), port)
	}
	if err := ping(ctx, c3.URL("postgres")); err != nil {
		t.Fatal(err)
	}
	if err := c3.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(c3.sockDir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("socket dir %s not removed", c3.sockDir)
	}
}

func TestUntraversableParent(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: only then does postgres run as another user")
	}
	base, err := os.MkdirTemp("", "pgcluster-private-") // mode 0700, owned by root
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(base)
	dir := filepath.Join(base, "sub", "cluster")
	_, err = Ensure(context.Background(), Options{Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "not traversable") || !strings.Contains(err.Error(), "directory "+base+" ") {
		t.Fatalf("err = %v, want 'not traversable' naming %s", err, base)
	}
	t.Log(err)
}
