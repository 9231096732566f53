package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"
)

// The issues' targets (2 cores, one run); issue 23 raised push, pull and
// the before/after, whose baseline (scripts/bench.sh) is e0a8c14.
const (
	targetPushRatio = 0.85
	targetPullRatio = 1.2
	targetP99Ms     = 100
	targetPacedP99  = 25
	targetCompare   = 1.3
	targetPullMiB   = 150
)

func targets(r Result) []Target {
	var ts []Target
	if r.Push.Batches > 0 {
		ts = append(ts, Target{Name: "push rows/s HTTP ÷ raw", Want: fmt.Sprintf("≥ %.2f", targetPushRatio),
			Got: fmt.Sprintf("%.2f", r.Push.Ratio), Met: r.Push.Ratio >= targetPushRatio})
	}
	if len(r.Pull.Runs) > 0 {
		run := r.Pull.Runs[0]
		ts = append(ts, Target{Name: fmt.Sprintf("full pull of %d rows (limit %d) HTTP ÷ raw", r.Pull.Rows, run.Limit),
			Want: fmt.Sprintf("≤ %.1f×", targetPullRatio), Got: fmt.Sprintf("%.2f×", run.Ratio), Met: run.Ratio <= targetPullRatio})
	}
	if r.Devices.Devices > 0 {
		ts = append(ts,
			Target{Name: fmt.Sprintf("%d devices: errors", r.Devices.Devices), Want: "0",
				Got: fmt.Sprint(r.Devices.Errors), Met: r.Devices.Errors == 0},
			Target{Name: fmt.Sprintf("%d devices: p99 latency", r.Devices.Devices), Want: fmt.Sprintf("≤ %d ms", targetP99Ms),
				Got: fmt.Sprintf("%.1f ms", r.Devices.Latency.P99), Met: r.Devices.Latency.P99 <= targetP99Ms})
	}
	if r.Paced.Devices > 0 {
		ts = append(ts,
			Target{Name: fmt.Sprintf("%d devices syncing every %s: errors", r.Paced.Devices, time.Duration(r.Paced.IntervalMs*float64(time.Millisecond))),
				Want: "0", Got: fmt.Sprint(r.Paced.Errors), Met: r.Paced.Errors == 0},
			Target{Name: fmt.Sprintf("%d devices syncing every %s: p99 latency", r.Paced.Devices, time.Duration(r.Paced.IntervalMs*float64(time.Millisecond))),
				Want: fmt.Sprintf("≤ %d ms", targetPacedP99), Got: fmt.Sprintf("%.1f ms", r.Paced.Latency.P99), Met: r.Paced.Latency.P99 <= targetPacedP99})
	}
	if r.Compare.Rounds > 0 {
		c := r.Compare
		ts = append(ts, Target{Name: fmt.Sprintf("closed-loop devices req/s, this build ÷ %s (same run)", c.Before.Label),
			Want: fmt.Sprintf("≥ %.1f×", targetCompare), Got: fmt.Sprintf("%.2f×", c.Ratio), Met: c.Ratio >= targetCompare},
			Target{Name: fmt.Sprintf("push rows/s, this build ÷ %s (same run)", c.Before.Label),
				Want: "≥ 0.95×", Got: fmt.Sprintf("%.2f×", c.PushRatio), Met: c.PushRatio >= 0.95})
	}
	if len(r.Pull.Runs) > 0 {
		ts = append(ts, Target{Name: fmt.Sprintf("peak RSS during the %d-row pull", r.Pull.Rows), Want: fmt.Sprintf("≤ %d MiB", targetPullMiB),
			Got: fmt.Sprintf("%.0f MiB", r.Pull.Memory.PeakRSSMiB), Met: r.Pull.Memory.PeakRSSMiB <= targetPullMiB})
	}
	if r.Replicas.Devices > 0 {
		ts = append(ts, Target{Name: fmt.Sprintf("%d devices reading a replica: errors", r.Replicas.Devices), Want: "0",
			Got: fmt.Sprint(r.Replicas.Errors), Met: r.Replicas.Errors == 0})
	}
	if len(r.Live.Runs) > 0 {
		for _, run := range r.Live.Runs {
			want := map[string]int{"one instance": targetLiveP99Ms, "across instances (listen)": targetLiveCrossP99Ms,
				"across instances (pooler only)": targetLivePoolerOnlyP99Ms}[run.Name]
			ts = append(ts, Target{Name: "live pulls, " + run.Name + ": p99 from the pusher's 200", Want: fmt.Sprintf("≤ %d ms", want),
				Got: fmt.Sprintf("%.2f ms", run.Latency.P99), Met: run.Latency.Count > 0 && run.Latency.P99 <= float64(want) && run.Missed == 0})
		}
	}
	if r.Live.HeldPeakRssMiB > 0 {
		ts = append(ts, Target{Name: fmt.Sprintf("peak RSS with %d held pulls", r.Live.HeldPulls), Want: fmt.Sprintf("≤ %d MiB", targetLiveHeldPeakRSSMiB),
			Got: fmt.Sprintf("%.0f MiB", r.Live.HeldPeakRssMiB), Met: r.Live.HeldPeakRssMiB <= targetLiveHeldPeakRSSMiB})
	}
	for _, a := range r.Attack.Runs {
		if a.ThisBuild {
			ts = append(ts, Target{Name: "peak RSS of the server under the " + a.Attack + " attack", Want: fmt.Sprintf("≤ %d MiB", targetAttackMiB),
				Got: fmt.Sprintf("%.0f MiB", a.PeakRSSMiB), Met: a.PeakRSSBytes > 0 && a.PeakRSSMiB <= targetAttackMiB})
		}
	}
	return ts
}

