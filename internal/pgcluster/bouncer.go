package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNoBouncer is wrapped by StartBouncer's error when the pgbouncer binary
// is not installed.
var ErrNoBouncer = errors.New("pgbouncer is not installed")

// BouncerInstallHint says how to get PgBouncer, for messages that name it.
const BouncerInstallHint = "install it: Debian/Ubuntu `apt-get install -y pgbouncer` (as root; .ci/run does this on CI), macOS `brew install pgbouncer`"

// bouncerSearchPath is where pgbouncer is looked for when it is not on PATH:
// Debian installs it in /usr/sbin, which a non-root PATH often lacks.
var bouncerSearchPath = []string{"/usr/sbin/pgbouncer", "/usr/local/sbin/pgbouncer"}

const (
	bouncerReadyTimeout = 30 * time.Second
	bouncerStopTimeout  = 10 * time.Second
)

// BouncerOptions configures StartBouncer.
type BouncerOptions struct {
	// PoolMode is PgBouncer's pool_mode; empty means "transaction", the
	// mode of Supabase's pooler on port 6543 and the strictest one.
	PoolMode string
	// PoolSize is default_pool_size, the server connections per database
	// and user; 0 means 20.
	PoolSize int
	// Binary is the pgbouncer executable; empty looks it up on PATH, then
	// in /usr/sbin.
	Binary string
	// Log receives progress lines such as "pgcluster: pgbouncer on port N
	// 0.1s". nil discards them.
	Log io.Writer
}

// Bouncer is a PgBouncer in front of a Cluster, for tests of the server
// behind a pooler. It listens on a free port on 127.0.0.1, passes every
// database name through to the cluster, trusts the superuser, and runs as
// the account that runs the cluster (PgBouncer refuses root), with its ini,
// auth file and log in a directory of its own.
type Bouncer struct {
	dir     string
	port    int
	logPath string
	log     io.Writer
	proc    *os.Process
	done    chan struct{} // closed when the process has exited
	waitErr error         // set before done is closed
}

// StartBouncer starts PgBouncer in front of c and waits until a query
// reaches Postgres through it. Call Stop when done.
func StartBouncer(ctx context.Context, c *Cluster, o BouncerOptions) (*Bouncer, error) {
	bin, err := findBouncer(o.Binary)
	if err != nil {
		return nil, err
	}
	if o.PoolMode == "" {
		o.PoolMode = "transaction"
	}
	if o.PoolSize == 0 {
		o.PoolSize = 20
	}
	dir, err := os.MkdirTemp("", "pgbouncer-")
	if err != nil {
		return nil, fmt.Errorf("pgcluster: pgbouncer: %w", err)
	}
	if err := c.acct.chown(dir); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("pgcluster: pgbouncer: chown %s to %s: %w", dir, c.acct.name, err)
	}
	if err := c.acct.checkTraversable(ctx, dir); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	b := &Bouncer{dir: dir, logPath: filepath.Join(dir, "pgbouncer.log"), log: o.Log}
	if b.log == nil {
		b.log = io.Discard
	}
	for attempt := 0; ; attempt++ {
		t0 := time.Now()
		if b.port, err = freePort(); err != nil {
			break
		}
		if err = b.start(ctx, c, bin, o); err == nil {
			fmt.Fprintf(b.log, "pgcluster: pgbouncer (pool_mode=%s) on port %d in front of port %d %.1fs\n",
				o.PoolMode, b.port, c.Port(), time.Since(t0).Seconds())
			return b, nil
		}
		// A port just picked may be taken by someone else before PgBouncer binds it.
		if !errors.Is(err, ErrPortInUse) || attempt >= 3 {
			break
		}
	}
	os.RemoveAll(dir)
	return nil, err
}

