// Package config reads the server's environment once, at start, into a typed
// struct, and says which variable is wrong when one is.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/syncproxy/syncproxy/server/auth"
)

// Config is everything the server can be told from outside.
type Config struct {
	DatabaseURL      string        // DATABASE_URL
	Addr             string        // SYNC_ADDR
	JWTSecret        []byte        // SYNC_JWT_SECRET (HS256); empty: HS256 off
	JWKSURL          string        // SYNC_JWKS_URL (RS256/ES256); empty: JWKS off
	JWKSRefresh      time.Duration // SYNC_JWKS_REFRESH
	JWKSMinRefetch   time.Duration // SYNC_JWKS_MIN_REFETCH
	JWKSFetchTimeout time.Duration // SYNC_JWKS_FETCH_TIMEOUT
	JWTAudience      string        // SYNC_JWT_AUDIENCE
	MaxBodyBytes     int64         // SYNC_MAX_BODY_BYTES
	MaxPushRows      int           // SYNC_MAX_PUSH_ROWS
	MaxJSONBytes     int           // SYNC_MAX_JSON_VALUE_BYTES
	MaxPageBytes     int           // SYNC_MAX_PAGE_BYTES
	RateLimit        float64       // SYNC_RATE_LIMIT, requests/s per contractor; 0: off
	RateBurst        int           // SYNC_RATE_BURST
	RateBytes        int64         // SYNC_RATE_LIMIT_BYTES_PER_TOKEN
	MaxHeaderBytes   int           // SYNC_MAX_HEADER_BYTES
	MaxConnections   int           // SYNC_MAX_CONNECTIONS
	// MaxPushBytes and MaxPushBytesPerContractor are
	// SYNC_MAX_PUSH_BYTES_IN_FLIGHT and
	// SYNC_MAX_PUSH_BYTES_IN_FLIGHT_PER_CONTRACTOR.
	MaxPushBytes              int64
	MaxPushBytesPerContractor int64
	IdempotencyTTL            time.Duration // SYNC_IDEMPOTENCY_TTL
	IdempotencyPurge          time.Duration // SYNC_IDEMPOTENCY_PURGE_INTERVAL
	TombstoneKeep             time.Duration // SYNC_TOMBSTONE_RETENTION
	TombstonePurge            time.Duration // SYNC_TOMBSTONE_PURGE_INTERVAL
	RequestTimeout            time.Duration // SYNC_REQUEST_TIMEOUT
	ReadTimeout               time.Duration // SYNC_READ_TIMEOUT
	WriteTimeout              time.Duration // SYNC_WRITE_TIMEOUT
	StatementTimeout          time.Duration // SYNC_STATEMENT_TIMEOUT
	DBConnectTimeout          time.Duration // SYNC_DB_CONNECT_TIMEOUT
	DBMaxConns                int32         // SYNC_DB_MAX_CONNS
	LogLevel                  slog.Level    // SYNC_LOG_LEVEL
	// ReplicaURLs are SYNC_REPLICA_DATABASE_URLS: streaming replicas that
	// may serve pulls and digests (server/replica).
	ReplicaURLs       []string
	ReplicaMaxLag     time.Duration // SYNC_REPLICA_MAX_LAG
	ReplicaProbe      time.Duration // SYNC_REPLICA_PROBE_INTERVAL
	RateShareInterval time.Duration // SYNC_RATE_LIMIT_SHARE_INTERVAL

	OpsAddr  string // SYNC_OPS_ADDR; "": no ops page
	OpsToken string // SYNC_OPS_TOKEN

	DevicesFlush      time.Duration // SYNC_DEVICES_FLUSH_INTERVAL
	DevicesMaxPending int           // SYNC_DEVICES_MAX_PENDING; 0: the device ledger is off
	// Live pulls (contract 1.2, server/live).
	MaxPullWait      int           // SYNC_MAX_PULL_WAIT, seconds
	ListenURL        string        // SYNC_LISTEN_DATABASE_URL; empty: the clock is polled
	LivePollInterval time.Duration // SYNC_LIVE_POLL_INTERVAL

	// DBExecMode is SYNC_DB_EXEC_MODE: the mode every connection uses, or,
	// with DBExecAuto, the one a connection uses until it is proven direct.
	DBExecMode pgx.QueryExecMode
	// DBExecAuto is SYNC_DB_EXEC_MODE=auto (the default): each connection
	// that is proven to reach Postgres itself, not a pooler, caches its
	// prepared statements (cache_statement); the others use DBExecMode
	// (exec). See server.PoolConfig.
	DBExecAuto bool
}