// WriteTable prints the figures for a human: the machine, then one section
// per phase that ran, then the targets.
func (r Result) WriteTable(w io.Writer) error {
	var b strings.Builder
	r.writeSetup(&b)
	if r.Push.Batches > 0 || len(r.Pull.Runs) > 0 {
		r.writeComparison(&b)
	}
	if r.Devices.Devices > 0 {
		writeDevices(&b, "DEVICES", r.Devices)
	}
	if r.Paced.Devices > 0 {
		writeDevices(&b, "DEVICES ON A TIMER", r.Paced)
	}
	if r.Compare.Rounds > 0 {
		r.writeCompare(&b)
	}
	if len(r.Modes.Runs) > 0 {
		r.writeModes(&b)
	}
	if len(r.Ledger.Runs) > 0 {
		r.writeLedger(&b)
	}
	if len(r.Attack.Runs) > 0 {
		r.writeAttack(&b)
	}
	if len(r.Live.Runs) > 0 || r.Live.HeldPeakRssMiB > 0 {
		r.writeLive(&b)
	}
	if r.Replicas.Devices > 0 {
		fmt.Fprintf(&b, "\nREPLICAS: %s\n  %s\n", r.Replicas.Shape, r.Replicas.summary())
		for _, s := range r.Replicas.ErrorSamples {
			fmt.Fprintf(&b, "  error: %s\n", s)
		}
	}
	r.writeMemory(&b)
	b.WriteString("\nTARGETS\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, t := range r.Targets {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.Name, t.Want, t.Got, map[bool]string{true: "met", false: "MISSED"}[t.Met])
	}
	tw.Flush()
	_, err := io.WriteString(w, b.String())
	return err
}

