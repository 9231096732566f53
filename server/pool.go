package server

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/syncproxy/syncproxy/server/config"
	"github.com/syncproxy/syncproxy/server/pgtx"
)

// OpenPool connects to cfg.DatabaseURL with a bounded pool and a connect
// timeout, so an unreachable database fails requests fast (503) instead of
// holding them until the request deadline. It works the same on a direct
// connection and behind a transaction-mode pooler (PgBouncer, Supavisor):
// named prepared statements only on connections proven direct (auto, the
// default; see autoExecMode) or when SYNC_DB_EXEC_MODE asks for them, no
// session state, no startup parameter a pooler refuses; the statement
// timeout is applied per transaction by pgtx.
func OpenPool(ctx context.Context, cfg config.Config) (*pgtx.Pool, error) {
	pc, err := PoolConfig(cfg)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("open pool: %w", err)
	}
	return pgtx.New(pool, pgtx.Settings{StatementTimeout: cfg.StatementTimeout}), nil
}

// PoolConfig is OpenPool's pgxpool configuration, for callers that add to it
// (a tracer in tests) before they wrap the pool with pgtx.New.
func PoolConfig(cfg config.Config) (*pgxpool.Config, error) {
	pc, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err) // pgx redacts the password
	}
	pc.MaxConns = cfg.DBMaxConns
	if pc.ConnConfig.ConnectTimeout == 0 && cfg.DBConnectTimeout > 0 { // connect_timeout in the URL wins
		pc.ConnConfig.ConnectTimeout = cfg.DBConnectTimeout
	}
	pc.AfterConnect = registerTypes
	if !strings.Contains(cfg.DatabaseURL, "default_query_exec_mode") { // pgx's own URL parameter wins, as connect_timeout does
		pc.ConnConfig.DefaultQueryExecMode = cfg.DBExecMode
		if cfg.DBExecAuto {
			auto := &autoExecMode{fallback: cfg.DBExecMode, session: pgtx.Settings{StatementTimeout: cfg.StatementTimeout}}
			pc.BeforeConnect = auto.beforeConnect
			pc.AfterConnect = func(ctx context.Context, conn *pgx.Conn) error {
				if err := auto.afterConnect(ctx, conn); err != nil {
					return err
				}
				return registerTypes(ctx, conn)
			}
		}
	}
	// application_name is the one startup parameter kept: PgBouncer and
	// Supavisor pass it on. Anything else (statement_timeout, search_path)
	// would be refused by the pooler or lost with the server connection.
	pc.ConnConfig.RuntimeParams["application_name"] = "syncproxy"
	return pc, nil
}

// registerTypes tells pgx the Postgres types of Go values it cannot infer.
// Modes that describe statements first learn them from Postgres; exec and
// simple_protocol infer them from the Go value, and fail on these without a
// registration (e.g. "unable to encode []uuid.UUID into text format for
// unknown type (OID 0)" on the deletes' ANY(@ids::uuid[])). It only touches
// pgx's client-side type map: nothing is sent to the server.
func registerTypes(_ context.Context, conn *pgx.Conn) error {
	tm := conn.TypeMap()
	tm.RegisterDefaultPgType([]uuid.UUID{}, "_uuid")
	return nil
}

// poolCollector exposes the pool's gauges at /metrics.
type poolCollector struct {
	pool                       *pgxpool.Pool
	total, idle, acquired, max *prometheus.Desc
}

func newPoolCollector(pool *pgxpool.Pool) *poolCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("syncproxy_db_pool_"+name, help, nil, nil)
	}
	return &poolCollector{pool: pool,
		total:    d("connections", "Open connections."),
		idle:     d("idle_connections", "Idle connections."),
		acquired: d("acquired_connections", "Connections in use."),
		max:      d("max_connections", "Pool size limit."),
	}
}

func (p *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- p.total
	ch <- p.idle
	ch <- p.acquired
	ch <- p.max
}

func (p *poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := p.pool.Stat()
	ch <- prometheus.MustNewConstMetric(p.total, prometheus.GaugeValue, float64(s.TotalConns()))
	ch <- prometheus.MustNewConstMetric(p.idle, prometheus.GaugeValue, float64(s.IdleConns()))
	ch <- prometheus.MustNewConstMetric(p.acquired, prometheus.GaugeValue, float64(s.AcquiredConns()))
	ch <- prometheus.MustNewConstMetric(p.max, prometheus.GaugeValue, float64(s.MaxConns()))
}
