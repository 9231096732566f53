package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRun_Quick_FillsEveryFigure runs the whole bench at quick sizes on its
// own throwaway cluster: every phase must produce sane, non-zero figures and
// no request may fail. It checks behaviour, never speed.
func TestRun_Quick_FillsEveryFigure(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL cluster")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	o := Quick()
	o.DevicesDuration = time.Second
	// The compare phase runs two server processes: here both are this
	// build, which checks the phase, not a speed-up.
	bin := filepath.Join(t.TempDir(), "syncproxy")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/syncproxy").CombinedOutput(); err != nil {
		t.Fatalf("build syncproxy: %v\n%s", err, out)
	}
	o.CompareBinary, o.SelfBinary, o.CompareLabel = bin, bin, "same build"
	var progress bytes.Buffer
	o.Progress = &progress

	res, err := Run(ctx, o)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, progress.String())
	}

	positive := map[string]float64{
		"push HTTP rows/s":     res.Push.HTTP.RowsPerSec,
		"push raw rows/s":      res.Push.Raw.RowsPerSec,
		"push ratio":           res.Push.Ratio,
		"push server rows/s":   res.Push.Server.RowsPerSec,
		"devices requests/s":   res.Devices.RequestsPerSec,
		"devices p50":          res.Devices.Latency.P50,
		"devices p99":          res.Devices.Latency.P99,
		"devices server p99":   res.Devices.ServerLatency.P99,
		"pull peak RSS":        float64(res.Pull.Memory.PeakRSSBytes),
		"pull peak heap":       float64(res.Pull.Memory.PeakHeapInuseBytes),
		"devices peak RSS":     float64(res.Devices.Memory.PeakRSSBytes),
		"process VmHWM":        float64(res.Memory.ProcessVmHWMBytes),
		"pull samples":         float64(res.Pull.Memory.Samples),
		"devices pool acquire": float64(res.Devices.Pool.Acquires),
	}
	for name, v := range positive {
		if !(v > 0) || math.IsInf(v, 0) {
			t.Errorf("%s = %v, want a positive number", name, v)
		}
	}
	if len(res.Push.HTTP.BatchMs) != o.PushBatches || len(res.Push.Raw.BatchMs) != o.PushBatches {
		t.Errorf("push timed %d HTTP and %d raw batches, want %d each", len(res.Push.HTTP.BatchMs), len(res.Push.Raw.BatchMs), o.PushBatches)
	}
	if len(res.Pull.Runs) != len(o.PullLimits) {
		t.Fatalf("pull has %d runs, want one per limit (%d)", len(res.Pull.Runs), len(o.PullLimits))
	}
	for _, run := range res.Pull.Runs {
		if run.HTTPMs <= 0 || run.RawMs <= 0 || run.ServerMs <= 0 || run.Ratio <= 0 || run.BytesPerPull <= 0 {
			t.Errorf("pull limit %d: a figure is not positive: %+v", run.Limit, run)
		}
		// The contractor row comes first, so HTTP pages hold one row more in all.
		if wantRaw := (o.PullRows + run.Limit - 1) / run.Limit; run.RawPages != wantRaw || run.HTTPPages < wantRaw {
			t.Errorf("pull limit %d: %d HTTP pages, %d raw pages; want >= %d and %d", run.Limit, run.HTTPPages, run.RawPages, wantRaw, wantRaw)
		}
		if len(run.HTTPAllMs) != o.PullReps || len(run.RawAllMs) != o.PullReps {
			t.Errorf("pull limit %d: %d/%d repetitions, want %d", run.Limit, len(run.HTTPAllMs), len(run.RawAllMs), o.PullReps)
		}
	}
	d := res.Devices
	if d.Errors != 0 {
		t.Errorf("devices: %d errors, want 0: %q", d.Errors, d.ErrorSamples)
	}
	if d.Devices != o.Devices || d.Tenants != o.Devices/o.DevicesPerTenant {
		t.Errorf("devices: %d devices in %d tenants, want %d in %d", d.Devices, d.Tenants, o.Devices, o.Devices/o.DevicesPerTenant)
	}
	if d.Pushes < d.Devices || d.Pulls < d.Pushes || d.Requests != d.Pushes+d.Pulls {
		t.Errorf("devices: %d pushes, %d pulls, %d requests: every device must push and pull at least once", d.Pushes, d.Pulls, d.Requests)
	}
	if d.RowsPushed != d.Pushes*o.DeviceRows {
		t.Errorf("devices: %d rows pushed in %d pushes of %d", d.RowsPushed, d.Pushes, o.DeviceRows)
	}
	// Each device pulls its own and its tenant's other devices' rows.
	if d.RowsPulled < d.RowsPushed {
		t.Errorf("devices: pulled %d rows, pushed %d: a device must at least get its own rows back", d.RowsPulled, d.RowsPushed)
	}
	if l := d.Latency; !(l.P50 <= l.P95 && l.P95 <= l.P99 && l.P99 <= l.Max) || l.Count != d.Requests {
		t.Errorf("devices latency is not a distribution of every request: %+v", l)
	}
	if p := res.Paced; p.Errors != 0 || p.Devices != o.Devices || p.IntervalMs != ms(o.PacedInterval) || p.Requests == 0 {
		t.Errorf("paced devices: %+v", p)
	}
	c := res.Compare
	if c.Rounds != o.CompareRounds || c.Before.Requests == 0 || c.After.Requests == 0 || c.Before.Errors+c.After.Errors != 0 ||
		!(c.Ratio > 0) || !(c.PushRatio > 0) {
		t.Errorf("compare: %+v", c)
	}
	if len(res.Modes.Runs) != len(modeVariants) {
		t.Fatalf("modes: %d runs, want one per variant (%d)", len(res.Modes.Runs), len(modeVariants))
	}
	for _, r := range res.Modes.Runs {
		if r.Requests == 0 || !(r.RequestsPerSec > 0) || !(r.Ratio > 0) || r.Latency.Count != r.Requests || r.Errors != 0 {
			t.Errorf("modes %q: %d requests, %.0f req/s, ratio %.2f, %d latencies, %d errors %q; want requests, no errors",
				r.Name, r.Requests, r.RequestsPerSec, r.Ratio, r.Latency.Count, r.Errors, r.ErrorSamples)
		}
	}
	if res.Modes.Runs[0].ExecMode != "auto" || res.Modes.Runs[0].Ratio != 1 || !res.Modes.Runs[0].TimeoutPerTransaction {
		t.Errorf("modes: the first run must be the default every ratio is taken against: %+v", res.Modes.Runs[0])
	}
	// The ledger phase ran the devices against a server with the device
	// ledger and one without: both served, neither failed.
	if len(res.Ledger.Runs) != 2 || res.Ledger.Runs[0].Ratio != 1 {
		t.Fatalf("ledger: %+v, want the ledger-on server first, then off", res.Ledger.Runs)
	}
	for _, r := range res.Ledger.Runs {
		if r.Requests == 0 || !(r.RequestsPerSec > 0) || r.Latency.Count != r.Requests || r.Errors != 0 {
			t.Errorf("ledger %q: %d requests, %.0f req/s, %d latencies, %d errors %q", r.Name, r.Requests, r.RequestsPerSec, r.Latency.Count, r.Errors, r.ErrorSamples)
		}
	}
	m := res.Machine
	if m.NProc < 1 || m.GoVersion == "" || m.Postgres == "" || m.Fsync != "off" || m.CPUModel == "" {
		t.Errorf("machine info incomplete (a throwaway cluster has fsync=off): %+v", m)
	}
	// Every attack ran against the compare binary and this build, each on
	// a process of its own that answered it.
	if len(res.Attack.Runs) != 2*len(attacks) {
		t.Fatalf("attack: %d runs, want %d", len(res.Attack.Runs), 2*len(attacks))
	}
	for _, a := range res.Attack.Runs {
		if a.PeakRSSBytes <= 0 || a.BaselineRSSBytes <= 0 || a.PeakRSSBytes < a.BaselineRSSBytes || len(a.Answers) == 0 {
			t.Errorf("attack %s on %s: %+v", a.Attack, a.Server, a)
		}
	}
	// The replicas phase ran the devices against a server reading a
	// streaming replica of the cluster: both sources served pulls, none failed.
	if r := res.Replicas; r.Devices != o.Devices || r.Pulls == 0 || r.Errors != 0 || r.OnReplica == 0 || r.OnReplica+r.OnPrimary < r.Pulls ||
		!(r.ReplicaShare > 0) || r.PullLatency.Count != r.Pulls {
		t.Errorf("replicas: %+v", r)
	}
	// The live phase: every pushed row reached every other device of its
	// tenant, on one instance and across two (listen, pooler only), and the
	// held pulls were held and woken.
	if l := res.Live; len(l.Runs) != 3 || l.HeldPulls != o.LiveHeld || !(l.HeldPeakRssMiB > 0) || l.HeldWakeMs.Count == 0 {
		t.Errorf("live: %+v", l)
	} else {
		for _, run := range l.Runs {
			if run.Pushes == 0 || run.Missed != 0 || run.Errors != 0 || run.Latency.Count != run.Pushes*(o.LiveDevicesPerTenant-1) {
				t.Errorf("live %s: %+v", run.Name, run)
			}
		}
	}
	if len(res.Targets) != 14+len(attacks) {
		t.Errorf("%d targets, want %d", len(res.Targets), 14+len(attacks))
	}

	var table bytes.Buffer
	if err := res.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"fsync=off", "push", "pull", "DEVICES", "DEVICES ON A TIMER", "BEFORE/AFTER", "EXEC MODES", "DEVICE LEDGER", "ATTACKS", "REPLICAS", "LIVE PULLS", "MEMORY", "TARGETS"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	for _, phase := range []string{"push", "pull", "devices", "paced", "compare", "modes", "ledger", "attack", "replicas done", "stopped the server and removed the throwaway cluster"} {
		if !strings.Contains(progress.String(), phase) {
			t.Errorf("progress lacks a line for %q:\n%s", phase, progress.String())
		}
	}
	path := filepath.Join(t.TempDir(), "bench", "results.json")
	if err := res.WriteJSON(path); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var back Result
	if err := json.Unmarshal(raw, &back); err != nil || back.Push.Ratio != res.Push.Ratio {
		t.Errorf("results.json does not round-trip (%v)", err)
	}
}
