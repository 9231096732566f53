// Package pgcluster manages a local PostgreSQL cluster for development, tests
// and benchmarks, using the initdb, pg_ctl and postgres binaries on PATH.
//
// A cluster lives in one directory: Dir/data (the data directory),
// Dir/postgres.log (server log), Dir/port (the remembered TCP port) and,
// normally, the unix socket. The server listens on 127.0.0.1 only, with
// trust authentication for the superuser "postgres": it is meant for local,
// throwaway or developer use and must never hold data worth protecting.
//
// PostgreSQL refuses to run as root. When this process runs as root, initdb
// and pg_ctl run as the system user "postgres", which then owns Dir.
package pgcluster

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Options configures Ensure.
type Options struct {
	// Dir is the cluster root. The data directory is Dir/data, the server
	// log Dir/postgres.log, and the unix socket directory is Dir itself, or a
	// short directory under /tmp when Dir is too long for a unix socket path.
	Dir string
	// Port is the TCP port on 127.0.0.1. 0 means: reuse the port remembered
	// in Dir/port, or pick a free one and remember it there, so that a
	// persistent cluster keeps its port across runs.
	Port int
	// Ephemeral trades durability for speed (fsync=off,
	// synchronous_commit=off, full_page_writes=off, initdb --no-sync). Use it
	// for tests and for benchmarks of our own overhead only; figures measured
	// with it do not describe a durable PostgreSQL.
	Ephemeral bool
	// Log receives progress lines such as "pgcluster: initdb DIR 2.1s".
	// nil discards them.
	Log io.Writer
	// ExtraConfig holds extra server settings passed as -c name=value
	// (e.g. "max_connections": "200").
	ExtraConfig map[string]string
}

// Cluster is a local PostgreSQL cluster created or reused by Ensure.
// Its methods are safe for concurrent use.
type Cluster struct {
	mu        sync.Mutex
	dir       string
	dataDir   string
	logPath   string
	sockDir   string
	ownSock   bool // sockDir is a separate directory under /tmp
	port      int
	ephemeral bool
	extra     map[string]string
	log       io.Writer
	acct      *runAs
	pgCtl     string
	// primary and slot are set on a replica (StartReplica): the cluster it
	// streams from, and its replication slot there.
	primary *Cluster
	slot    string
}

// ErrPortInUse is wrapped by the error returned when the cluster's TCP port
// is held by another process.
var ErrPortInUse = errors.New("port already in use")

// ErrNotTraversable is wrapped by the error returned when the user postgres
// runs as cannot reach the cluster directory (e.g. a repo under /root).
var ErrNotTraversable = errors.New("cluster directory not reachable by the postgres user")

const (
	// A unix socket path ("DIR/.s.PGSQL.PORT") must fit in sun_path (108
	// bytes with the terminating NUL); ".s.PGSQL.65535" plus "/" is 15 bytes.
	maxSockDirLen = 107 - 15
	startTimeout  = 60 * time.Second
	readyTimeout  = 30 * time.Second
	superuser     = "postgres"
)

var (
	settingName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.]*$`)
	// pg_ctl pastes the data and log paths into a /bin/sh command line
	// between double quotes, without escaping.
	unsafePathChars = "\"$`\\\n"
)