// Defaults of the limits; Vars documents them.
const (
	DefaultRateLimit = 50
	DefaultRateBurst = 100
	// DefaultRateBytes is what one token of the rate limit buys besides the
	// request itself: a full pull of 4.2 MB costs 17 tokens, so one tenant's
	// pulls in a loop (30 a second stayed under 50 requests a second, and
	// another tenant's pull went from 3.6 ms to 1.7 s) get 429s after a few,
	// while a device's first full pull fits in the burst.
	DefaultRateBytes = 256 << 10
	// DefaultMaxHeaderBytes holds a bearer token many times over; net/http's
	// own default is 1 MiB per connection, which 250 slow connections
	// turned into 436 MiB.
	DefaultMaxHeaderBytes = 64 << 10
	// DefaultMaxConnections: at 64 KiB of headers and a few KiB of buffers
	// and stack each, about 80 MiB at most; the 200-device bench needs 216.
	DefaultMaxConnections = 1024
	// DefaultDBExecMode is auto: each connection proven direct caches its
	// prepared statements, since Postgres then parses and plans each
	// statement once per connection (1.5× the requests/s of exec on 2 cores,
	// internal/bench's modes phase); every other connection uses exec, which
	// prepares no named statement, so it works behind a transaction-mode
	// pooler, where the next statement may run on another server connection
	// than the one that prepared it, and sends each statement in one message
	// sequence, so pgtx's statement timeout covers its parsing too.
	DefaultDBExecMode = ExecModeAuto
	// ExecModeAuto is SYNC_DB_EXEC_MODE's value that chooses per connection.
	ExecModeAuto = "auto"
	// autoFallback is the mode of a connection auto does not prove direct.
	autoFallback = "exec"
	// DefaultMaxPullWait is the longest a live pull may be held, in
	// seconds: under SYNC_WRITE_TIMEOUT's default, and short enough that a
	// proxy in between (whose idle timeouts are often 60 s) keeps it open.
	DefaultMaxPullWait = 30
	// maxPullWaitCeiling is the spec's maximum of `wait`.
	maxPullWaitCeiling = 3600
)

// execModes are pgx's names of its query exec modes, as DATABASE_URL's
// default_query_exec_mode takes them.
var execModes = map[string]pgx.QueryExecMode{
	"cache_statement": pgx.QueryExecModeCacheStatement,
	"cache_describe":  pgx.QueryExecModeCacheDescribe,
	"describe_exec":   pgx.QueryExecModeDescribeExec,
	"exec":            pgx.QueryExecModeExec,
	"simple_protocol": pgx.QueryExecModeSimpleProtocol,
}

// Var documents one environment variable; the README's table is this list.
type Var struct {
	Name, Default, Meaning string
}

