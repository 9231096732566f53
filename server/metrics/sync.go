package metrics

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/syncproxy/syncproxy/gen/api"
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

// Pulled records one served pull page: rows and tombstones per table.
func (m *Metrics) Pulled(ctx context.Context, page api.SyncPullResponse) {
	upserts := nonZero(map[api.TableName]int{
		api.TableNameContractors:     len(page.Contractors),
		api.TableNameCostbookFolders: len(page.CostbookFolders),
		api.TableNameCostbookItems:   len(page.CostbookItems),
		api.TableNameEstimates:       len(page.Estimates),
		api.TableNameEstimateEvents:  len(page.EstimateEvents),
		api.TableNamePdfSettings:     len(page.PdfSettings),
		api.TableNamePricingRules:    len(page.PricingRules),
		api.TableNameStepAConfigs:    len(page.StepAConfigs),
		api.TableNameStepARules:      len(page.StepARules),
	})
	deletes := nonZero(map[api.TableName]int{
		api.TableNameCostbookFolders: len(page.Deleted.CostbookFolders),
		api.TableNameCostbookItems:   len(page.Deleted.CostbookItems),
		api.TableNameEstimates:       len(page.Deleted.Estimates),
		api.TableNameEstimateEvents:  len(page.Deleted.EstimateEvents),
		api.TableNamePricingRules:    len(page.Deleted.PricingRules),
		api.TableNameStepARules:      len(page.Deleted.StepARules),
	})
	add(m.rowsPulled, upserts, "upsert")
	add(m.rowsPulled, deletes, "delete")
	if o := outcomeFrom(ctx); o != nil {
		o.op, o.upserts, o.deletes = "pull", upserts, deletes
	}
}

// Pushed records one answered push. A replay applied nothing: it counts as a
// replay, not as rows written; its log still shows the counts it answered with.
func (m *Metrics) Pushed(ctx context.Context, resp api.SyncPushResponse, replayed bool) {
	upserts := nonZero(tableCounts(resp.Upserted))
	deletes := nonZero(map[api.TableName]int{
		api.TableNameCostbookFolders: resp.Deleted.CostbookFolders,
		api.TableNameCostbookItems:   resp.Deleted.CostbookItems,
		api.TableNameEstimates:       resp.Deleted.Estimates,
		api.TableNameEstimateEvents:  resp.Deleted.EstimateEvents,
		api.TableNamePricingRules:    resp.Deleted.PricingRules,
		api.TableNameStepARules:      resp.Deleted.StepARules,
	})
	deduped := nonZero(tableCounts(resp.Deduped))
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

func tableCounts(c api.TableCounts) map[api.TableName]int {
	return map[api.TableName]int{
		api.TableNameContractors:     c.Contractors,
		api.TableNameCostbookFolders: c.CostbookFolders,
		api.TableNameCostbookItems:   c.CostbookItems,
		api.TableNameEstimates:       c.Estimates,
		api.TableNameEstimateEvents:  c.EstimateEvents,
		api.TableNamePdfSettings:     c.PdfSettings,
		api.TableNamePricingRules:    c.PricingRules,
		api.TableNameStepAConfigs:    c.StepAConfigs,
		api.TableNameStepARules:      c.StepARules,
	}
}

func nonZero(counts map[api.TableName]int) map[string]int {
	out := map[string]int{}
	for table, n := range counts {
		if n > 0 {
			out[string(table)] = n
		}
	}
	return out
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