// Ensure makes sure a cluster exists in o.Dir and is running: it runs initdb
// on first use, starts the server if it is not running (reusing it if it is),
// and waits until it accepts connections on 127.0.0.1.
func Ensure(ctx context.Context, o Options) (*Cluster, error) {
	dir, err := checkOptions(o)
	if err != nil {
		return nil, err
	}
	bins, err := findServerBinaries()
	if err != nil {
		return nil, err
	}
	acct, err := serverAccount()
	if err != nil {
		return nil, err
	}
	if err := prepareDir(ctx, dir, acct); err != nil {
		return nil, err
	}
	c := newCluster(dir, o, acct, bins["pg_ctl"])

	c.mu.Lock()
	defer c.mu.Unlock()
	unlock, err := c.lockDir()
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := c.ensureDataDir(ctx, bins["initdb"]); err != nil {
		return nil, err
	}
	reused, err := c.reuseRunning(ctx, o.Port)
	if err != nil {
		return nil, err
	}
	if !reused {
		if err := c.pickPortAndStart(ctx, o.Port); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// checkOptions refuses what the cluster cannot be created with and returns
// the absolute cluster directory.
func checkOptions(o Options) (string, error) {
	if o.Dir == "" {
		return "", errors.New("pgcluster: Options.Dir is empty")
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return "", fmt.Errorf("pgcluster: %s: %w", o.Dir, err)
	}
	if strings.ContainsAny(dir, unsafePathChars) {
		return "", fmt.Errorf("pgcluster: cluster dir %q contains a character pg_ctl cannot quote (one of %q)", dir, unsafePathChars)
	}
	if o.Port < 0 || o.Port > 65535 {
		return "", fmt.Errorf("pgcluster: invalid port %d", o.Port)
	}
	for k := range o.ExtraConfig {
		if !settingName.MatchString(k) {
			return "", fmt.Errorf("pgcluster: invalid setting name %q in ExtraConfig", k)
		}
	}
	return dir, nil
}

// findServerBinaries returns the absolute paths of initdb, pg_ctl and
// postgres on PATH, by name.
func findServerBinaries() (map[string]string, error) {
	bins := map[string]string{}
	for _, b := range []string{"initdb", "pg_ctl", "postgres"} {
		p, err := exec.LookPath(b)
		if err != nil {
			return nil, fmt.Errorf("pgcluster: %s not found on PATH (PostgreSQL 15 server binaries are required): %w", b, err)
		}
		if p, err = filepath.Abs(p); err == nil {
			bins[b] = p
		}
	}
	return bins, nil
}

// prepareDir creates the cluster directory for the server's account: its
// parents 0755 (postgres must traverse them), the directory itself 0700 and
// owned by that account.
func prepareDir(ctx context.Context, dir string, acct *runAs) error {
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("pgcluster: create %s: %w", parent, err)
	}
	if err := acct.checkTraversable(ctx, parent); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("pgcluster: create %s: %w", dir, err)
	}
	if err := acct.chown(dir); err != nil {
		return fmt.Errorf("pgcluster: chown %s to %s: %w", dir, acct.name, err)
	}
	return nil
}

// newCluster lays out the cluster in dir; the socket goes to a short
// directory under /tmp when dir is too long for a unix socket path.
func newCluster(dir string, o Options, acct *runAs, pgCtl string) *Cluster {
	c := &Cluster{
		dir:       dir,
		dataDir:   filepath.Join(dir, "data"),
		logPath:   filepath.Join(dir, "postgres.log"),
		sockDir:   dir,
		ephemeral: o.Ephemeral,
		extra:     o.ExtraConfig,
		log:       o.Log,
		acct:      acct,
		pgCtl:     pgCtl,
	}
	if c.log == nil {
		c.log = io.Discard
	}
	if len(dir) > maxSockDirLen {
		sum := sha256.Sum256([]byte(dir))
		c.sockDir = "/tmp/pgcluster-" + hex.EncodeToString(sum[:6])
		c.ownSock = true
	}
	return c
}

// ensureDataDir runs initdb on first use, or hands an existing data
// directory (back) to the server's account. Callers hold the directory lock.
func (c *Cluster) ensureDataDir(ctx context.Context, initdb string) error {
	if _, err := os.Stat(filepath.Join(c.dataDir, "PG_VERSION")); err != nil {
		if _, err2 := os.Stat(c.dataDir); err2 == nil {
			return fmt.Errorf("pgcluster: %s exists but is not a PostgreSQL data directory (no PG_VERSION); remove it", c.dataDir)
		}
		return c.initdb(ctx, initdb)
	}
	if err := c.acct.chownTree(c.dataDir); err != nil {
		return fmt.Errorf("pgcluster: chown %s to %s: %w", c.dataDir, c.acct.name, err)
	}
	if err := os.Chmod(c.dataDir, 0o700); err != nil {
		return fmt.Errorf("pgcluster: chmod %s: %w", c.dataDir, err)
	}
	return nil
}

