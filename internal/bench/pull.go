package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// seedBatch is how many rows one seeding transaction writes.
const seedBatch = 1000

// runPull seeds a tenant with PullRows costbook_items, then, for every page
// size, alternates full pulls over HTTP (following hasMore) with the same
// SELECTs plus encoding in-process, and reports the medians. Memory is
// sampled only while HTTP pulls run.
func runPull(ctx context.Context, e *env, o Options, p *progress) (PullResult, error) {
	t0 := time.Now()
	contractorID, tokens, err := e.newTenant(ctx, "bench pull", 1)
	if err != nil {
		return PullResult{}, err
	}
	for done := 0; done < o.PullRows; done += seedBatch {
		rows, err := json.Marshal(costbookItems(min(seedBatch, o.PullRows-done), nil, 0))
		if err != nil {
			return PullResult{}, err
		}
		if _, err := rawPush(ctx, e.rawPool, contractorID, rows); err != nil {
			return PullResult{}, fmt.Errorf("seed: %w", err)
		}
	}
	// VACUUM ANALYZE: the planner and the visibility map see the seeded table
	// as a steady-state one would be. (On the bare pool: VACUUM refuses
	// pgtx's implicit transaction.)
	if _, err := e.rawPool.Pool.Exec(ctx, "VACUUM ANALYZE costbook_items"); err != nil {
		return PullResult{}, fmt.Errorf("vacuum: %w", err)
	}

	pt := pullTenant{e: e, contractorID: contractorID, token: tokens[0], want: o.PullRows}
	// Warm up both sides once (connections, statement caches, buffers); the
	// HTTP warm-up decodes every page and checks that every row arrives.
	for _, limit := range o.PullLimits {
		items, _, _, err := pt.http(ctx, limit)
		if err != nil {
			return PullResult{}, fmt.Errorf("warm-up pull: %w", err)
		}
		if items != pt.want {
			return PullResult{}, fmt.Errorf("warm-up pull (limit %d) returned %d costbook_items, want %d", limit, items, pt.want)
		}
	}
	if _, _, _, err := rawPull(ctx, e.rawPool, contractorID, o.PullLimits[0]); err != nil {
		return PullResult{}, fmt.Errorf("warm-up raw pull: %w", err)
	}

	res := PullResult{Rows: o.PullRows,
		Method: "full pull without cursor following hasMore; raw: ReadClock + PullCostbookItems pages (limit+1) + json.Marshal of api.SyncPullResponse per page; " +
			"HTTP adds auth, the other tables' queries, the cursor and the transfer; the timed client reads every byte but parses only hasMore and cursor " +
			"(a warm-up pull decodes every page and checks the row count); server = sum of the server's own request durations; median of the repetitions, HTTP and raw alternating"}
	mem := startSampler(false)
	for _, limit := range o.PullLimits {
		run, err := pt.compare(ctx, limit, o.PullReps, mem)
		if err != nil {
			res.Memory = mem.finish()
			return res, err
		}
		res.Runs = append(res.Runs, run)
	}
	res.Memory = mem.finish()
	parts := ""
	for _, r := range res.Runs {
		parts += fmt.Sprintf("; limit %d: HTTP %.0f ms, raw %.0f ms, ratio %.2f×", r.Limit, r.HTTPMs, r.RawMs, r.Ratio)
	}
	p.phase(t0, "pull", "%d rows%s; peak RSS %.0f MiB", o.PullRows, parts, res.Memory.PeakRSSMiB)
	return res, nil
}

// pullTenant is the seeded tenant both sides pull.
type pullTenant struct {
	e            *env
	contractorID uuid.UUID
	token        string
	want         int // costbook_items a full pull must return
}

// compare alternates reps full pulls over HTTP and raw at one page size.
func (pt pullTenant) compare(ctx context.Context, limit, reps int, mem *sampler) (PullRun, error) {
	run := PullRun{Limit: limit}
	var buf bytes.Buffer
	httpSide := func() error {
		mem.record(true)
		pt.e.observer.start()
		start := time.Now()
		pages, n, err := pt.httpLight(ctx, limit, &buf)
		d := time.Since(start)
		server := pt.e.observer.stop()["/api/sync/pull"]
		mem.record(false)
		if err != nil {
			return fmt.Errorf("HTTP pull (limit %d): %w", limit, err)
		}
		var serverTime time.Duration
		for _, s := range server {
			serverTime += s
		}
		run.HTTPAllMs, run.ServerAllMs = append(run.HTTPAllMs, ms(d)), append(run.ServerAllMs, ms(serverTime))
		run.HTTPPages, run.BytesPerPull = pages, n
		return nil
	}
	rawSide := func() error {
		start := time.Now()
		rows, pages, _, err := rawPull(ctx, pt.e.rawPool, pt.contractorID, limit)
		d := time.Since(start)
		if err != nil {
			return fmt.Errorf("raw pull (limit %d): %w", limit, err)
		}
		if rows != pt.want {
			return fmt.Errorf("raw pull (limit %d) returned %d rows, want %d", limit, rows, pt.want)
		}
		run.RawAllMs, run.RawPages = append(run.RawAllMs, ms(d)), pages
		return nil
	}
	for rep := range reps {
		first, second := httpSide, rawSide
		if rep%2 == 1 {
			first, second = rawSide, httpSide
		}
		if err := first(); err != nil {
			return run, err
		}
		if err := second(); err != nil {
			return run, err
		}
	}
	run.HTTPMs, run.ServerMs, run.RawMs = median(run.HTTPAllMs), median(run.ServerAllMs), median(run.RawAllMs)
	run.Ratio, run.ServerRatio = run.HTTPMs/run.RawMs, run.ServerMs/run.RawMs
	return run, nil
}

// httpLight is a timed full pull over HTTP (see env.pullLight).
func (pt pullTenant) httpLight(ctx context.Context, limit int, buf *bytes.Buffer) (pages int, n int64, err error) {
	cursor := ""
	for {
		more, next, err := pt.e.pullLight(ctx, pt.token, cursor, limit, buf)
		if err != nil {
			return pages, n, err
		}
		pages, n = pages+1, n+int64(buf.Len())
		if !more {
			return pages, n, nil
		}
		cursor = next
	}
}

// http is a full pull over HTTP that decodes every page, following hasMore.
func (pt pullTenant) http(ctx context.Context, limit int) (items, pages int, n int64, err error) {
	cursor := ""
	for {
		page, size, err := pt.e.pull(ctx, pt.token, cursor, limit)
		if err != nil {
			return items, pages, n, err
		}
		items, pages, n = items+len(page.CostbookItems), pages+1, n+size
		if !page.HasMore {
			return items, pages, n, nil
		}
		cursor = page.Cursor
	}
}
