// Package testenv holds the pieces the device harness (internal/devicetest)
// and the bench build on: a throwaway PostgreSQL cluster, a configuration
// from environment variables, the real handler, a log to inspect, tenants
// and their tokens, the generated client checked against the spec. It is
// for tests and benchmarks only; it lives outside _test files because test
// binaries of several packages import it.
package testenv

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/syncproxy/syncproxy/internal/pgcluster"
	"github.com/syncproxy/syncproxy/server"
	"github.com/syncproxy/syncproxy/server/auth"
	"github.com/syncproxy/syncproxy/server/config"
	"github.com/syncproxy/syncproxy/server/pgtx"
	"github.com/syncproxy/syncproxy/server/tenant"
)

// StartCluster starts a throwaway cluster with one empty database; the caller
// removes it. Its log goes to stderr, so that a cluster that fails to start
// explains why in the test output.
func StartCluster(ctx context.Context, database string) (*pgcluster.Cluster, error) {
	cluster, err := pgcluster.StartTemp(ctx, os.Stderr)
	if err != nil {
		return nil, err
	}
	if err := cluster.CreateDatabase(ctx, database); err != nil {
		cluster.Remove()
		return nil, err
	}
	return cluster, nil
}

// PoolerEnv, set to 1 (make test-pooler does), makes DatabaseURL put a
// PgBouncer in transaction mode between the harness's server and Postgres, so
// the same black-box suite runs behind a production-like pooler.
const PoolerEnv = "SYNC_TEST_POOLER"

// Pooled reports whether PoolerEnv asks for the pooler.
func Pooled() bool { return os.Getenv(PoolerEnv) == "1" }

// DatabaseURL is where a harness's server connects to database: the cluster
// itself, or, when Pooled, a PgBouncer in transaction mode in front of it,
// which stop ends (stop is a no-op otherwise). A missing pgbouncer is an
// error when Pooled: the pooled suite must never quietly run direct.
func DatabaseURL(ctx context.Context, cluster *pgcluster.Cluster, database string) (url string, stop func(), err error) {
	if !Pooled() {
		return cluster.URL(database), func() {}, nil
	}
	b, err := pgcluster.StartBouncer(ctx, cluster, pgcluster.BouncerOptions{Log: os.Stderr})
	if err != nil {
		return "", nil, fmt.Errorf("%s=1 asks for the suite behind PgBouncer: %w", PoolerEnv, err)
	}
	return b.URL(database), func() {
		if err := b.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "testenv:", err)
		}
	}, nil
}

// Config loads a configuration as if vars were the whole environment, with
// each map of overrides applied over it in turn; the maps are not modified.
// Nothing leaks in from the real environment, so a developer's SYNC_*
// settings cannot change what a test sees.
func Config(vars map[string]string, overrides ...map[string]string) (config.Config, error) {
	all := make(map[string]string, len(vars))
	for k, v := range vars {
		all[k] = v
	}
	for _, o := range overrides {
		for k, v := range o {
			all[k] = v
		}
	}
	return config.Load(func(name string) string { return all[name] })
}

// NewHandler is the production handler for cfg, verifying HS256 tokens signed
// with cfg's secret, so tokens from Token are accepted.
func NewHandler(cfg config.Config, pool *pgtx.Pool, logger *slog.Logger, opts ...server.Option) (http.Handler, error) {
	verifier, err := auth.NewHS256(cfg.JWTSecret, cfg.JWTAudience)
	if err != nil {
		return nil, err
	}
	return server.New(cfg, pool, verifier, logger, opts...)
}

// LogBuffer holds a log that the server's handlers write from many goroutines
// while a test reads it.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Logger writes JSON lines, the production format, so tests read what an
// operator would.
func (b *LogBuffer) Logger(level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: level}))
}

func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Tail returns the last n lines: enough context for a failure message without
// burying it under the whole run's log.
func (b *LogBuffer) Tail(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	lines := strings.Split(strings.TrimRight(b.buf.String(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// NewTenant provisions a contractor named name with a fresh owner, so that
// every test has a tenant no other test touches.
func NewTenant(ctx context.Context, pool *pgtx.Pool, name string) (contractorID, ownerID uuid.UUID, err error) {
	owner := uuid.New()
	c, err := tenant.Create(ctx, pool, tenant.NewContractor{
		Name: name, Members: []tenant.Member{{AuthUserID: owner, Role: "owner"}},
	})
	if err != nil {
		return uuid.Nil, uuid.Nil, err
	}
	return c.ID, owner, nil
}

// Token signs an HS256 token for user with the default audience, valid for an
// hour: longer than any test runs, so none sees it expire.
func Token(secret string, user uuid.UUID) (string, error) {
	return auth.MintHS256([]byte(secret), user, "", time.Hour)
}