// Vars lists every variable Load reads.
var Vars = []Var{
	{"DATABASE_URL", "(required for serve)", "Postgres connection URL"},
	{"SYNC_ADDR", "127.0.0.1:8080", "listen address"},
	{"SYNC_JWT_SECRET", "(this or SYNC_JWKS_URL)", "HS256 secret shared with the identity provider (>= 16 bytes); empty: HS256 off"},
	{"SYNC_JWKS_URL", "(this or SYNC_JWT_SECRET)", "JWKS URL of the identity provider for RS256/ES256 tokens; empty: off. Both may be set"},
	{"SYNC_JWKS_REFRESH", "1h", "how often the JWKS is refetched in the background"},
	{"SYNC_JWKS_MIN_REFETCH", "10s", "least time between JWKS fetches caused by tokens with an unknown kid"},
	{"SYNC_JWKS_FETCH_TIMEOUT", "5s", "deadline of one JWKS fetch"},
	{"SYNC_JWT_AUDIENCE", auth.DefaultAudience, "required `aud` claim"},
	{"SYNC_MAX_BODY_BYTES", "8388608", "largest request body (413 above)"},
	{"SYNC_MAX_PUSH_ROWS", "10000", "most rows (upserts + deletes) in one push (413 above, found by counting before rows are validated)"},
	{"SYNC_MAX_JSON_VALUE_BYTES", "1048576", "largest value of a JSON column (line_items, payload, ...) in a push, encoded (400 above; nesting is limited to 32 levels)"},
	{"SYNC_MAX_PAGE_BYTES", "8388608", "bytes of rows in one pull page: a page ends early with hasMore (it always carries at least one row)"},
	{"SYNC_RATE_LIMIT", strconv.Itoa(DefaultRateLimit), "requests per second per contractor, and per auth user, on every /api/sync route (token bucket, charged by cost, see SYNC_RATE_LIMIT_BYTES_PER_TOKEN; 429 with Retry-After above); 0: off"},
	{"SYNC_RATE_BURST", strconv.Itoa(DefaultRateBurst), "requests a contractor may send at once above SYNC_RATE_LIMIT"},
	{"SYNC_RATE_LIMIT_BYTES_PER_TOKEN", strconv.Itoa(DefaultRateBytes), "the rate limit weighs cost: a request takes one token, plus one per this many bytes of body it read or wrote (a 4 MB full pull: 17 tokens)"},
	{"SYNC_MAX_HEADER_BYTES", strconv.Itoa(DefaultMaxHeaderBytes), "bytes of request line and headers the server reads (431 HEADERS_TOO_LARGE above)"},
	{"SYNC_MAX_CONNECTIONS", strconv.Itoa(DefaultMaxConnections), "open connections; above, a new connection waits in the accept queue until one closes"},
	{"SYNC_MAX_PUSH_BYTES_IN_FLIGHT", "(8 × SYNC_MAX_BODY_BYTES)", "bytes of push bodies being read and applied at once, in all (503 with Retry-After above); a body of unknown length (chunked, gzip) counts as SYNC_MAX_BODY_BYTES"},
	{"SYNC_MAX_PUSH_BYTES_IN_FLIGHT_PER_CONTRACTOR", "(2 × SYNC_MAX_BODY_BYTES)", "the same, for one contractor (429 with Retry-After above); at least SYNC_MAX_BODY_BYTES"},
	{"SYNC_IDEMPOTENCY_TTL", "24h", "how long an Idempotency-Key is remembered"},
	{"SYNC_IDEMPOTENCY_PURGE_INTERVAL", "10m", "how often expired Idempotency-Keys are deleted"},
	{"SYNC_TOMBSTONE_RETENTION", "2160h", "how long deletions are kept for delta pulls (90 days); a cursor or since older than a purged one gets 410 RESYNC_REQUIRED"},
	{"SYNC_TOMBSTONE_PURGE_INTERVAL", "1h", "how often tombstones older than SYNC_TOMBSTONE_RETENTION are purged (each purge waits SYNC_REQUEST_TIMEOUT between marking and deleting)"},
	{"SYNC_REQUEST_TIMEOUT", "30s", "deadline of one request's database work, tenant lookup included (503 after)"},
	{"SYNC_READ_TIMEOUT", "30s", "HTTP server read timeout"},
	{"SYNC_WRITE_TIMEOUT", "60s", "HTTP server write timeout"},
	{"SYNC_STATEMENT_TIMEOUT", "15s", "Postgres statement_timeout of every statement the server runs, set per transaction, so it holds behind a transaction pooler"},
	{"SYNC_DB_CONNECT_TIMEOUT", "3s", "deadline of one new Postgres connection (unless DATABASE_URL sets connect_timeout)"},
	{"SYNC_DB_MAX_CONNS", "10", "connection pool size"},
	{"SYNC_DB_EXEC_MODE", DefaultDBExecMode, "how statements are sent (pgx's query exec mode): `auto` caches prepared statements on each connection proven direct (the backend's pid equals the cancel key's) and uses `exec` on the others; `exec` works behind any pooler; `cache_statement` (named prepared statements) breaks behind a transaction pooler (see Production behind a pooler); DATABASE_URL's default_query_exec_mode wins"},
	{"SYNC_LOG_LEVEL", "info", "debug, info, warn or error"},
	{"SYNC_REPLICA_DATABASE_URLS", "(none)", "comma-separated Postgres URLs of streaming replicas (hot standbys) of DATABASE_URL: pull pages and digests are read there when the replica has replayed what the device's cursor needs, else on the primary (see Replicas in the README)"},
	{"SYNC_REPLICA_MAX_LAG", "5s", "replay lag past which a replica serves no reads (measured by a background probe against the primary's WAL position); a read on a replica taking longer is served by the primary"},
	{"SYNC_REPLICA_PROBE_INTERVAL", "1s", "how often each replica's lag is measured; a replica that failed is tried again after the next probe finds it healthy"},
	{"SYNC_OPS_ADDR", "(off)", "listen address of the ops page (tenants, devices and their lag, recent errors, purges, rate limiting; server-rendered HTML), on a listener of its own; empty: no ops page. `syncproxy dev` turns it on"},
	{"SYNC_OPS_TOKEN", "(required with SYNC_OPS_ADDR)", "the ops page's own secret (>= 16 bytes): `Authorization: Bearer <token>`, or open `/?token=<token>` once in a browser (it sets a cookie and redirects); an app's JWT never opens it"},
	{"SYNC_DEVICES_FLUSH_INTERVAL", "1s", "how often the device ledger (GET /api/sync/devices) is written from memory, one statement per contractor; a crash loses at most this much of it"},
	{"SYNC_DEVICES_MAX_PENDING", "50000", "devices (contractor and X-Device-Id) the ledger holds in memory between flushes; past it, requests of further devices are not recorded (syncproxy_devices_dropped_total). 0: the ledger is off"},
	{"SYNC_MAX_PULL_WAIT", strconv.Itoa(DefaultMaxPullWait), "longest `wait` of a live pull, in seconds (1 to 3600; more is a 400 naming `wait`); a held pull holds no database connection"},
	{"SYNC_LISTEN_DATABASE_URL", "(none)", "a direct (not pooled) Postgres URL of the DATABASE_URL database on which each instance LISTENs for pushes of the other instances (one connection); empty: each instance polls the clock table instead (see Live pulls in the README)"},
	{"SYNC_LIVE_POLL_INTERVAL", "50ms", "without SYNC_LISTEN_DATABASE_URL, how often an instance reads the clocks of the contractors it holds pulls of (one statement; none while it holds none)"},
	{"SYNC_RATE_LIMIT_SHARE_INTERVAL", "1s", "how often an instance adds its per-contractor spend to the shared table and debits the other instances' (one statement): a contractor's budget is one across instances, within the slack the README states"},
}

