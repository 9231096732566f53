// Package devicetest is the end-to-end harness the black-box, proof and
// faults suites share: the server under test started the way production
// runs it (a real PostgreSQL cluster, behind a real PgBouncer under
// SYNC_TEST_POOLER=1, the handler from server.New on a real loopback
// listener), tenants provisioned as an operator does, and devices that talk
// to it as an app does, through the generated client, every response checked
// against openapi.yaml on arrival.
//
// A suite starts one Server in TestMain and runs its tests through Run,
// which ends by checking that no bearer token reached the server's log:
//
//	var env *devicetest.Server
//
//	func TestMain(m *testing.M) {
//		os.Exit(devicetest.Main(m, &env, devicetest.Options{Database: "e2e"}))
//	}
//
// It is for tests only; it lives outside _test files because the test
// binaries of several packages import it.
package devicetest

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/syncproxy/syncproxy/internal/pgcluster"
	"github.com/syncproxy/syncproxy/internal/testenv"
	"github.com/syncproxy/syncproxy/migrations"
	"github.com/syncproxy/syncproxy/server"
	"github.com/syncproxy/syncproxy/server/auth"
	"github.com/syncproxy/syncproxy/server/config"
	"github.com/syncproxy/syncproxy/server/middleware"
	"github.com/syncproxy/syncproxy/server/pgtx"
)

// Secret signs the devices' HS256 tokens; every server the harness starts
// verifies it.
const Secret = "devicetest-secret-0123456789abcdef-0123456789"

// Options say how a suite's server under test differs from the default.
type Options struct {
	// Database names the suite's database (and labels its cluster).
	Database string
	// Settings are the server's environment (SYNC_*) over the harness's:
	// DATABASE_URL, SYNC_JWT_SECRET and a loopback SYNC_ADDR.
	Settings map[string]string
	// LogLevel is the server log's level. The log is kept in memory and
	// checked for bearer tokens after the run: debug (the zero value is
	// info) covers every line the server can write.
	LogLevel slog.Level
	// Client carries the devices' requests (nil: http.DefaultClient): a
	// suite that must never hang gives one with a timeout.
	Client *http.Client
	// Outages is for a suite that stops, kills or freezes the database
	// under the server (StopDatabase and the others refuse otherwise): the
	// server then connects straight to its own cluster even under
	// SYNC_TEST_POOLER, since a PgBouncer in between would answer for the
	// database.
	Outages bool
	// ShareEnv, if set, names an environment variable that hands the
	// database to child processes of the test binary (the workers of go
	// test -fuzz, which run TestMain again): the first process starts the
	// cluster and sets it, the others find it set and attach.
	ShareEnv string
	// Replica starts a streaming replica of the suite's cluster (a hot
	// standby made by pg_basebackup, behind a PgBouncer of its own under
	// SYNC_TEST_POOLER): Server.Replica and Server.ReplicaURL. Not in a
	// process attached through ShareEnv.
	Replica bool
}

// Server is the server under test and what a test needs to look under it.
type Server struct {
	// URL is the real HTTP listener the devices talk to.
	URL string
	// Handler is the same handler, for requests served in process (the
	// fuzzer's, which cannot afford a connection each).
	Handler http.Handler
	// Config is the server's configuration, as loaded from its environment.
	Config config.Config
	// Pool is the server's own pool (through PgBouncer under make
	// test-pooler); tests provision and inspect through it too.
	Pool *pgtx.Pool
	// Cluster is the suite's PostgreSQL cluster; nil in a process attached
	// through Options.ShareEnv.
	Cluster *pgcluster.Cluster
	// DirectURL reaches the database straight on the cluster, never through
	// PgBouncer, for a test's connections that are not under test ("" when
	// attached through Options.ShareEnv).
	DirectURL string
	// Checks, with Options.Outages, are the tests' own connections straight
	// to the cluster, apart from the server's pool, whose recovery after an
	// outage is under test: tenants are provisioned and the database
	// inspected through it. Nil otherwise.
	Checks *pgxpool.Pool
	// Logs is the server's log, JSON lines as an operator reads them.
	Logs *testenv.LogBuffer
	// Replica is the streaming replica of Options.Replica, at ReplicaURL
	// (through PgBouncer under make test-pooler); nil otherwise.
	Replica    *pgcluster.Cluster
	ReplicaURL string

	opts    Options
	env     map[string]string
	check   func(*http.Request, testenv.Response) error
	doer    testenv.CheckedDoer
	closers []func()
}

