package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/syncproxy/syncproxy/wire/push"
)

// runPush pushes PushBatches batches of PushRows new costbook_items over HTTP
// to one tenant and upserts the same rows (other ids) directly to another,
// alternating HTTP and raw batch by batch so both see the same machine.
// Rows are encoded before the clock starts on both sides.
func runPush(ctx context.Context, e *env, o Options, p *progress) (PushResult, error) {
	t0 := time.Now()
	_, tokens, err := e.newTenant(ctx, "bench push http", 1)
	if err != nil {
		return PushResult{}, err
	}
	rawTenant, _, err := e.newTenant(ctx, "bench push raw", 1)
	if err != nil {
		return PushResult{}, err
	}
	token := tokens[0]

	type batch struct {
		body push.Body       // HTTP: the push request, its rows encoded
		rows json.RawMessage // raw: the statement's jsonb parameter
	}
	mk := func(n int) (batch, batch, error) {
		hb, err := pushBody(costbookItems(n, nil, 0))
		if err != nil {
			return batch{}, batch{}, err
		}
		rb, err := json.Marshal(costbookItems(n, nil, 0))
		return batch{body: hb}, batch{rows: rb}, err
	}

	// Warm up with one full batch a side: connections, pgx's statement
	// caches, the spec router, the table's first pages.
	hw, rw, err := mk(o.PushRows)
	if err != nil {
		return PushResult{}, err
	}
	if _, err := e.push(ctx, token, hw.body, ""); err != nil {
		return PushResult{}, fmt.Errorf("warm-up push: %w", err)
	}
	if _, err := rawPush(ctx, e.rawPool, rawTenant, rw.rows); err != nil {
		return PushResult{}, fmt.Errorf("warm-up raw push: %w", err)
	}

	res := PushResult{Batches: o.PushBatches, RowsPerBatch: o.PushRows,
		Method: "each side: one transaction per batch of new rows (AdvanceClock + UpsertCostbookItems); " +
			"HTTP adds client, auth, spec validation, decode, dedupe and re-encode; rows pre-encoded on both sides (the HTTP side's typed client joins them); " +
			"batches alternate HTTP/raw after one warm-up batch each; rows/s from the median batch time"}
	for i := range o.PushBatches {
		hb, rb, err := mk(o.PushRows)
		if err != nil {
			return PushResult{}, err
		}
		e.observer.start()
		start := time.Now()
		reply, err := e.push(ctx, token, hb.body, "")
		d := time.Since(start)
		var server time.Duration
		for _, s := range e.observer.stop()["/api/sync/push"] {
			server += s
		}
		if err != nil {
			return PushResult{}, fmt.Errorf("HTTP push %d: %w", i+1, err)
		}
		if reply.Upserted.CostbookItems != o.PushRows {
			return PushResult{}, fmt.Errorf("HTTP push %d upserted %d rows, want %d", i+1, reply.Upserted.CostbookItems, o.PushRows)
		}
		res.HTTP.BatchMs = append(res.HTTP.BatchMs, ms(d))
		res.Server.BatchMs = append(res.Server.BatchMs, ms(server))

		start = time.Now()
		n, err := rawPush(ctx, e.rawPool, rawTenant, rb.rows)
		d = time.Since(start)
		if err != nil {
			return PushResult{}, fmt.Errorf("raw push %d: %w", i+1, err)
		}
		if n != int64(o.PushRows) {
			return PushResult{}, fmt.Errorf("raw push %d upserted %d rows, want %d", i+1, n, o.PushRows)
		}
		res.Raw.BatchMs = append(res.Raw.BatchMs, ms(d))
	}
	for _, side := range []*Side{&res.HTTP, &res.Server, &res.Raw} {
		side.summarize(o.PushRows)
	}
	res.Ratio = res.HTTP.RowsPerSec / res.Raw.RowsPerSec
	res.ServerRatio = res.Server.RowsPerSec / res.Raw.RowsPerSec
	p.phase(t0, "push", "%d×%d rows: HTTP %.0f rows/s (server alone %.0f), raw %.0f rows/s, ratio %.2f",
		o.PushBatches, o.PushRows, res.HTTP.RowsPerSec, res.Server.RowsPerSec, res.Raw.RowsPerSec, res.Ratio)
	return res, nil
}

// summarize derives the rates from the batch times.
func (s *Side) summarize(rowsPerBatch int) {
	var total float64
	for _, b := range s.BatchMs {
		total += b
	}
	s.Seconds = total / 1000
	s.MedianMs = median(s.BatchMs)
	s.RowsPerSec = float64(rowsPerBatch) / (s.MedianMs / 1000)
	s.TotalRowsPerSec = float64(rowsPerBatch*len(s.BatchMs)) / s.Seconds
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