// Load reads the environment through getenv (os.Getenv in production).
func Load(getenv func(string) string) (Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	r := reader{getenv: getenv}
	c := Config{
		DatabaseURL:       r.str("DATABASE_URL", ""),
		Addr:              r.str("SYNC_ADDR", "127.0.0.1:8080"),
		JWTSecret:         []byte(r.str("SYNC_JWT_SECRET", "")),
		JWKSURL:           r.str("SYNC_JWKS_URL", ""),
		JWKSRefresh:       r.duration("SYNC_JWKS_REFRESH", auth.DefaultJWKSRefresh),
		JWKSMinRefetch:    r.duration("SYNC_JWKS_MIN_REFETCH", auth.DefaultJWKSMinRefetch),
		JWKSFetchTimeout:  r.duration("SYNC_JWKS_FETCH_TIMEOUT", auth.DefaultJWKSFetchTimeout),
		JWTAudience:       r.str("SYNC_JWT_AUDIENCE", auth.DefaultAudience),
		MaxBodyBytes:      r.int64("SYNC_MAX_BODY_BYTES", 8<<20),
		MaxPushRows:       int(r.int64("SYNC_MAX_PUSH_ROWS", 10000)),
		MaxJSONBytes:      int(r.int64("SYNC_MAX_JSON_VALUE_BYTES", 1<<20)),
		MaxPageBytes:      int(r.int64("SYNC_MAX_PAGE_BYTES", 8<<20)),
		RateLimit:         r.float("SYNC_RATE_LIMIT", DefaultRateLimit),
		RateBurst:         int(r.int64("SYNC_RATE_BURST", DefaultRateBurst)),
		RateBytes:         r.int64("SYNC_RATE_LIMIT_BYTES_PER_TOKEN", DefaultRateBytes),
		MaxHeaderBytes:    int(r.int64("SYNC_MAX_HEADER_BYTES", DefaultMaxHeaderBytes)),
		MaxConnections:    int(r.int64("SYNC_MAX_CONNECTIONS", DefaultMaxConnections)),
		IdempotencyTTL:    r.duration("SYNC_IDEMPOTENCY_TTL", 24*time.Hour),
		IdempotencyPurge:  r.duration("SYNC_IDEMPOTENCY_PURGE_INTERVAL", 10*time.Minute),
		TombstoneKeep:     r.duration("SYNC_TOMBSTONE_RETENTION", 2160*time.Hour),
		TombstonePurge:    r.duration("SYNC_TOMBSTONE_PURGE_INTERVAL", time.Hour),
		RequestTimeout:    r.duration("SYNC_REQUEST_TIMEOUT", 30*time.Second),
		ReadTimeout:       r.duration("SYNC_READ_TIMEOUT", 30*time.Second),
		WriteTimeout:      r.duration("SYNC_WRITE_TIMEOUT", 60*time.Second),
		StatementTimeout:  r.duration("SYNC_STATEMENT_TIMEOUT", 15*time.Second),
		DBConnectTimeout:  r.duration("SYNC_DB_CONNECT_TIMEOUT", 3*time.Second),
		DBMaxConns:        int32(r.int64("SYNC_DB_MAX_CONNS", 10)),
		DBExecAuto:        r.str("SYNC_DB_EXEC_MODE", DefaultDBExecMode) == ExecModeAuto,
		DBExecMode:        r.execMode("SYNC_DB_EXEC_MODE", DefaultDBExecMode),
		LogLevel:          r.level("SYNC_LOG_LEVEL", slog.LevelInfo),
		ReplicaURLs:       r.list("SYNC_REPLICA_DATABASE_URLS"),
		ReplicaMaxLag:     r.duration("SYNC_REPLICA_MAX_LAG", 5*time.Second),
		ReplicaProbe:      r.duration("SYNC_REPLICA_PROBE_INTERVAL", time.Second),
		RateShareInterval: r.duration("SYNC_RATE_LIMIT_SHARE_INTERVAL", time.Second),
		OpsAddr:           r.str("SYNC_OPS_ADDR", ""),
		OpsToken:          r.str("SYNC_OPS_TOKEN", ""),
		DevicesFlush:      r.duration("SYNC_DEVICES_FLUSH_INTERVAL", time.Second),
		DevicesMaxPending: int(r.int64("SYNC_DEVICES_MAX_PENDING", 50000)),
		MaxPullWait:       int(r.int64("SYNC_MAX_PULL_WAIT", DefaultMaxPullWait)),
		ListenURL:         r.str("SYNC_LISTEN_DATABASE_URL", ""),
		LivePollInterval:  r.duration("SYNC_LIVE_POLL_INTERVAL", 50*time.Millisecond),
	}
	if c.MaxPullWait < 1 || c.MaxPullWait > maxPullWaitCeiling {
		r.fail("SYNC_MAX_PULL_WAIT", fmt.Sprintf("must be a whole number of seconds from 1 to %d", maxPullWaitCeiling))
	}
	if c.ListenURL != "" {
		// The value is not echoed: a URL carries a password.
		if _, err := pgx.ParseConfig(c.ListenURL); err != nil {
			r.fail("SYNC_LISTEN_DATABASE_URL", "must be a Postgres URL (postgres://user:password@host:port/db) reaching the database directly, not through a transaction pooler")
		}
	}
	for i, u := range c.ReplicaURLs {
		// The value is not echoed: a URL carries a password.
		if _, err := pgx.ParseConfig(u); err != nil || u == c.DatabaseURL {
			r.fail("SYNC_REPLICA_DATABASE_URLS", fmt.Sprintf("item %d must be a Postgres URL of a streaming replica (postgres://user:password@host:port/db), not DATABASE_URL itself", i+1))
		}
	}
	switch {
	case len(c.JWTSecret) == 0 && c.JWKSURL == "":
		r.fail("SYNC_JWT_SECRET", "or SYNC_JWKS_URL is required (the HS256 secret or the JWKS URL of your identity provider)")
	case len(c.JWTSecret) > 0 && len(c.JWTSecret) < 16:
		r.fail("SYNC_JWT_SECRET", "must be at least 16 bytes")
	}
	if c.JWKSURL != "" {
		// The value is not echoed: a JWKS URL may carry an API key.
		if u, err := url.Parse(c.JWKSURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			r.fail("SYNC_JWKS_URL", "must be an absolute http(s) URL like https://idp.example.com/.well-known/jwks.json")
		}
	}
	if c.RateLimit < 0 {
		r.fail("SYNC_RATE_LIMIT", "must be 0 (off) or a positive number of requests per second")
	}
	if c.RateBurst < 1 {
		r.fail("SYNC_RATE_BURST", "must be at least 1")
	}
	if c.MaxBodyBytes < 1024 {
		r.fail("SYNC_MAX_BODY_BYTES", "must be at least 1024")
	}
	// Derived from the body limit unless set: room for 2 of the largest
	// pushes of one contractor, 8 in all. A push holds about three times its
	// body (the body, its merged rows, the statement's parameters), so 8 ×
	// 8 MiB in flight stays under 256 MiB.
	c.MaxPushBytesPerContractor = r.int64("SYNC_MAX_PUSH_BYTES_IN_FLIGHT_PER_CONTRACTOR", 2*c.MaxBodyBytes)
	c.MaxPushBytes = r.int64("SYNC_MAX_PUSH_BYTES_IN_FLIGHT", 8*c.MaxBodyBytes)
	if c.MaxPushBytesPerContractor < c.MaxBodyBytes {
		r.fail("SYNC_MAX_PUSH_BYTES_IN_FLIGHT_PER_CONTRACTOR", fmt.Sprintf("must be at least SYNC_MAX_BODY_BYTES (%d): the largest push must fit", c.MaxBodyBytes))
	}
	if c.MaxPushBytes < c.MaxPushBytesPerContractor {
		r.fail("SYNC_MAX_PUSH_BYTES_IN_FLIGHT", fmt.Sprintf("must be at least SYNC_MAX_PUSH_BYTES_IN_FLIGHT_PER_CONTRACTOR (%d)", c.MaxPushBytesPerContractor))
	}
	if c.RateBytes < 1024 {
		r.fail("SYNC_RATE_LIMIT_BYTES_PER_TOKEN", "must be at least 1024")
	}
	if c.MaxHeaderBytes < 4096 {
		r.fail("SYNC_MAX_HEADER_BYTES", "must be at least 4096 (a bearer token alone may take 2 KiB)")
	}
	if c.MaxConnections < 1 {
		r.fail("SYNC_MAX_CONNECTIONS", "must be at least 1")
	}
	if c.MaxPushRows < 1 {
		r.fail("SYNC_MAX_PUSH_ROWS", "must be at least 1")
	}
	if c.MaxJSONBytes < 1024 {
		r.fail("SYNC_MAX_JSON_VALUE_BYTES", "must be at least 1024")
	}
	if c.MaxPageBytes < 1024 {
		r.fail("SYNC_MAX_PAGE_BYTES", "must be at least 1024")
	}
	if c.OpsAddr != "" && len(c.OpsToken) < 16 {
		// Not echoed: it is a secret.
		r.fail("SYNC_OPS_TOKEN", "must be set (at least 16 bytes) when SYNC_OPS_ADDR is: the ops page shows every tenant")
	}
	if c.DevicesFlush <= 0 {
		r.fail("SYNC_DEVICES_FLUSH_INTERVAL", "must be a positive duration like 1s")
	}
	if c.DevicesMaxPending < 0 {
		r.fail("SYNC_DEVICES_MAX_PENDING", "must be 0 (the device ledger off) or a positive number of devices")
	}
	if c.DBMaxConns < 1 {
		r.fail("SYNC_DB_MAX_CONNS", "must be at least 1")
	}
	return c, errors.Join(r.errs...)
}