// Main starts the server under test for opts, stores it in *env, runs the
// suite's tests through Run and stops everything; it returns the exit code
// for os.Exit. A server that fails to start fails the run with its reason.
func Main(m *testing.M, env **Server, opts Options) int {
	s, err := Start(context.Background(), opts)
	if err != nil {
		fmt.Fprintf(os.Stderr, "devicetest: %s: %v\n", opts.Database, err)
		return 1
	}
	defer s.Close()
	*env = s
	return s.Run(m)
}

// Start starts a cluster (or attaches to the one of Options.ShareEnv),
// migrates the database, and serves the production handler on a loopback
// listener. Close undoes it.
func Start(ctx context.Context, opts Options) (s *Server, err error) {
	if opts.Database == "" {
		return nil, fmt.Errorf("devicetest: Options.Database is empty")
	}
	s = &Server{opts: opts, Logs: &testenv.LogBuffer{}}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	dbURL := ""
	if opts.ShareEnv != "" {
		dbURL = os.Getenv(opts.ShareEnv)
	}
	owner := dbURL == ""
	if opts.Outages && !owner {
		return nil, fmt.Errorf("devicetest: Options.Outages needs a cluster of the suite's own, not one shared through %s", opts.ShareEnv)
	}
	if owner {
		if s.Cluster, err = testenv.StartCluster(ctx, opts.Database); err != nil {
			return nil, err
		}
		s.closers = append(s.closers, func() { s.Cluster.Remove() })
		s.DirectURL = s.Cluster.URL(opts.Database)
		dbURL = s.DirectURL
		if !opts.Outages {
			// With SYNC_TEST_POOLER=1 (make test-pooler) the suite runs
			// behind PgBouncer in transaction mode.
			var stopPooler func()
			if dbURL, stopPooler, err = testenv.DatabaseURL(ctx, s.Cluster, opts.Database); err != nil {
				return nil, err
			}
			s.closers = append(s.closers, stopPooler)
		}
		if opts.ShareEnv != "" {
			os.Setenv(opts.ShareEnv, dbURL)
		}
		if opts.Replica {
			if err := s.startReplica(ctx); err != nil {
				return nil, err
			}
		}
	}
	s.env = map[string]string{
		"DATABASE_URL":    dbURL,
		"SYNC_JWT_SECRET": Secret,
		"SYNC_ADDR":       "127.0.0.1:0",
	}
	maps.Copy(s.env, opts.Settings)
	if s.Config, err = testenv.Config(s.env); err != nil {
		return nil, err
	}
	if s.Pool, err = server.OpenPool(ctx, s.Config); err != nil {
		return nil, err
	}
	s.closers = append(s.closers, s.Pool.Close)
	if opts.Outages {
		if s.Checks, err = pgxpool.New(ctx, s.DirectURL); err != nil {
			return nil, err
		}
		s.closers = append(s.closers, s.Checks.Close)
	}
	logger := s.Logs.Logger(opts.LogLevel)
	if owner {
		if err := migrations.Apply(ctx, s.Pool, logger); err != nil {
			return nil, err
		}
	}
	// The device ledger as Serve runs it: flushed every
	// SYNC_DEVICES_FLUSH_INTERVAL (a suite that reads it sets a short one),
	// and once more when the suite ends, before the pool closes.
	var handlerOpts []server.Option
	if ledger := server.NewDeviceRecorder(s.Config, s.Pool, logger); ledger != nil {
		ledgerCtx, stopLedger := context.WithCancel(context.WithoutCancel(ctx))
		flushed := make(chan struct{})
		go func() {
			defer close(flushed)
			ledger.Run(ledgerCtx)
		}()
		s.closers = append(s.closers, func() { stopLedger(); <-flushed })
		handlerOpts = append(handlerOpts, server.WithDevices(ledger))
	}
	if s.Handler, err = testenv.NewHandler(s.Config, s.Pool, logger, handlerOpts...); err != nil {
		return nil, err
	}
	if s.check, err = testenv.SpecCheck(); err != nil {
		return nil, err
	}
	client := opts.Client
	if client == nil {
		client = http.DefaultClient
	}
	s.doer = testenv.CheckedDoer{Doer: client, Check: s.check}
	listener := httptest.NewServer(s.Handler)
	s.closers = append(s.closers, listener.Close)
	s.URL = listener.URL
	return s, nil
}

