package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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

// devState is remembered in .data/dev.json so the dev tenant, its token's
// secret and therefore old tokens survive restarts.
type devState struct {
	Secret       string    `json:"secret"`
	ContractorID uuid.UUID `json:"contractor_id"`
	OwnerUserID  uuid.UUID `json:"owner_user_id"`
}

func runDev(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	dataDir := fs.String("data", ".data", "where the local cluster and dev state live")
	addr := fs.String("addr", envOr("SYNC_ADDR", "127.0.0.1:8080"), "listen address (port 0: any free port)")
	envFile := fs.String("env-file", "", "when ready, write SYNC_BASE_URL and SYNC_TOKEN to this file (for scripts)")
	opsAddr := fs.String("ops-addr", os.Getenv("SYNC_OPS_ADDR"), "listen address of the ops page (default: the port after -addr's; port 0: any free port; \"off\": none)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	start := time.Now()
	if err := os.MkdirAll(*dataDir, 0o755); err != nil {
		return err
	}
	cluster, err := pgcluster.Ensure(ctx, pgcluster.Options{Dir: filepath.Join(*dataDir, "pg"), Log: os.Stderr})
	if errors.Is(err, pgcluster.ErrNotTraversable) {
		// As root the cluster runs as the postgres user, which cannot enter a
		// checkout under a private home (/root): keep it in a per-checkout
		// directory it can reach instead of failing the first run.
		fallback, ferr := fallbackClusterDir(*dataDir)
		if ferr != nil {
			return errors.Join(err, ferr)
		}
		fmt.Fprintf(os.Stderr, "dev: %s is not reachable by the postgres user; keeping the cluster in %s\n", *dataDir, fallback)
		cluster, err = pgcluster.Ensure(ctx, pgcluster.Options{Dir: fallback, Log: os.Stderr})
	}
	if err != nil {
		return err
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := cluster.Stop(stopCtx); err != nil {
			fmt.Fprintf(os.Stderr, "stopping postgres: %v\n", err)
		} else {
			fmt.Fprintln(os.Stderr, "postgres stopped")
		}
	}()
	if err := cluster.CreateDatabase(ctx, "syncproxy"); err != nil {
		return err
	}
	state, err := loadDevState(filepath.Join(*dataDir, "dev.json"))
	if err != nil {
		return err
	}

	env := map[string]string{
		"DATABASE_URL":    cluster.URL("syncproxy"),
		"SYNC_ADDR":       *addr,
		"SYNC_JWT_SECRET": state.Secret,
	}
	// The ops page, on locally: its own address and a token derived from
	// the dev secret, so a bookmarked link survives restarts.
	if *opsAddr == "" {
		*opsAddr = nextPort(*addr)
	}
	opsToken := ""
	if *opsAddr != "off" {
		sum := sha256.Sum256([]byte(state.Secret + "/ops"))
		opsToken = envOr("SYNC_OPS_TOKEN", hex.EncodeToString(sum[:16]))
		env["SYNC_OPS_ADDR"], env["SYNC_OPS_TOKEN"] = *opsAddr, opsToken
	} else {
		env["SYNC_OPS_ADDR"] = ""
	}
	cfg, err := config.Load(func(name string) string {
		if v, ok := env[name]; ok {
			return v
		}
		return os.Getenv(name)
	})
	if err != nil {
		return err
	}
	logger := newLogger(cfg.LogLevel)
	pool, err := server.OpenPool(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := migrations.Apply(ctx, pool, logger); err != nil {
		return err
	}
	if err := ensureDevTenant(ctx, pool, state); err != nil {
		return err
	}
	token, err := auth.MintHS256(cfg.JWTSecret, state.OwnerUserID, cfg.JWTAudience, 30*24*time.Hour)
	if err != nil {
		return err
	}
	return server.Serve(ctx, cfg, pool, logger, func(bound string) {
		base := "http://" + bound
		if *envFile != "" {
			content := fmt.Sprintf("SYNC_BASE_URL=%s\nSYNC_TOKEN=%s\n", base, token)
			if err := os.WriteFile(*envFile, []byte(content), 0o600); err != nil {
				fmt.Fprintf(os.Stderr, "write %s: %v\n", *envFile, err)
			}
		}
		fmt.Printf(`
syncproxy dev is ready (%.1fs)
  base URL     %s
  database     %s
  contractor   %s
  auth user    %s (owner)
  token        %s

  ops page     %s

  export TOKEN=%s
  curl -s -H "Authorization: Bearer $TOKEN" %s/api/sync/canary
  curl -s -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
       -d '{"costbook_items":[{"id":"%s","name":"Drywall sheet","unit_cost":"12.50"}]}' %s/api/sync/push
  curl -s -H "Authorization: Bearer $TOKEN" %s/api/sync/pull

Ctrl-C stops the server and the database.
`, time.Since(start).Seconds(), base, cfg.DatabaseURL, state.ContractorID, state.OwnerUserID, token,
			opsLink(cfg.OpsAddr, opsToken), token, base, uuid.New(), base, base)
	})
}

func loadDevState(path string) (devState, error) {
	var s devState
	raw, err := os.ReadFile(path)
	if err == nil {
		if err := json.Unmarshal(raw, &s); err != nil {
			return s, fmt.Errorf("%s is corrupt (delete it to start over): %w", path, err)
		}
		return s, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return s, err
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return s, err
	}
	s = devState{Secret: hex.EncodeToString(secret), ContractorID: uuid.New(), OwnerUserID: uuid.New()}
	raw, err = json.MarshalIndent(s, "", "  ")
	if err != nil {
		return s, err
	}
	return s, os.WriteFile(path, raw, 0o600)
}

// ensureDevTenant creates the dev contractor and its owner on first run.
func ensureDevTenant(ctx context.Context, pool *pgtx.Pool, s devState) error {
	var exists bool
	if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM contractors WHERE id = $1)`, s.ContractorID).Scan(&exists); err != nil {
		return fmt.Errorf("look up dev tenant: %w", err)
	}
	if exists {
		return nil
	}
	_, err := tenant.Create(ctx, pool, tenant.NewContractor{
		ID: s.ContractorID, Name: "Dev Contractor",
		Members: []tenant.Member{{AuthUserID: s.OwnerUserID, Role: "owner"}},
	})
	return err
}

// fallbackClusterDir is a world-searchable directory for this checkout's dev
// cluster, stable across runs (named after the checkout's absolute path).
func fallbackClusterDir(dataDir string) (string, error) {
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(abs))
	dir := filepath.Join("/var/tmp", "syncproxy-dev-"+hex.EncodeToString(sum[:6]))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	return filepath.Join(dir, "pg"), nil
}

// nextPort is addr with the port after its own (127.0.0.1:8080 ->
// 127.0.0.1:8081); port 0 stays 0 (any free port).
func nextPort(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "127.0.0.1:0"
	}
	n, err := strconv.Atoi(port)
	if err != nil || n == 0 || n >= 65535 {
		return net.JoinHostPort(host, "0")
	}
	return net.JoinHostPort(host, strconv.Itoa(n+1))
}

// opsLink is what dev prints for the ops page.
func opsLink(addr, token string) string {
	switch {
	case addr == "":
		return "off (-ops-addr)"
	case strings.HasSuffix(addr, ":0"):
		return "on a free port (the log line \"ops page serving\" names it), token " + token
	}
	return "http://" + addr + "/?token=" + token
}
