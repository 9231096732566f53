// Package bench measures the sync server against the physical limit: the same
// Postgres driven directly with pgx, side by side in one run, so the ratios
// hold on a noisy machine. It starts the real server in-process on loopback,
// seeds its own tenants, and runs the phases push, pull and devices, sampling
// the process's memory while they run. The phase modes then measures, the same
// way, what the pooler-safe way of sending statements costs against named
// prepared statements on a direct connection.
//
// It is a tool, not a test: cmd/syncproxy-bench runs it, and one quick
// smoke test checks that it still produces sane figures.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"
)

// Options sizes a run. Zero values are not defaults: start from Defaults or Quick.
type Options struct {
	// DatabaseURL is an existing database to bench against (its own tenants
	// are created there and deleted afterwards). Empty: a throwaway cluster
	// (fsync=off) is started and removed.
	DatabaseURL string
	// DBMaxConns is the server's pool size (SYNC_DB_MAX_CONNS).
	DBMaxConns int32

	PushBatches int // pushes of PushRows costbook_items, each over HTTP and raw
	PushRows    int

	PullRows   int   // rows of the pulled tenant
	PullLimits []int // page sizes to pull with; the first is the one the target applies to
	PullReps   int   // full pulls per limit and side; the median is reported

	Devices          int // concurrent simulated devices
	DevicesPerTenant int // devices sharing one contractor (each its own auth user)
	DevicesDuration  time.Duration
	DeviceRows       int // rows per device push
	// DeviceInterval paces each device to one loop per interval (a first
	// loop at a random offset); 0 loops back to back, which saturates the
	// server: then latency is devices ÷ throughput (Little's law).
	DeviceInterval time.Duration
	// PacedInterval is the "devices syncing on a timer" phase: the same
	// devices, one loop each per PacedInterval.
	PacedInterval time.Duration

	// CompareBinary is a syncproxy binary of another version (the "before"
	// of a before/after). The compare phase runs the closed-loop devices
	// against it and against this build, both as separate processes on the
	// same cluster, alternating CompareRounds times, for CompareDuration
	// each. Empty: no compare phase.
	CompareBinary   string
	CompareLabel    string
	SelfBinary      string // this build's syncproxy binary (the "after"), run as `serve`; required with CompareBinary
	CompareRounds   int
	CompareDuration time.Duration

	// ModesSlice and ModesRounds shape the modes phase: every server serves
	// all devices for one slice in turn, ModesRounds times.
	ModesSlice  time.Duration
	ModesRounds int

	// The live phase (issue 19): LiveTenants × LiveDevicesPerTenant devices
	// holding pulls while one device per tenant pushes a row a second, for
	// LiveDuration per run; then LiveHeld pulls held on one instance.
	LiveTenants          int
	LiveDevicesPerTenant int
	LiveDuration         time.Duration
	LiveHeld             int

	// Phases limits the run to some of phaseNames (profiling, or one phase
	// alone: `-phases attack`); empty runs all.
	Phases []string
	// CPUProfile, if set, is a path prefix: each phase writes PREFIX.PHASE.pprof.
	CPUProfile string
	// Progress receives one line per phase (and setup steps). nil discards.
	Progress io.Writer
	// Quick marks a reduced run (smoke tests); its figures are not comparable.
	Quick bool
}

// Defaults is the full run the targets are written for.
func Defaults() Options {
	return Options{
		DBMaxConns:       DefaultDBMaxConns,
		PushBatches:      30,
		PushRows:         1000,
		PullRows:         10000,
		PullLimits:       []int{1000, 5000},
		PullReps:         5,
		Devices:          200,
		DevicesPerTenant: 4,
		DevicesDuration:  30 * time.Second,
		DeviceRows:       10,
		PacedInterval:    time.Second,
		CompareRounds:    2,
		CompareDuration:  15 * time.Second,
		ModesSlice:       2 * time.Second,
		ModesRounds:      5,

		LiveTenants:          50,
		LiveDevicesPerTenant: 4,
		LiveDuration:         20 * time.Second,
		LiveHeld:             10000,
	}
}

// Quick is a few-second run with the same shape, for smoke tests.
func Quick() Options {
	o := Defaults()
	o.Quick = true
	o.PushBatches, o.PushRows = 3, 200
	o.PullRows, o.PullLimits, o.PullReps = 2000, []int{500, 1000}, 2
	o.Devices, o.DevicesPerTenant, o.DevicesDuration = 20, 4, 2*time.Second
	o.CompareRounds, o.CompareDuration = 1, 2*time.Second
	o.ModesSlice, o.ModesRounds = 300*time.Millisecond, 1
	o.LiveTenants, o.LiveDuration, o.LiveHeld = 5, 2*time.Second, 200
	return o
}

// phaseNames are the phases in the order a run measures them.
var phaseNames = []string{"push", "pull", "devices", "paced", "compare", "modes", "ledger", "attack", "replicas", "live"}

// DefaultDBMaxConns is the bench's server pool size. Measured on 2 cores
// with 200 devices back to back: 4 to 8 connections gave the most requests/s
// (880-1050), 16 fewer, 32 about a third fewer with twice the Postgres CPU
// per request: past a few active backends per core, more connections only add
// lock and context-switch work, and requests queue in the pool either way.
const DefaultDBMaxConns = 8

// runs says whether the run includes phase.
func (o Options) runs(phase string) bool {
	return len(o.Phases) == 0 || slices.Contains(o.Phases, phase)
}

