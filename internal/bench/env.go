package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/syncproxy/syncproxy/internal/pgcluster"
	"github.com/syncproxy/syncproxy/migrations"
	"github.com/syncproxy/syncproxy/server"
	"github.com/syncproxy/syncproxy/server/auth"
	"github.com/syncproxy/syncproxy/server/config"
	"github.com/syncproxy/syncproxy/server/pgtx"
	"github.com/syncproxy/syncproxy/server/tenant"
)

// benchDatabase is the database created in the throwaway cluster.
const benchDatabase = "syncproxy_bench"

// env is what every phase talks to: the in-process server over loopback
// HTTP, and a separate pool for the raw side.
type env struct {
	cluster    *pgcluster.Cluster // nil on DATABASE_URL
	cfg        config.Config
	serverPool *pgtx.Pool // the server's own pool (its stats are reported)
	rawPool    *pgtx.Pool // the raw side's pool, same connection settings
	baseURL    string
	client     *http.Client
	stopServer func() error
	observer   requestObserver // the server's own request durations
	rateLimit  string          // SYNC_RATE_LIMIT as given to the server

	mu      sync.Mutex
	tenants []uuid.UUID // deleted at the end on a shared database
}

// start brings up the database, the server and the clients. On error it
// stops whatever it had started.
func start(ctx context.Context, o Options, p *progress) (_ *env, err error) {
	e := &env{}
	defer func() {
		if err != nil {
			err = errors.Join(err, e.close())
		}
	}()
	dbURL := o.DatabaseURL
	if dbURL == "" {
		p.line("starting a throwaway PostgreSQL cluster (ephemeral: fsync=off)")
		if e.cluster, err = pgcluster.StartTemp(ctx, io.Discard); err != nil {
			return e, err
		}
		if err = e.cluster.CreateDatabase(ctx, benchDatabase); err != nil {
			return e, err
		}
		dbURL = e.cluster.URL(benchDatabase)
	} else {
		p.line("using DATABASE_URL; the bench creates its own tenants there and deletes them afterwards")
	}

	secret := make([]byte, 32)
	if _, err = rand.Read(secret); err != nil {
		return e, err
	}
	overrides := map[string]string{
		"DATABASE_URL":      dbURL,
		"SYNC_ADDR":         "127.0.0.1:0",
		"SYNC_JWT_SECRET":   hex.EncodeToString(secret),
		"SYNC_DB_MAX_CONNS": strconv.Itoa(int(o.DBMaxConns)),
	}
	// The per-contractor rate limit is a policy, not a cost: with it, the
	// devices phase would measure 429s. An operator's setting still wins.
	if e.rateLimit = os.Getenv("SYNC_RATE_LIMIT"); e.rateLimit == "" {
		e.rateLimit = "0"
		overrides["SYNC_RATE_LIMIT"] = e.rateLimit
	}
	// Every other SYNC_* variable is the operator's, as for `serve`.
	if e.cfg, err = config.Load(func(name string) string {
		if v, ok := overrides[name]; ok {
			return v
		}
		return os.Getenv(name)
	}); err != nil {
		return e, err
	}

	// On Ctrl-C the server logs every request cut short as failed: noise.
	tap := &errorTap{w: os.Stderr, quiet: ctx.Done()}
	e.observer = newRequestObserver(slog.NewJSONHandler(tap, &slog.HandlerOptions{Level: e.cfg.LogLevel}))
	logger := slog.New(e.observer)
	if e.serverPool, err = server.OpenPool(ctx, e.cfg); err != nil {
		return e, err
	}
	if err = migrations.Apply(ctx, e.serverPool, logger); err != nil {
		return e, err
	}
	rawCfg := e.cfg
	rawCfg.DBMaxConns = 4
	if e.rawPool, err = server.OpenPool(ctx, rawCfg); err != nil {
		return e, err
	}

	// The server runs until close, not until ctx: on Ctrl-C the phases stop
	// first, then close drains and stops it.
	srvCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- server.Serve(srvCtx, e.cfg, e.serverPool, logger, func(addr string) { ready <- addr })
	}()
	var once sync.Once
	var serveErr error
	e.stopServer = func() error {
		once.Do(func() {
			cancel()
			select {
			case serveErr = <-done:
			case <-time.After(30 * time.Second):
				serveErr = errors.New("bench: the server did not stop within 30s")
			}
		})
		return serveErr
	}
	select {
	case addr := <-ready:
		e.baseURL = "http://" + addr
	case err = <-done:
		e.stopServer = func() error { return nil }
		return e, fmt.Errorf("bench: start server: %w", err)
	case <-ctx.Done():
		return e, ctx.Err()
	}
	e.client = newClient(o.Devices)
	p.line("server listening on %s (SYNC_DB_MAX_CONNS=%d)", e.baseURL, e.cfg.DBMaxConns)
	return e, nil
}

