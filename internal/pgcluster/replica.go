package pgcluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// ReplicaOptions configures StartReplica.
type ReplicaOptions struct {
	// Dir is the replica's cluster root; empty: a new os.MkdirTemp
	// directory, removed by Remove.
	Dir string
	// Log receives progress lines; nil: the primary's.
	Log io.Writer
}

// StartReplica makes a streaming replica of c and starts it: pg_basebackup
// -R (standby.signal and primary_conninfo written into the copy) through a
// physical replication slot of its own on c, so that the primary keeps the
// WAL a stopped replica still needs and it catches up when started again.
// The replica is a hot standby (read-only queries while it replays) on a
// free port of 127.0.0.1, with the primary's durability settings; it runs
// as the account that runs c. Remove stops it, deletes its directory and
// drops its slot on c (when c still runs).
//
// c must allow replication connections from 127.0.0.1 (initdb's default
// pg_hba.conf does, with the trust it sets up) and run with wal_level
// replica or logical (the default).
func (c *Cluster) StartReplica(ctx context.Context, o ReplicaOptions) (*Cluster, error) {
	bin, err := findBaseBackup(c.pgCtl)
	if err != nil {
		return nil, err
	}
	dir := o.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "pgreplica-"); err != nil {
			return nil, fmt.Errorf("pgcluster: replica: %w", err)
		}
	}
	if dir, err = checkOptions(Options{Dir: dir}); err != nil {
		return nil, err
	}
	if err := prepareDir(ctx, dir, c.acct); err != nil {
		return nil, err
	}
	log := o.Log
	if log == nil {
		log = c.log
	}
	r := newCluster(dir, Options{Ephemeral: c.ephemeral, Log: log, ExtraConfig: c.extra}, c.acct, c.pgCtl)
	r.primary, r.slot = c, "replica_"+randomHex(6)
	fail := func(err error) (*Cluster, error) {
		rmErr := r.Remove()
		return nil, errors.Join(err, rmErr)
	}

	r.mu.Lock()
	unlock, err := r.lockDir()
	if err != nil {
		r.mu.Unlock()
		return fail(err)
	}
	err = r.baseBackup(ctx, bin)
	if err == nil {
		err = r.pickPortAndStart(ctx, 0)
	}
	unlock()
	r.mu.Unlock()
	if err != nil {
		return fail(err)
	}
	return r, nil
}

// findBaseBackup looks for pg_basebackup beside pg_ctl (the same
// PostgreSQL version), then on PATH.
func findBaseBackup(pgCtl string) (string, error) {
	if real, err := filepath.EvalSymlinks(pgCtl); err == nil {
		p := filepath.Join(filepath.Dir(real), "pg_basebackup")
		if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	p, err := exec.LookPath("pg_basebackup")
	if err != nil {
		return "", fmt.Errorf("pgcluster: pg_basebackup not found beside %s or on PATH (it comes with the PostgreSQL 15 binaries): %w", pgCtl, err)
	}
	return p, nil
}

// baseBackup copies the primary into r's data directory, with the slot and
// the standby settings. Callers hold r.mu and the directory lock.
func (r *Cluster) baseBackup(ctx context.Context, bin string) error {
	t0 := time.Now()
	tmp := filepath.Join(r.dir, "data.basebackup")
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("pgcluster: replica %s: %w", r.dir, err)
	}
	args := []string{"-h", "127.0.0.1", "-p", strconv.Itoa(r.primary.Port()), "-U", superuser,
		"-D", tmp, "-R", "-X", "stream", "-C", "-S", r.slot, "-c", "fast"}
	if r.ephemeral {
		args = append(args, "--no-sync")
	}
	out, err := r.acct.command(ctx, r.dir, bin, args...).CombinedOutput()
	if err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("pgcluster: pg_basebackup of port %d into %s: %w\n%s", r.primary.Port(), r.dir, err, tailLines(out, 20))
	}
	if err := os.Rename(tmp, r.dataDir); err != nil {
		return fmt.Errorf("pgcluster: replica %s: %w", r.dir, err)
	}
	r.logf("pgcluster: pg_basebackup of port %d into %s (slot %s) %.1fs", r.primary.Port(), r.dir, r.slot, time.Since(t0).Seconds())
	return nil
}

// Primary is the cluster a replica streams from; nil for a primary.
func (c *Cluster) Primary() *Cluster { return c.primary }

// dropSlot removes a replica's replication slot from its primary, if the
// primary still runs: a slot nobody reads from holds WAL forever.
func (c *Cluster) dropSlot(ctx context.Context) error {
	if c.primary == nil || c.slot == "" {
		return nil
	}
	if _, ok := c.primary.runningServer(); !ok {
		return nil
	}
	conn, err := pgx.Connect(ctx, c.primary.URL("postgres"))
	if err != nil {
		return fmt.Errorf("pgcluster: drop slot %s: %w", c.slot, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	// The walsender may take a moment to let go of the slot after the
	// replica stopped.
	for attempt := 0; ; attempt++ {
		_, err = conn.Exec(ctx, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1", c.slot)
		if err == nil || attempt >= 50 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("pgcluster: drop slot %s: %w", c.slot, err)
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return hex.EncodeToString(b)
}

// CatchUp waits until the replica has replayed everything its primary had
// written when CatchUp was called (tests: "the replica has it now"). The
// target is the insert position: with synchronous_commit off (the test
// clusters) pg_current_wal_lsn, the write position, can stand before a
// commit that has already answered, and the row is then not there yet.
func (c *Cluster) CatchUp(ctx context.Context) error {
	if c.primary == nil {
		return errors.New("pgcluster: CatchUp: not a replica")
	}
	var target string
	if err := queryOne(ctx, c.primary.URL("postgres"), "SELECT pg_current_wal_insert_lsn()::text", &target); err != nil {
		return fmt.Errorf("pgcluster: catch up: primary: %w", err)
	}
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return fmt.Errorf("pgcluster: catch up: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for {
		var done bool
		if err := conn.QueryRow(ctx, "SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn", target).Scan(&done); err != nil {
			return fmt.Errorf("pgcluster: catch up: %w", err)
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pgcluster: catch up to %s: %w", target, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func queryOne(ctx context.Context, url, sql string, dest any) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return conn.QueryRow(ctx, sql).Scan(dest)
}