// reuseRunning adopts a server already running on the data directory
// (another process, or an earlier run) once it accepts connections; false
// when none runs. wantPort, if not 0, must be the port it runs on.
func (c *Cluster) reuseRunning(ctx context.Context, wantPort int) (bool, error) {
	pf, ok := c.runningServer()
	if !ok {
		return false, nil
	}
	if wantPort != 0 && pf.port != wantPort {
		return false, fmt.Errorf("pgcluster: cluster %s is already running on port %d, not the requested %d; stop it first", c.dir, pf.port, wantPort)
	}
	c.port = pf.port
	if pf.sockDir != "" {
		c.sockDir = pf.sockDir
	}
	if err := c.writePort(); err != nil {
		return false, err
	}
	t0 := time.Now()
	if err := c.waitReady(ctx); err != nil {
		return false, fmt.Errorf("pgcluster: reuse running cluster %s (pid %d, port %d): %w", c.dir, pf.pid, pf.port, err)
	}
	c.logf("pgcluster: reusing running cluster %s on port %d %.1fs", c.dir, c.port, time.Since(t0).Seconds())
	return true, nil
}

// pickPortAndStart starts the server on port, else on the port remembered in
// Dir/port, else on a free one it remembers there. A port just picked may be
// grabbed by someone else before the server binds it: then it picks another,
// up to three times.
func (c *Cluster) pickPortAndStart(ctx context.Context, port int) error {
	c.port = port
	fresh := false
	if c.port == 0 {
		c.port = c.readPort()
	}
	if c.port == 0 {
		var err error
		if c.port, err = freePort(); err != nil {
			return err
		}
		fresh = true
	}
	for attempt := 0; ; attempt++ {
		if err := c.writePort(); err != nil {
			return err
		}
		err := c.start(ctx)
		if err != nil && fresh && errors.Is(err, ErrPortInUse) && attempt < 3 {
			if c.port, err = freePort(); err != nil {
				return err
			}
			continue
		}
		return err
	}
}

// StartTemp creates a fresh ephemeral cluster (fsync off) in a new
// os.MkdirTemp directory on a free port, for tests and benchmarks.
// Call Remove when done.
func StartTemp(ctx context.Context, log io.Writer) (*Cluster, error) {
	dir, err := os.MkdirTemp("", "pgcluster-")
	if err != nil {
		return nil, fmt.Errorf("pgcluster: %w", err)
	}
	c, err := Ensure(ctx, Options{Dir: dir, Ephemeral: true, Log: log})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return c, nil
}

// Dir returns the cluster root directory.
func (c *Cluster) Dir() string { return c.dir }

// Port returns the TCP port the cluster listens on at 127.0.0.1.
func (c *Cluster) Port() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.port
}

// URL returns a connection URL for database as the superuser, e.g.
// postgres://postgres@127.0.0.1:PORT/database?sslmode=disable.
func (c *Cluster) URL(database string) string {
	return urlFor(c.Port(), database)
}

func urlFor(port int, database string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(superuser),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		Path:     "/" + database,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// CreateDatabase creates database name if it does not exist yet. It is
// idempotent and safe to call concurrently.
func (c *Cluster) CreateDatabase(ctx context.Context, name string) error {
	if name == "" || len(name) > 63 || strings.ContainsRune(name, 0) {
		return fmt.Errorf("pgcluster: invalid database name %q (1-63 bytes, no NUL)", name)
	}
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return fmt.Errorf("pgcluster: create database %q: connect: %w", name, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for attempt := 0; ; attempt++ {
		var exists bool
		if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
			return fmt.Errorf("pgcluster: create database %q: %w", name, err)
		}
		if exists {
			return nil
		}
		_, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
		if err == nil {
			return nil
		}
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) {
			switch pgErr.Code {
			case "42P04": // duplicate_database: a concurrent caller won
				return nil
			case "55006": // template1 busy (concurrent CREATE DATABASE)
				if attempt < 50 {
					select {
					case <-ctx.Done():
						return fmt.Errorf("pgcluster: create database %q: %w", name, ctx.Err())
					case <-time.After(100 * time.Millisecond):
					}
					continue
				}
			}
		}
		return fmt.Errorf("pgcluster: create database %q: %w", name, err)
	}
}

// Start starts the cluster again after Stop, on the same port. It is a no-op
// if the cluster is running.
func (c *Cluster) Start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	unlock, err := c.lockDir()
	if err != nil {
		return err
	}
	defer unlock()
	if _, ok := c.runningServer(); ok {
		return c.waitReady(ctx)
	}
	return c.start(ctx)
}