// newClient is tuned for many concurrent devices over one loopback: enough
// idle connections that no request pays for a new TCP connection.
func newClient(devices int) *http.Client {
	idle := max(devices+16, 256)
	return &http.Client{
		Timeout: 2 * time.Minute,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        idle,
			MaxIdleConnsPerHost: idle,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
}

// setup describes how the server ran.
func (e *env) setup() Setup {
	s := Setup{DBMaxConns: e.cfg.DBMaxConns, LogLevel: e.cfg.LogLevel.String(), RateLimit: e.rateLimit,
		Note: "server, clients and raw side share one process and its CPUs; request logs are formatted at the log level and discarded (errors go to stderr)"}
	if e.cluster != nil {
		s.Database = "throwaway cluster (pgcluster.StartTemp, fsync=off)"
	} else {
		s.Database = "DATABASE_URL"
	}
	return s
}

// newTenant provisions a contractor with `members` auth users and returns
// its id and one token per member.
func (e *env) newTenant(ctx context.Context, name string, members int) (uuid.UUID, []string, error) {
	roles := []string{"owner", "admin", "member"}
	var ms []tenant.Member
	for i := range members {
		ms = append(ms, tenant.Member{AuthUserID: uuid.New(), Role: roles[min(i, len(roles)-1)]})
	}
	c, err := tenant.Create(ctx, e.serverPool, tenant.NewContractor{Name: name, Members: ms})
	if err != nil {
		return uuid.Nil, nil, err
	}
	e.mu.Lock()
	e.tenants = append(e.tenants, c.ID)
	e.mu.Unlock()
	tokens := make([]string, len(ms))
	for i, m := range ms {
		if tokens[i], err = auth.MintHS256(e.cfg.JWTSecret, m.AuthUserID, e.cfg.JWTAudience, 6*time.Hour); err != nil {
			return uuid.Nil, nil, err
		}
	}
	return c.ID, tokens, nil
}

// close stops the server, deletes the bench's tenants from a shared
// database, closes the pools and removes the throwaway cluster.
func (e *env) close() error {
	var errs []error
	if e.stopServer != nil {
		errs = append(errs, e.stopServer())
	}
	if e.client != nil {
		e.client.CloseIdleConnections()
	}
	if e.cluster == nil && e.rawPool != nil && len(e.tenants) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		// Every synced table references contractors ON DELETE CASCADE.
		_, err := e.rawPool.Exec(ctx, `DELETE FROM contractors WHERE id = ANY($1)`, e.tenants)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("bench: delete the bench's tenants: %w", err))
		}
	}
	if e.rawPool != nil {
		e.rawPool.Close()
	}
	if e.serverPool != nil {
		e.serverPool.Close()
	}
	if e.cluster != nil {
		errs = append(errs, e.cluster.Remove())
	}
	return errors.Join(errs...)
}

// errorTap drops the server's log lines except errors, which go to w: request
// logs are still formatted (their cost is part of the server's), not printed.
type errorTap struct {
	mu    sync.Mutex
	w     io.Writer
	n     int
	quiet <-chan struct{} // closed: drop everything
}

const maxErrorLines = 20

func (t *errorTap) Write(b []byte) (int, error) {
	select {
	case <-t.quiet:
		return len(b), nil
	default:
	}
	if bytes.Contains(b, []byte(`"level":"ERROR"`)) {
		t.mu.Lock()
		defer t.mu.Unlock()
		if t.n < maxErrorLines {
			t.w.Write(append([]byte("server: "), b...)) //nolint:errcheck // best effort
		}
		t.n++
	}
	return len(b), nil
}
