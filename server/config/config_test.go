package config

import (
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func load(env map[string]string) (Config, error) {
	return Load(func(name string) string { return env[name] })
}

func TestLoad_AuthNeedsSecretOrJWKS(t *testing.T) {
	const secret = "0123456789abcdef-secret"
	cases := []struct {
		name    string
		env     map[string]string
		wantErr string
	}{
		{"neither", map[string]string{}, "SYNC_JWT_SECRET or SYNC_JWKS_URL is required"},
		{"secret only", map[string]string{"SYNC_JWT_SECRET": secret}, ""},
		{"jwks only", map[string]string{"SYNC_JWKS_URL": "https://idp.example.com/.well-known/jwks.json"}, ""},
		{"both", map[string]string{"SYNC_JWT_SECRET": secret, "SYNC_JWKS_URL": "http://127.0.0.1:9999/jwks"}, ""},
		{"short secret", map[string]string{"SYNC_JWT_SECRET": "short"}, "at least 16 bytes"},
		{"relative jwks", map[string]string{"SYNC_JWKS_URL": "jwks.json"}, "SYNC_JWKS_URL must be an absolute"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(tc.env)
			if tc.wantErr == "" && err != nil {
				t.Fatalf("Load: %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("Load = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestLoad_Defaults(t *testing.T) {
	c, err := load(map[string]string{"SYNC_JWT_SECRET": "0123456789abcdef-secret"})
	if err != nil {
		t.Fatal(err)
	}
	if c.RateLimit != DefaultRateLimit || c.RateBurst != DefaultRateBurst {
		t.Errorf("rate = %v/%d", c.RateLimit, c.RateBurst)
	}
	if c.JWKSRefresh != time.Hour || c.JWKSMinRefetch != 10*time.Second || c.JWKSFetchTimeout != 5*time.Second {
		t.Errorf("jwks timings = %v %v %v", c.JWKSRefresh, c.JWKSMinRefetch, c.JWKSFetchTimeout)
	}
	if c.IdempotencyPurge != 10*time.Minute || c.DBConnectTimeout != 3*time.Second {
		t.Errorf("purge %v connect %v", c.IdempotencyPurge, c.DBConnectTimeout)
	}
	if c.MaxHeaderBytes != 64<<10 || c.MaxConnections != 1024 || c.RateBytes != 256<<10 {
		t.Errorf("headers %d connections %d rate bytes %d", c.MaxHeaderBytes, c.MaxConnections, c.RateBytes)
	}
	if c.MaxPushBytesPerContractor != 16<<20 || c.MaxPushBytes != 64<<20 {
		t.Errorf("push bytes in flight %d per contractor, %d in all; want 2 and 8 times the body limit", c.MaxPushBytesPerContractor, c.MaxPushBytes)
	}
	// Derived from the body limit when not set.
	c, err = load(map[string]string{"SYNC_JWT_SECRET": "0123456789abcdef-secret", "SYNC_MAX_BODY_BYTES": "1048576"})
	if err != nil || c.MaxPushBytesPerContractor != 2<<20 || c.MaxPushBytes != 8<<20 {
		t.Errorf("with a 1 MiB body limit: %d per contractor, %d in all, %v", c.MaxPushBytesPerContractor, c.MaxPushBytes, err)
	}
}

func TestLoad_Limits(t *testing.T) {
	base := func(k, v string) map[string]string {
		return map[string]string{"SYNC_JWT_SECRET": "0123456789abcdef-secret", k: v}
	}
	c, err := load(base("SYNC_RATE_LIMIT", "0"))
	if err != nil || c.RateLimit != 0 {
		t.Fatalf("SYNC_RATE_LIMIT=0: %v %v", c.RateLimit, err)
	}
	c, err = load(base("SYNC_RATE_LIMIT", "2.5"))
	if err != nil || c.RateLimit != 2.5 {
		t.Fatalf("SYNC_RATE_LIMIT=2.5: %v %v", c.RateLimit, err)
	}
	for k, v := range map[string]string{
		"SYNC_RATE_LIMIT": "-1", "SYNC_RATE_BURST": "0", "SYNC_JWKS_MIN_REFETCH": "soon",
		"SYNC_DB_CONNECT_TIMEOUT": "0s", "SYNC_IDEMPOTENCY_PURGE_INTERVAL": "-1m",
		"SYNC_MAX_HEADER_BYTES": "100", "SYNC_MAX_CONNECTIONS": "0", "SYNC_RATE_LIMIT_BYTES_PER_TOKEN": "1",
		"SYNC_MAX_PUSH_BYTES_IN_FLIGHT_PER_CONTRACTOR": "1024", "SYNC_MAX_PUSH_BYTES_IN_FLIGHT": "8388608",
	} {
		if _, err := load(base(k, v)); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%s: err = %v, want one naming the variable", k, v, err)
		}
	}
}

func TestLoad_ErrorsNeverEchoSecrets(t *testing.T) {
	_, err := load(map[string]string{"SYNC_JWT_SECRET": "tiny-secret", "SYNC_JWKS_URL": "ftp://user:hunter2@idp/jwks?apikey=k3y"})
	if err == nil {
		t.Fatal("want errors")
	}
	for _, s := range []string{"tiny-secret", "hunter2", "k3y"} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("config error %q contains %q", err, s)
		}
	}
}

func TestVars_DocumentEveryVariable(t *testing.T) {
	read := map[string]bool{}
	_, _ = Load(func(name string) string { read[name] = true; return "" })
	documented := map[string]bool{}
	for _, v := range Vars {
		documented[v.Name] = true
	}
	for name := range read {
		if !documented[name] {
			t.Errorf("%s is read but not in Vars", name)
		}
	}
	for name := range documented {
		if !read[name] {
			t.Errorf("%s is in Vars but never read", name)
		}
	}
}

func TestLoad_DBExecMode(t *testing.T) {
	cases := []struct {
		value    string
		want     pgx.QueryExecMode
		wantAuto bool
		wantErr  bool
	}{
		// The default chooses per connection; until a connection is proven
		// direct it uses exec, which works behind a transaction pooler.
		{"", pgx.QueryExecModeExec, true, false},
		{"auto", pgx.QueryExecModeExec, true, false},
		{"exec", pgx.QueryExecModeExec, false, false},
		{"cache_statement", pgx.QueryExecModeCacheStatement, false, false},
		{"cache_describe", pgx.QueryExecModeCacheDescribe, false, false},
		{"describe_exec", pgx.QueryExecModeDescribeExec, false, false},
		{"simple_protocol", pgx.QueryExecModeSimpleProtocol, false, false},
		{"prepared", 0, false, true},
		{"EXEC", 0, false, true},
		{"AUTO", 0, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.value, func(t *testing.T) {
			c, err := load(map[string]string{"SYNC_JWT_SECRET": "0123456789abcdef-secret", "SYNC_DB_EXEC_MODE": tc.value})
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), "SYNC_DB_EXEC_MODE") {
					t.Fatalf("err = %v, want one naming SYNC_DB_EXEC_MODE", err)
				}
				return
			}
			if err != nil || c.DBExecMode != tc.want || c.DBExecAuto != tc.wantAuto {
				t.Fatalf("DBExecMode = %v, auto %v, %v; want %v, auto %v", c.DBExecMode, c.DBExecAuto, err, tc.want, tc.wantAuto)
			}
		})
	}
}