type reader struct {
	getenv func(string) string
	errs   []error
}

func (r *reader) fail(name, msg string) {
	r.errs = append(r.errs, fmt.Errorf("config: %s %s", name, msg))
}

func (r *reader) str(name, def string) string {
	if v := strings.TrimSpace(r.getenv(name)); v != "" {
		return v
	}
	return def
}

// list is a comma-separated value, its items trimmed, empty ones dropped.
func (r *reader) list(name string) []string {
	var out []string
	for _, item := range strings.Split(r.getenv(name), ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

func (r *reader) int64(name string, def int64) int64 {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		r.fail(name, fmt.Sprintf("must be an integer, got %q", v))
		return def
	}
	return n
}

func (r *reader) float(name string, def float64) float64 {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		r.fail(name, fmt.Sprintf("must be a number, got %q", v))
		return def
	}
	return f
}

func (r *reader) duration(name string, def time.Duration) time.Duration {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		r.fail(name, fmt.Sprintf("must be a positive duration like 30s, got %q", v))
		return def
	}
	return d
}

// execMode is the mode a connection uses; for auto, the one it uses until
// it is proven direct.
func (r *reader) execMode(name, def string) pgx.QueryExecMode {
	v := r.str(name, def)
	if v == ExecModeAuto {
		return execModes[autoFallback]
	}
	m, ok := execModes[v]
	if !ok {
		r.fail(name, fmt.Sprintf("must be auto, cache_describe, exec, simple_protocol, cache_statement or describe_exec, got %q", v))
		return execModes[autoFallback]
	}
	return m
}

func (r *reader) level(name string, def slog.Level) slog.Level {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(v)); err != nil {
		r.fail(name, fmt.Sprintf("must be debug, info, warn or error, got %q", v))
		return def
	}
	return l
}