// Stop shuts the server down (pg_ctl stop -m fast -w): open sessions are
// disconnected and their transactions rolled back. It is a no-op if the
// server is not running.
func (c *Cluster) Stop(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	unlock, err := c.lockDir()
	if err != nil {
		return err
	}
	defer unlock()
	return c.stop(ctx)
}

// Remove stops the server and deletes the cluster directory (and its
// separate socket directory, if any). Meant for temporary clusters.
func (c *Cluster) Remove() error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	c.mu.Lock()
	defer c.mu.Unlock()
	err := c.stop(ctx)
	if err2 := c.dropSlot(ctx); err2 != nil {
		err = errors.Join(err, err2)
	}
	if err2 := os.RemoveAll(c.dir); err2 != nil {
		err = errors.Join(err, fmt.Errorf("pgcluster: remove %s: %w", c.dir, err2))
	}
	if c.ownSock {
		if err2 := os.RemoveAll(c.sockDir); err2 != nil {
			err = errors.Join(err, fmt.Errorf("pgcluster: remove %s: %w", c.sockDir, err2))
		}
	}
	return err
}

// initdb creates the data directory. It initialises into a scratch directory
// and renames it into place, so Dir/data exists only when complete.
func (c *Cluster) initdb(ctx context.Context, bin string) error {
	t0 := time.Now()
	tmp := filepath.Join(c.dir, "data.initdb")
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("pgcluster: initdb %s: %w", c.dir, err)
	}
	args := []string{"-D", tmp, "-U", superuser, "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-instructions"}
	if c.ephemeral {
		args = append(args, "--no-sync")
	}
	cmd := c.acct.command(ctx, c.dir, bin, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("pgcluster: initdb %s: %w\n%s", c.dir, err, tailLines(out, 20))
	}
	if err := os.Rename(tmp, c.dataDir); err != nil {
		return fmt.Errorf("pgcluster: initdb %s: %w", c.dir, err)
	}
	c.logf("pgcluster: initdb %s %.1fs", c.dir, time.Since(t0).Seconds())
	return nil
}

// start runs pg_ctl start and waits for connections. Callers hold c.mu and
// the directory lock, and have checked that the server is not running.
func (c *Cluster) start(ctx context.Context) error {
	t0 := time.Now()
	c.clearStaleLocks(ctx)
	if err := checkPortFree(c.port); err != nil {
		return fmt.Errorf("pgcluster: start %s: port %d on 127.0.0.1 is held by another process (%v); stop that process or use another port (Options.Port, or delete %s): %w",
			c.dir, c.port, err, filepath.Join(c.dir, "port"), ErrPortInUse)
	}
	if c.ownSock {
		if err := c.ensureSockDir(); err != nil {
			return err
		}
	}
	opts := []string{"-p", strconv.Itoa(c.port), "-k", shellQuote(c.sockDir), "-c", "listen_addresses=127.0.0.1"}
	if c.ephemeral {
		opts = append(opts, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	keys := make([]string, 0, len(c.extra))
	for k := range c.extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		opts = append(opts, "-c", shellQuote(k+"="+c.extra[k]))
	}
	logSize := fileSize(c.logPath)
	for attempt := 0; ; attempt++ {
		cmd := c.acct.command(ctx, c.dir, c.pgCtl, "start", "-D", c.dataDir, "-l", c.logPath,
			"-w", "-t", strconv.Itoa(int(startTimeout/time.Second)), "-s", "-o", strings.Join(opts, " "))
		cmd.WaitDelay = 5 * time.Second
		out, err := cmd.CombinedOutput()
		if err == nil {
			break
		}
		logTail := c.logTail(logSize)
		// After a crash, backends of the dead postmaster may still hold its
		// shared memory for a moment.
		if strings.Contains(logTail, "is still in use") && attempt < 50 && ctx.Err() == nil {
			time.Sleep(200 * time.Millisecond)
			continue
		}
		if strings.Contains(logTail, "Address already in use") {
			err = fmt.Errorf("%w: %w", ErrPortInUse, err)
		}
		return fmt.Errorf("pgcluster: start %s on port %d: %w\n%s%s", c.dir, c.port, err, out, logTail)
	}
	if err := c.waitReady(ctx); err != nil {
		err = fmt.Errorf("pgcluster: start %s on port %d: %w\n%s", c.dir, c.port, err, c.logTail(logSize))
		// Do not leave a server behind that the caller has no handle on.
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), startTimeout)
		defer cancel()
		return errors.Join(err, c.stop(stopCtx))
	}
	c.logf("pgcluster: start %s on port %d %.1fs", c.dir, c.port, time.Since(t0).Seconds())
	return nil
}

