package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/syncproxy/syncproxy/internal/bench"
)

// runBench measures the server against raw Postgres (internal/bench) and
// writes the figures as a table and as JSON.
func runBench(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `usage: syncproxy-bench [flags]

Starts the real server in-process on 127.0.0.1, on a throwaway PostgreSQL
cluster (fsync=off) or on DATABASE_URL if set (its own tenants are created
there and deleted afterwards), and measures push, pull and many devices
against the same statements run directly with pgx; then (modes) the
pooler-safe default against named prepared statements, in the same run;
then (attack) replays the three high attacks of issue 17 against fresh
server processes with the default settings and prints each one's peak RSS
(alone: -phases attack -self bin/syncproxy [-compare-with OLD]); then
(replicas) starts a streaming replica of the throwaway cluster (or reads the
first of SYNC_REPLICA_DATABASE_URLS with DATABASE_URL) and runs the devices on
a timer against a server that reads their pulls there; then (live) holds
pulls against -self server processes while devices push (one instance,
across two through PgBouncer with LISTEN and with the clock poll), and holds
10,000 pulls on one instance (peak RSS, wake time).
modes needs a direct connection: with DATABASE_URL through a transaction
pooler, leave it out (-phases push,pull,devices). compare runs two syncproxy
binaries as servers, -compare-with and -self, and attack runs -self (and
-compare-with, if given); scripts/bench.sh (make bench) builds both.

flags:`)
		fs.PrintDefaults()
	}
	quick := fs.Bool("quick", false, "reduced sizes (a few seconds), for smoke tests")
	out := fs.String("out", "bench/results.json", "where to write the figures as JSON")
	duration := fs.Duration("devices-duration", 0, "how long the devices phase runs (default 30s, 2s with -quick)")
	devices := fs.Int("devices", 0, "concurrent devices (default 200, 20 with -quick)")
	interval := fs.Duration("devices-interval", 0, "pace each device to one push+pull loop per interval (default 0: back to back, saturating)")
	perTenant := fs.Int("devices-per-tenant", 0, "devices sharing one contractor (default 4)")
	maxConns := fs.Int("db-max-conns", 0, fmt.Sprintf("server pool size (default: SYNC_DB_MAX_CONNS if set, else %d)", bench.DefaultDBMaxConns))
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile per phase to PREFIX.PHASE.pprof")
	phases := fs.String("phases", "", "comma-separated subset of push,pull,devices,paced,compare,modes,ledger,attack,replicas,live (default all)")
	compareWith := fs.String("compare-with", "", "another syncproxy binary: the compare phase runs the closed-loop devices against it and this build, same run, and the attack phase replays its attacks against it too")
	compareLabel := fs.String("compare-label", "", "how to name the -compare-with binary in the report (default its path)")
	self := fs.String("self", "", "the syncproxy binary of this build, the \"after\" side of compare (go build ./cmd/syncproxy)")
	pushBatches := fs.Int("push-batches", 0, "push batches timed on each side (default 10, 3 with -quick)")
	modesSlice := fs.Duration("modes-slice", 0, "modes phase: how long each server serves the devices in turn (default 2s)")
	modesRounds := fs.Int("modes-rounds", 0, "modes phase: how many times the servers take turns (default 5)")
	liveDuration := fs.Duration("live-duration", 0, "live phase: how long each wake-latency run pushes (default 20s, 2s with -quick)")
	liveHeld := fs.Int("live-held", 0, "live phase: pulls held at once on one instance (default 10000, 200 with -quick)")
	if err := fs.Parse(args); err != nil {
		return err
	}

	o := bench.Defaults()
	if *quick {
		o = bench.Quick()
	}
	o.DatabaseURL = os.Getenv("DATABASE_URL")
	if v := os.Getenv("SYNC_DB_MAX_CONNS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("SYNC_DB_MAX_CONNS must be an integer, got %q", v)
		}
		o.DBMaxConns = int32(n)
	}
	if *maxConns > 0 {
		o.DBMaxConns = int32(*maxConns)
	}
	if *duration > 0 {
		o.DevicesDuration = *duration
	}
	o.DeviceInterval = *interval
	if *devices > 0 {
		o.Devices = *devices
	}
	if *perTenant > 0 {
		o.DevicesPerTenant = *perTenant
	}
	if *pushBatches > 0 {
		o.PushBatches = *pushBatches
	}
	o.CompareBinary, o.CompareLabel, o.SelfBinary = *compareWith, *compareLabel, *self
	if *modesSlice > 0 {
		o.ModesSlice = *modesSlice
	}
	if *modesRounds > 0 {
		o.ModesRounds = *modesRounds
	}
	if *liveDuration > 0 {
		o.LiveDuration = *liveDuration
	}
	if *liveHeld > 0 {
		o.LiveHeld = *liveHeld
	}
	if *phases != "" {
		o.Phases = strings.Split(*phases, ",")
	}
	o.CPUProfile, o.Progress = *cpuProfile, os.Stderr

	res, err := bench.Run(ctx, o)
	if err != nil {
		return err
	}
	if err := res.WriteTable(os.Stdout); err != nil {
		return err
	}
	if err := res.WriteJSON(*out); err != nil {
		return fmt.Errorf("write %s: %w", *out, err)
	}
	fmt.Printf("\nfigures written to %s\n", *out)
	return nil
}