// Close stops what Start started, in reverse order.
func (s *Server) Close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
	s.closers = nil
}

// jwtShape matches a JWT's header and claims segments (base64url JSON, dot
// separated); cursors are base64url JSON too, but have no dot.
var jwtShape = regexp.MustCompile(`eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.`)

// Run runs the suite's tests; then, whatever ran, no bearer token may have
// reached the server's log.
func (s *Server) Run(m *testing.M) int {
	code := m.Run()
	if err := s.LogHasNoToken(); err != nil {
		fmt.Fprintln(os.Stderr, "devicetest:", err)
		return 1
	}
	return code
}

// LogHasNoToken fails when the server's log holds anything shaped like a JWT.
func (s *Server) LogHasNoToken() error {
	log := s.Logs.String()
	if loc := jwtShape.FindStringIndex(log); loc != nil {
		return fmt.Errorf("the server log contains a JWT near: %q", log[max(0, loc[0]-200):loc[0]+20])
	}
	return nil
}

// Env is the server's environment: the harness's settings and the suite's,
// as the real binary would be given them.
func (s *Server) Env() map[string]string { return maps.Clone(s.env) }

// ConfigWith is the server's configuration with vars on top: a second
// server like the first but for what the test changes.
func (s *Server) ConfigWith(t testing.TB, vars map[string]string) config.Config {
	t.Helper()
	cfg, err := testenv.Config(s.env, vars)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// DefaultConfig is a configuration with production defaults but for the
// harness's database, secret and loopback address, with vars on top: what
// a test of one setting (a rate limit, a timeout) starts from.
func (s *Server) DefaultConfig(t testing.TB, vars map[string]string) config.Config {
	t.Helper()
	base := map[string]string{
		"DATABASE_URL":    s.env["DATABASE_URL"],
		"SYNC_JWT_SECRET": Secret,
		"SYNC_ADDR":       "127.0.0.1:0",
	}
	cfg, err := testenv.Config(base, vars)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// Listen serves cfg with a handler of its own (server.New) on pool (nil:
// the harness's) on a new loopback listener until t ends, verifying tokens
// with verifier (nil: HS256 with Secret). It returns the URL and the log.
func (s *Server) Listen(t testing.TB, cfg config.Config, pool *pgtx.Pool, verifier middleware.TokenVerifier) (string, *testenv.LogBuffer) {
	t.Helper()
	if pool == nil {
		pool = s.Pool
	}
	if verifier == nil {
		v, err := auth.NewHS256([]byte(Secret), "")
		if err != nil {
			t.Fatal(err)
		}
		verifier = v
	}
	logs := &testenv.LogBuffer{}
	handler, err := server.New(cfg, pool, verifier, logs.Logger(slog.LevelInfo))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	return srv.URL, logs
}

// Serve runs the production server.Serve (its http.Server with the
// configured timeouts, its listener, its background purges) with cfg on
// pool (nil: the harness's) until t ends, and returns its address
// (host:port) and log.
func (s *Server) Serve(t testing.TB, cfg config.Config, pool *pgtx.Pool) (string, *testenv.LogBuffer) {
	t.Helper()
	if pool == nil {
		pool = s.Pool
	}
	logs := &testenv.LogBuffer{}
	ctx, stop := context.WithCancel(context.Background())
	addr, finished := make(chan string, 1), make(chan struct{})
	var served error
	go func() {
		served = server.Serve(ctx, cfg, pool, logs.Logger(slog.LevelInfo), func(a string) { addr <- a })
		close(finished)
	}()
	select {
	case a := <-addr:
		t.Cleanup(func() {
			stop()
			<-finished
			if served != nil {
				t.Errorf("Serve: %v", served)
			}
		})
		return a, logs
	case <-finished:
		stop()
		t.Fatalf("Serve returned before listening: %v", served)
		return "", nil
	}
}

// CheckResponse validates a response a test received outside a device (from
// a raw connection, say) against the spec: a field missing, mistyped or
// misnamed fails the test that caused it.
func (s *Server) CheckResponse(t testing.TB, req *http.Request, r Response) {
	t.Helper()
	if err := s.check(req, testenv.Response(r)); err != nil {
		t.Fatal(err)
	}
}