func (r Result) writeSetup(b *strings.Builder) {
	m := r.Machine
	fmt.Fprintf(b, "\nsyncproxy-bench, %s, %.0fs%s\n", r.StartedAt.Format("2006-01-02 15:04 MST"), r.Seconds,
		map[bool]string{true: " (QUICK run: reduced sizes, not comparable with the targets)"}[r.Quick])
	fmt.Fprintf(b, "machine:  %d × %s, %s, %.0f GiB RAM, %s, GOMAXPROCS=%d\n", m.NProc, m.CPUModel, m.Kernel,
		float64(m.MemTotalBytes)/(1<<30), m.GoVersion, m.GOMAXPROCS)
	fmt.Fprintf(b, "database: PostgreSQL %s, %s; fsync=%s, synchronous_commit=%s, full_page_writes=%s, shared_buffers=%s\n",
		m.Postgres, r.Setup.Database, m.Fsync, m.SynchronousCommit, m.FullPageWrites, m.SharedBuffers)
	if m.Fsync == "off" {
		b.WriteString("          fsync=off: every figure measures our own overhead, not a durable Postgres.\n")
	}
	fmt.Fprintf(b, "server:   in-process, SYNC_DB_MAX_CONNS=%d, SYNC_RATE_LIMIT=%s, log level %s; clients share its process and CPUs\n",
		r.Setup.DBMaxConns, r.Setup.RateLimit, r.Setup.LogLevel)
}

func (r Result) writeComparison(b *strings.Builder) {
	b.WriteString("\n")
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "COMPARISON\tHTTP\tRAW PGX\tRATIO\tTARGET\tSERVER ALONE\tRATIO")
	if p := r.Push; p.Batches > 0 {
		fmt.Fprintf(tw, "push %d × %d costbook_items, rows/s (median batch)\t%.0f\t%.0f\t%.2f\t≥ %.2f\t%.0f\t%.2f\n",
			p.Batches, p.RowsPerBatch, p.HTTP.RowsPerSec, p.Raw.RowsPerSec, p.Ratio, targetPushRatio, p.Server.RowsPerSec, p.ServerRatio)
		fmt.Fprintf(tw, "push, rows/s over all %d batches\t%.0f\t%.0f\t%.2f\t\t%.0f\t%.2f\n",
			p.Batches, p.HTTP.TotalRowsPerSec, p.Raw.TotalRowsPerSec, p.HTTP.TotalRowsPerSec/p.Raw.TotalRowsPerSec,
			p.Server.TotalRowsPerSec, p.Server.TotalRowsPerSec/p.Raw.TotalRowsPerSec)
	}
	for i, run := range r.Pull.Runs {
		target := "(info)"
		if i == 0 {
			target = fmt.Sprintf("≤ %.1f×", targetPullRatio)
		}
		fmt.Fprintf(tw, "pull %d rows, limit %d, ms (median of %d)\t%.0f (%d pages)\t%.0f (%d pages)\t%.2f×\t%s\t%.0f\t%.2f×\n",
			r.Pull.Rows, run.Limit, len(run.HTTPAllMs), run.HTTPMs, run.HTTPPages, run.RawMs, run.RawPages, run.Ratio, target, run.ServerMs, run.ServerRatio)
	}
	tw.Flush()
}

func (r Result) writeCompare(b *strings.Builder) {
	c := r.Compare
	fmt.Fprintf(b, "\nBEFORE/AFTER (same run): %s\n", c.Method)
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVER\tREQUESTS\tREQ/S\tP50 MS\tP99 MS\tERRORS\tPUSH ROWS/S")
	for _, s := range []CompareSide{c.Before, c.After} {
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.1f\t%.1f\t%d\t%.0f\n", s.Label, s.Requests, s.RequestsPerSec, s.Latency.P50, s.Latency.P99, s.Errors, s.PushRowsPerSec)
	}
	tw.Flush()
	fmt.Fprintf(b, "ratios after ÷ before: devices req/s %.2f, push rows/s %.2f\n", c.Ratio, c.PushRatio)
	for _, s := range []CompareSide{c.Before, c.After} {
		for _, e := range s.ErrorSamples {
			fmt.Fprintf(b, "  error (%s): %s\n", s.Label, e)
		}
	}
}

