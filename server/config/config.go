// Package config reads the server's environment once, at start, into a typed
// struct, and says which variable is wrong when one is.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/syncproxy/syncproxy/server/auth"
)

// Config is everything the server can be told from outside.
type Config struct {
	DatabaseURL      string        // DATABASE_URL
	Addr             string        // SYNC_ADDR
	JWTSecret        []byte        // SYNC_JWT_SECRET (HS256)
	JWTAudience      string        // SYNC_JWT_AUDIENCE
	MaxBodyBytes     int64         // SYNC_MAX_BODY_BYTES
	MaxPushRows      int           // SYNC_MAX_PUSH_ROWS
	IdempotencyTTL   time.Duration // SYNC_IDEMPOTENCY_TTL
	RequestTimeout   time.Duration // SYNC_REQUEST_TIMEOUT
	ReadTimeout      time.Duration // SYNC_READ_TIMEOUT
	WriteTimeout     time.Duration // SYNC_WRITE_TIMEOUT
	StatementTimeout time.Duration // SYNC_STATEMENT_TIMEOUT
	DBMaxConns       int32         // SYNC_DB_MAX_CONNS
	LogLevel         slog.Level    // SYNC_LOG_LEVEL
}

// Var documents one environment variable; the README's table is this list.
type Var struct {
	Name, Default, Meaning string
}

// Vars lists every variable Load reads.
var Vars = []Var{
	{"DATABASE_URL", "(required for serve)", "Postgres connection URL"},
	{"SYNC_ADDR", "127.0.0.1:8080", "listen address"},
	{"SYNC_JWT_SECRET", "(required)", "HS256 secret shared with the identity provider (>= 16 bytes)"},
	{"SYNC_JWT_AUDIENCE", auth.DefaultAudience, "required `aud` claim"},
	{"SYNC_MAX_BODY_BYTES", "8388608", "largest request body (413 above)"},
	{"SYNC_MAX_PUSH_ROWS", "10000", "most rows (upserts + deletes) in one push (413 above)"},
	{"SYNC_IDEMPOTENCY_TTL", "24h", "how long an Idempotency-Key is remembered"},
	{"SYNC_REQUEST_TIMEOUT", "30s", "deadline of one request's database work (503 after)"},
	{"SYNC_READ_TIMEOUT", "30s", "HTTP server read timeout"},
	{"SYNC_WRITE_TIMEOUT", "60s", "HTTP server write timeout"},
	{"SYNC_STATEMENT_TIMEOUT", "15s", "Postgres statement_timeout of the server's connections"},
	{"SYNC_DB_MAX_CONNS", "10", "connection pool size"},
	{"SYNC_LOG_LEVEL", "info", "debug, info, warn or error"},
}

// Load reads the environment through getenv (os.Getenv in production).
func Load(getenv func(string) string) (Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	r := reader{getenv: getenv}
	c := Config{
		DatabaseURL:      r.str("DATABASE_URL", ""),
		Addr:             r.str("SYNC_ADDR", "127.0.0.1:8080"),
		JWTSecret:        []byte(r.str("SYNC_JWT_SECRET", "")),
		JWTAudience:      r.str("SYNC_JWT_AUDIENCE", auth.DefaultAudience),
		MaxBodyBytes:     r.int64("SYNC_MAX_BODY_BYTES", 8<<20),
		MaxPushRows:      int(r.int64("SYNC_MAX_PUSH_ROWS", 10000)),
		IdempotencyTTL:   r.duration("SYNC_IDEMPOTENCY_TTL", 24*time.Hour),
		RequestTimeout:   r.duration("SYNC_REQUEST_TIMEOUT", 30*time.Second),
		ReadTimeout:      r.duration("SYNC_READ_TIMEOUT", 30*time.Second),
		WriteTimeout:     r.duration("SYNC_WRITE_TIMEOUT", 60*time.Second),
		StatementTimeout: r.duration("SYNC_STATEMENT_TIMEOUT", 15*time.Second),
		DBMaxConns:       int32(r.int64("SYNC_DB_MAX_CONNS", 10)),
		LogLevel:         r.level("SYNC_LOG_LEVEL", slog.LevelInfo),
	}
	if len(c.JWTSecret) == 0 {
		r.fail("SYNC_JWT_SECRET", "is required (the HS256 secret of your identity provider)")
	} else if len(c.JWTSecret) < 16 {
		r.fail("SYNC_JWT_SECRET", "must be at least 16 bytes")
	}
	if c.MaxBodyBytes < 1024 {
		r.fail("SYNC_MAX_BODY_BYTES", "must be at least 1024")
	}
	if c.MaxPushRows < 1 {
		r.fail("SYNC_MAX_PUSH_ROWS", "must be at least 1")
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