// stop runs pg_ctl stop -m fast -w if the server is running.
func (c *Cluster) stop(ctx context.Context) error {
	if _, ok := c.runningServer(); !ok {
		return nil
	}
	t0 := time.Now()
	logSize := fileSize(c.logPath)
	cmd := c.acct.command(ctx, c.dir, c.pgCtl, "stop", "-D", c.dataDir, "-m", "fast", "-w",
		"-t", strconv.Itoa(int(startTimeout/time.Second)), "-s")
	out, err := cmd.CombinedOutput()
	if err != nil {
		if _, ok := c.runningServer(); !ok {
			return nil // it went away by itself meanwhile
		}
		return fmt.Errorf("pgcluster: stop %s: %w\n%s%s", c.dir, err, out, c.logTail(logSize))
	}
	c.logf("pgcluster: stop %s %.1fs", c.dir, time.Since(t0).Seconds())
	return nil
}

// waitReady polls until the server accepts a connection on 127.0.0.1.
// Callers hold c.mu.
func (c *Cluster) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	cfg, err := pgx.ParseConfig(urlFor(c.port, "postgres"))
	if err != nil {
		return err
	}
	cfg.ConnectTimeout = 2 * time.Second
	for {
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err == nil {
			err = conn.Ping(ctx)
			conn.Close(context.WithoutCancel(ctx))
			if err == nil {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("server not accepting connections on 127.0.0.1:%d: %w (last error: %v)", c.port, ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// pidFile is the interesting part of DATA/postmaster.pid.
type pidFile struct {
	pid     int
	port    int
	sockDir string
	status  string
}

func readPidFile(dataDir string) (pidFile, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return pidFile{}, err
	}
	lines := strings.Split(string(b), "\n")
	var pf pidFile
	if len(lines) > 0 {
		pf.pid, _ = strconv.Atoi(strings.TrimSpace(lines[0]))
	}
	if len(lines) > 3 {
		pf.port, _ = strconv.Atoi(strings.TrimSpace(lines[3]))
	}
	if len(lines) > 4 {
		pf.sockDir = strings.TrimSpace(lines[4])
	}
	if len(lines) > 7 {
		pf.status = strings.TrimSpace(lines[7])
	}
	if pf.pid <= 0 {
		return pf, fmt.Errorf("malformed postmaster.pid")
	}
	return pf, nil
}

// runningServer reports whether a live postmaster owns the data directory.
// A server that is shutting down is waited for and reported as not running.
func (c *Cluster) runningServer() (pidFile, bool) {
	deadline := time.Now().Add(startTimeout)
	for {
		pf, err := readPidFile(c.dataDir)
		if err != nil || !isPostgres(pf.pid) {
			return pidFile{}, false
		}
		if pf.status != "stopping" || time.Now().After(deadline) {
			return pf, true
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// isPostgres reports whether pid is a live postgres process (not a zombie,
// and, where /proc tells, not an unrelated process that reused the pid).
func isPostgres(pid int) bool {
	exists, zombie, postgres := procState(pid)
	return exists && !zombie && postgres
}

// procState inspects pid. postgres is true when /proc is unavailable.
func procState(pid int) (exists, zombie, postgres bool) {
	if pid <= 0 {
		return false, false, false
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false, false, false
	}
	proc := "/proc/" + strconv.Itoa(pid)
	postgres = true
	if comm, err := os.ReadFile(proc + "/comm"); err == nil {
		postgres = strings.HasPrefix(strings.TrimSpace(string(comm)), "postgres")
	}
	if stat, err := os.ReadFile(proc + "/stat"); err == nil {
		if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) {
			zombie = stat[i+2] == 'Z' || stat[i+2] == 'X'
		}
	}
	return true, zombie, postgres
}

// clearStaleLocks prepares a start after a crash. Postgres itself ignores a
// postmaster.pid or socket lock file whose pid is gone, but refuses to start
// while that pid exists: a killed postmaster that is not yet reaped (zombie;
// some container init processes reap slowly or never), or a pid reused by an
// unrelated process. Wait briefly for the reaper, then remove such files.
// Callers have checked that the server is not running.
func (c *Cluster) clearStaleLocks(ctx context.Context) {
	pf, err := readPidFile(c.dataDir)
	if err != nil {
		return
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		exists, zombie, postgres := procState(pf.pid)
		if !exists {
			return
		}
		if !zombie && !postgres || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	os.Remove(filepath.Join(c.dataDir, "postmaster.pid"))
	sockDir, port := pf.sockDir, pf.port
	if sockDir == "" {
		sockDir = c.sockDir
	}
	if port == 0 {
		port = c.port
	}
	sock := filepath.Join(sockDir, ".s.PGSQL."+strconv.Itoa(port))
	if b, err := os.ReadFile(sock + ".lock"); err == nil {
		if first, _, _ := strings.Cut(string(b), "\n"); strings.TrimSpace(first) == strconv.Itoa(pf.pid) {
			os.Remove(sock + ".lock")
			os.Remove(sock)
		}
	}
}

// lockDir takes an exclusive flock on DIR/pgcluster.lock so that concurrent
// processes do not initdb, start or stop the same cluster at once.
func (c *Cluster) lockDir() (func(), error) {
	p := filepath.Join(c.dir, "pgcluster.lock")
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("pgcluster: lock %s: %w", p, err)
	}
	_ = c.acct.chown(p)
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("pgcluster: lock %s: %w", p, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

func (c *Cluster) readPort() int {
	b, err := os.ReadFile(filepath.Join(c.dir, "port"))
	if err != nil {
		return 0
	}
	p, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || p <= 0 || p > 65535 {
		return 0
	}
	return p
}

func (c *Cluster) writePort() error {
	p := filepath.Join(c.dir, "port")
	if c.readPort() == c.port {
		return nil
	}
	if err := os.WriteFile(p, []byte(strconv.Itoa(c.port)+"\n"), 0o644); err != nil {
		return fmt.Errorf("pgcluster: write %s: %w", p, err)
	}
	_ = c.acct.chown(p)
	return nil
}

// ensureSockDir creates the short /tmp socket directory used when Dir is too
// long for a unix socket path, refusing one owned by somebody else.
func (c *Cluster) ensureSockDir() error {
	if err := os.Mkdir(c.sockDir, 0o700); err == nil {
		if err := c.acct.chown(c.sockDir); err != nil {
			return fmt.Errorf("pgcluster: chown %s: %w", c.sockDir, err)
		}
		return nil
	} else if !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("pgcluster: create socket dir %s: %w", c.sockDir, err)
	}
	fi, err := os.Lstat(c.sockDir)
	if err != nil {
		return fmt.Errorf("pgcluster: socket dir %s: %w", c.sockDir, err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || !ok || int(st.Uid) != c.acct.uid {
		return fmt.Errorf("pgcluster: socket dir %s exists but is not a directory owned by %s; remove it", c.sockDir, c.acct.name)
	}
	return nil
}

// logTail returns the last lines the server log gained after offset.
func (c *Cluster) logTail(offset int64) string {
	f, err := os.Open(c.logPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return ""
	}
	b, _ := io.ReadAll(io.LimitReader(f, 1<<20))
	if len(bytes.TrimSpace(b)) == 0 {
		return ""
	}
	return "--- " + c.logPath + " (tail) ---\n" + tailLines(b, 20)
}

func (c *Cluster) logf(format string, args ...any) {
	fmt.Fprintf(c.log, format+"\n", args...)
}

func tailLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func fileSize(p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// freePort asks the kernel for a free TCP port on 127.0.0.1.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgcluster: pick a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// checkPortFree fails if something already listens on 127.0.0.1:port
// (including on 0.0.0.0 or [::]).
func checkPortFree(port int) error {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return err
	}
	return l.Close()
}

// shellQuote quotes s for /bin/sh: pg_ctl runs postgres through a shell
// command line that includes the -o options verbatim.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_-./=:,+@%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