func writeDevices(b *strings.Builder, title string, d DevicesResult) {
	fmt.Fprintf(b, "\n%s: %d = %d tenants × %d devices, %.1fs, push %d rows + delta pull per loop, %s\n",
		title, d.Devices, d.Tenants, d.DevicesPerTenant, d.Seconds, d.RowsPushed/max(d.Pushes, 1),
		pacing(time.Duration(d.IntervalMs*float64(time.Millisecond))))
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "REQUESTS\tCOUNT\tREQ/S\tP50 MS\tP95 MS\tP99 MS\tMAX MS\tERRORS")
	row := func(name string, l Latency, errs string) {
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.1f\t%.1f\t%.1f\t%.1f\t%s\n", name, l.Count, float64(l.Count)/max(d.Seconds, 1e-9),
			l.P50, l.P95, l.P99, l.Max, errs)
	}
	row("all", d.Latency, fmt.Sprint(d.Errors))
	row("push", d.PushLatency, "")
	row("pull", d.PullLatency, "")
	row("server alone", d.ServerLatency, "")
	tw.Flush()
	fmt.Fprintf(b, "server pool: %d conns, %d acquires, %d waited (mean wait %.2f ms per acquire)\n",
		d.Pool.MaxConns, d.Pool.Acquires, d.Pool.WaitedAcquires, d.Pool.MeanAcquireWaitMs)
	for _, s := range d.ErrorSamples {
		fmt.Fprintf(b, "  error: %s\n", s)
	}
}

func (r Result) writeModes(b *strings.Builder) {
	m := r.Modes
	fmt.Fprintf(b, "\nEXEC MODES: %d devices against %d servers on one Postgres (direct connection), %.1fs slices in turn × %d rounds\n",
		m.Devices, len(m.Runs), m.SliceSeconds, m.Rounds)
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVER\tEXEC MODE\tSTATEMENT TIMEOUT\tREQ/S\tVS DEFAULT\tP50 MS\tP99 MS\tERRORS")
	for _, run := range m.Runs {
		timeout := "startup parameter"
		if run.TimeoutPerTransaction {
			timeout = "per transaction"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.0f\t%.2f×\t%.1f\t%.1f\t%d\n", run.Name, run.ExecMode, timeout,
			run.RequestsPerSec, run.Ratio, run.Latency.P50, run.Latency.P99, run.Errors)
	}
	tw.Flush()
	for _, run := range m.Runs {
		fmt.Fprintf(b, "  %s: %s\n", run.Name, run.Note)
		for _, s := range run.ErrorSamples {
			fmt.Fprintf(b, "    error: %s\n", s)
		}
	}
}

func (r Result) writeAttack(b *strings.Builder) {
	fmt.Fprintf(b, "\nATTACKS (issue 17): %s\n", r.Attack.Method)
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVER\tATTACK\tBASELINE RSS\tPEAK RSS\tSECONDS\tANSWERS")
	for _, a := range r.Attack.Runs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.1f\t%s\n", a.Server, a.Attack, mib(a.BaselineRSSBytes), mib(a.PeakRSSBytes),
			a.Seconds, strings.Join(a.Answers, ", "))
	}
	tw.Flush()
	for _, a := range r.Attack.Runs {
		if a.ThisBuild {
			fmt.Fprintf(b, "  %s: %s\n", a.Attack, a.Request)
		}
	}
}

func (r Result) writeMemory(b *strings.Builder) {
	b.WriteString("\nMEMORY (whole process: server + bench clients; sampled every 50 ms)\n")
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DURING\tBASELINE RSS\tPEAK RSS\tPEAK GO HEAP\tALLOCATED\tGCS")
	mem := func(name string, f MemoryFigures) {
		if f.Samples == 0 {
			return
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\n", name, mib(f.BaselineRSSBytes), mib(f.PeakRSSBytes),
			mib(int64(f.PeakHeapInuseBytes)), mib(int64(f.AllocatedBytes)), f.NumGC)
	}
	mem("HTTP pulls", r.Pull.Memory)
	mem("devices", r.Devices.Memory)
	mem("devices on a timer", r.Paced.Memory)
	tw.Flush()
	fmt.Fprintf(b, "process VmHWM (lifetime peak, includes the raw side): %s\n", mib(r.Memory.ProcessVmHWMBytes))
}

func mib(n int64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }

// WriteJSON writes r to path, creating its directory.
func (r Result) WriteJSON(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
