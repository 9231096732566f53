package metrics

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
)

// Outcome is what one pull or push did, kept per request so the access log
// can carry row counts without handlers logging on their own.
type Outcome struct {
	op       string         // "pull" or "push"; empty: not a sync operation
	upserts  map[string]int // rows upserted (push) or delivered live (pull), by table
	deletes  map[string]int // rows deleted (push) or tombstones delivered (pull), by table
	deduped  map[string]int // push only
	replayed bool
}

type outcomeKey struct{}

// WithOutcome returns ctx carrying an empty Outcome for the request; the
// access log creates it before the handlers run and reads it after.
func WithOutcome(ctx context.Context) (context.Context, *Outcome) {
	o := &Outcome{}
	return context.WithValue(ctx, outcomeKey{}, o), o
}

func outcomeFrom(ctx context.Context) *Outcome {
	o, _ := ctx.Value(outcomeKey{}).(*Outcome)
	return o
}

// LogAttrs are the access-log attributes of the outcome: row counts by table
// (only tables with rows) and totals; none for requests that synced nothing.
func (o *Outcome) LogAttrs() []any {
	if o == nil || o.op == "" {
		return nil
	}
	attrs := []any{"sync_op", o.op, "rows_upserted", sum(o.upserts), "rows_deleted", sum(o.deletes)}
	if len(o.upserts) > 0 {
		attrs = append(attrs, slog.Any("upserted", o.upserts))
	}
	if len(o.deletes) > 0 {
		attrs = append(attrs, slog.Any("deleted", o.deletes))
	}
	if len(o.deduped) > 0 {
		attrs = append(attrs, "rows_deduped", sum(o.deduped), slog.Any("deduped", o.deduped))
	}
	if o.replayed {
		attrs = append(attrs, "idempotent_replay", true)
	}
	return attrs
}

// TableCount is what one request did to one table: rows upserted (push) or
// delivered live (pull), deleted (push) or tombstones delivered (pull), and
// entries collapsed by dedupe (push). Tables come in as data, so this
// package never needs to know which tables exist.
type TableCount struct {
	Table                     string
	Upserts, Deletes, Deduped int
}

// Pulled records one served pull page.
func (m *Metrics) Pulled(ctx context.Context, counts []TableCount) {
	upserts, deletes, _ := split(counts)
	add(m.rowsPulled, upserts, "upsert")
	add(m.rowsPulled, deletes, "delete")
	if o := outcomeFrom(ctx); o != nil {
		o.op, o.upserts, o.deletes = "pull", upserts, deletes
	}
}

// Pushed records one answered push. A replay applied nothing: it counts as a
// replay, not as rows written; its log still shows the counts it answered with.
func (m *Metrics) Pushed(ctx context.Context, counts []TableCount, replayed bool) {
	upserts, deletes, deduped := split(counts)
	if replayed {
		m.replays.Inc()
	} else {
		add(m.rowsPushed, upserts, "upsert")
		add(m.rowsPushed, deletes, "delete")
		for table, n := range deduped {
			m.rowsDeduped.WithLabelValues(table).Add(float64(n))
		}
	}
	if o := outcomeFrom(ctx); o != nil {
		o.op, o.upserts, o.deletes, o.deduped, o.replayed = "push", upserts, deletes, deduped, replayed
	}
}

// split turns counts into maps of the non-zero ones, by table.
func split(counts []TableCount) (upserts, deletes, deduped map[string]int) {
	upserts, deletes, deduped = map[string]int{}, map[string]int{}, map[string]int{}
	for _, c := range counts {
		if c.Upserts > 0 {
			upserts[c.Table] = c.Upserts
		}
		if c.Deletes > 0 {
			deletes[c.Table] = c.Deletes
		}
		if c.Deduped > 0 {
			deduped[c.Table] = c.Deduped
		}
	}
	return upserts, deletes, deduped
}

func add(c *prometheus.CounterVec, counts map[string]int, op string) {
	for table, n := range counts {
		c.WithLabelValues(table, op).Add(float64(n))
	}
}

func sum(counts map[string]int) int {
	n := 0
	for _, v := range counts {
		n += v
	}
	return n
}