func (o Options) validate() error {
	var errs []error
	check := func(ok bool, msg string) {
		if !ok {
			errs = append(errs, errors.New(msg))
		}
	}
	check(o.DBMaxConns >= 1, "db max conns must be at least 1")
	check(o.PushBatches >= 1 && o.PushRows >= 1, "push needs at least one batch of one row")
	check(o.PullRows >= 1 && len(o.PullLimits) > 0 && o.PullReps >= 1, "pull needs rows, a limit and a repetition")
	for _, l := range o.PullLimits {
		check(l >= 1 && l <= 5000, fmt.Sprintf("pull limit %d is outside the contract's 1..5000", l))
	}
	check(o.Devices >= 1 && o.DevicesPerTenant >= 1, "devices needs at least one device per tenant")
	check(o.DevicesDuration > 0, "devices duration must be positive")
	check(o.DeviceRows >= 1, "a device push needs at least one row")
	check(o.DeviceInterval >= 0, "devices interval must not be negative")
	check(o.PacedInterval > 0, "paced interval must be positive")
	check(o.CompareBinary == "" || (o.CompareRounds >= 1 && o.CompareDuration > 0), "compare needs rounds and a duration")
	check(o.CompareBinary == "" || o.SelfBinary != "", "compare needs this build's syncproxy binary too (-self; scripts/bench.sh builds it)")
	check(!o.runs("attack") || o.SelfBinary != "", "attack runs this build's syncproxy binary as its own process (-self bin/syncproxy; scripts/bench.sh builds it)")
	check(!o.runs("live") || o.SelfBinary != "", "live runs this build's syncproxy binary as its own processes (-self bin/syncproxy; scripts/bench.sh builds it)")
	check(!o.runs("live") || (o.LiveTenants >= 1 && o.LiveDevicesPerTenant >= 2 && o.LiveDuration > 0 && o.LiveHeld >= 1),
		"live needs tenants of at least 2 devices, a duration and held pulls")
	check(o.ModesSlice > 0 && o.ModesRounds >= 1, "modes needs a positive slice and at least one round")
	for _, ph := range o.Phases {
		check(slices.Contains(phaseNames, ph), fmt.Sprintf("unknown phase %q (want one of %v)", ph, phaseNames))
	}
	return errors.Join(errs...)
}

// Run starts everything, measures every phase and stops everything it
// started, also when ctx is cancelled (Ctrl-C).
func Run(ctx context.Context, o Options) (res Result, err error) {
	if err := o.validate(); err != nil {
		return Result{}, fmt.Errorf("bench: %w", err)
	}
	p := newProgress(o.Progress)
	res.StartedAt = time.Now().UTC()
	res.Quick = o.Quick

	e, err := start(ctx, o, p)
	if err != nil {
		return Result{}, err
	}
	defer func() {
		if cerr := e.close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
		p.line("stopped the server%s", map[bool]string{true: " and removed the throwaway cluster", false: ""}[e.cluster != nil])
	}()
	res.Machine, err = machineInfo(ctx, e)
	if err != nil {
		return Result{}, err
	}
	res.Setup = e.setup()

	var devices *fleet // shared by the closed-loop and paced phases
	fleetOf := func(ctx context.Context) (*fleet, error) {
		if devices == nil {
			t0 := time.Now()
			var err error
			if devices, err = newFleet(ctx, e, o); err != nil {
				return nil, err
			}
			p.phase(t0, "devices", "%d devices provisioned and caught up", len(devices.devices))
		}
		return devices, nil
	}
	phases := []struct {
		name string
		run  func(context.Context) error
	}{
		{"push", func(ctx context.Context) (err error) { res.Push, err = runPush(ctx, e, o, p); return err }},
		{"pull", func(ctx context.Context) (err error) { res.Pull, err = runPull(ctx, e, o, p); return err }},
		{"devices", func(ctx context.Context) error {
			f, err := fleetOf(ctx)
			if err == nil {
				res.Devices, err = runDevices(ctx, e, o, f, p)
			}
			return err
		}},
		{"paced", func(ctx context.Context) error {
			f, err := fleetOf(ctx)
			if err == nil {
				res.Paced, err = runPaced(ctx, e, o, f, p)
			}
			return err
		}},
		{"compare", func(ctx context.Context) (err error) {
			if o.CompareBinary == "" {
				p.line("compare: skipped (no -compare-with binary)")
				return nil
			}
			res.Compare, err = runCompare(ctx, e, o, p)
			return err
		}},
		{"modes", func(ctx context.Context) (err error) { res.Modes, err = runModes(ctx, e, o, p); return err }},
		{"ledger", func(ctx context.Context) (err error) { res.Ledger, err = runLedger(ctx, e, o, p); return err }},
		{"attack", func(ctx context.Context) (err error) { res.Attack, err = runAttack(ctx, e, o, p); return err }},
		{"replicas", func(ctx context.Context) (err error) { res.Replicas, err = runReplicas(ctx, e, o, p); return err }},
		{"live", func(ctx context.Context) (err error) { res.Live, err = runLive(ctx, e, o, p); return err }},
	}
	for _, ph := range phases {
		if len(o.Phases) > 0 && !slices.Contains(o.Phases, ph.name) {
			continue
		}
		stopProfile, err := startCPUProfile(o.CPUProfile, ph.name)
		if err != nil {
			return Result{}, err
		}
		err = ph.run(ctx)
		if perr := stopProfile(); perr != nil && err == nil {
			err = perr
		}
		if ctx.Err() != nil {
			return Result{}, fmt.Errorf("bench: interrupted during %s: %w", ph.name, ctx.Err())
		}
		if err != nil {
			return Result{}, fmt.Errorf("bench %s: %w", ph.name, err)
		}
	}
	res.Memory = Memory{ProcessVmHWMBytes: readProcStatus("VmHWM"),
		Note: "the server runs in this process with the bench's clients and raw side: every figure is an upper bound for the server alone"}
	res.Targets = targets(res)
	res.Seconds = time.Since(res.StartedAt).Seconds()
	return res, nil
}