func findBouncer(bin string) (string, error) {
	candidates := bouncerSearchPath
	if bin != "" {
		candidates = []string{bin}
	} else if p, err := exec.LookPath("pgbouncer"); err == nil {
		return p, nil
	}
	for _, p := range candidates {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("pgcluster: pgbouncer not found (looked on PATH and at %s); %s: %w",
		strings.Join(candidates, ", "), BouncerInstallHint, ErrNoBouncer)
}

// start writes the configuration for b.port, starts the process and waits
// until it serves.
func (b *Bouncer) start(ctx context.Context, c *Cluster, bin string, o BouncerOptions) error {
	ini := filepath.Join(b.dir, "pgbouncer.ini")
	users := filepath.Join(b.dir, "userlist.txt")
	// Nothing in ignore_startup_parameters: like a production pooler, this
	// one refuses a client that sends a startup parameter it does not know.
	conf := fmt.Sprintf(`[databases]
* = host=127.0.0.1 port=%d

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = trust
auth_file = %s
admin_users = %s
pool_mode = %s
default_pool_size = %d
max_client_conn = 1000
server_login_retry = 1
log_connections = 0
log_disconnections = 0
`, c.Port(), b.port, users, superuser, o.PoolMode, o.PoolSize)
	for path, content := range map[string]string{ini: conf, users: fmt.Sprintf("%q \"\"\n", superuser)} {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			return fmt.Errorf("pgcluster: pgbouncer: %w", err)
		}
		if err := c.acct.chown(path); err != nil {
			return fmt.Errorf("pgcluster: pgbouncer: chown %s: %w", path, err)
		}
	}
	logFile, err := os.OpenFile(b.logPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("pgcluster: pgbouncer: %w", err)
	}
	defer logFile.Close() // the child has its own copy

	// Not CommandContext: the bouncer outlives the start's context.
	cmd := c.acct.command(context.Background(), b.dir, bin, ini)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// If this process dies without Stop (a panic, a kill), so does the
	// bouncer. The kernel sends the signal when the forking thread exits,
	// so that thread stays locked to the goroutine that waits for the
	// process, for as long as the process lives.
	cmd.SysProcAttr.Pdeathsig = syscall.SIGTERM
	b.done = make(chan struct{})
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			close(b.done)
			return
		}
		b.proc = cmd.Process
		started <- nil
		b.waitErr = cmd.Wait()
		close(b.done)
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("pgcluster: start pgbouncer %s: %w", bin, err)
	}
	if err := b.waitReady(ctx, c); err != nil {
		b.kill() //nolint:errcheck // the start error says more
		tail := b.logTail()
		if strings.Contains(tail, "Address already in use") {
			err = fmt.Errorf("%w: %w", ErrPortInUse, err)
		}
		return fmt.Errorf("pgcluster: pgbouncer on port %d: %w\n--- %s (tail) ---\n%s", b.port, err, b.logPath, tail)
	}
	return nil
}

// waitReady polls until a query reaches Postgres through the bouncer.
func (b *Bouncer) waitReady(ctx context.Context, c *Cluster) error {
	ctx, cancel := context.WithTimeout(ctx, bouncerReadyTimeout)
	defer cancel()
	cfg, err := pgx.ParseConfig(b.URL("postgres"))
	if err != nil {
		return err
	}
	cfg.ConnectTimeout = 2 * time.Second
	cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	for {
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err == nil {
			var one int
			err = conn.QueryRow(ctx, "SELECT 1").Scan(&one)
			conn.Close(context.WithoutCancel(ctx))
			if err == nil {
				return nil
			}
		}
		select {
		case <-b.done:
			return fmt.Errorf("pgbouncer exited: %v", b.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("no query through it to Postgres on port %d: %w (last error: %v)", c.Port(), ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Port returns the TCP port the bouncer listens on at 127.0.0.1.
func (b *Bouncer) Port() int { return b.port }

// URL returns a connection URL for database through the bouncer, as the
// cluster's superuser.
func (b *Bouncer) URL(database string) string { return urlFor(b.port, database) }

// LogPath is PgBouncer's log (its stdout and stderr).
func (b *Bouncer) LogPath() string { return b.logPath }

// Stop ends PgBouncer (SIGTERM: immediate shutdown, client connections are
// dropped) and removes its directory.
func (b *Bouncer) Stop() error {
	err := b.kill()
	if rerr := os.RemoveAll(b.dir); rerr != nil {
		err = errors.Join(err, fmt.Errorf("pgcluster: remove %s: %w", b.dir, rerr))
	}
	return err
}

// kill ends the process, if it runs, and waits for it.
func (b *Bouncer) kill() error {
	if b.proc == nil {
		return nil
	}
	select {
	case <-b.done:
		return nil
	default:
	}
	_ = b.proc.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
		return nil
	case <-time.After(bouncerStopTimeout):
		_ = b.proc.Kill()
		<-b.done
		return fmt.Errorf("pgcluster: pgbouncer did not stop within %s of SIGTERM; killed it", bouncerStopTimeout)
	}
}

func (b *Bouncer) logTail() string {
	raw, err := os.ReadFile(b.logPath)
	if err != nil {
		return ""
	}
	return tailLines(raw, 20)
}
