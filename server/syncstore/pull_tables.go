package syncstore

import (
	"context"

	"github.com/google/uuid"

	"github.com/syncproxy/syncproxy/gen/api"
	"github.com/syncproxy/syncproxy/gen/db"
)

// read is one table's slice of a page: rows with sync_seq in (after, horizon],
// continuing after (afterSeq, afterID) in (sync_seq, id) order.
type read struct {
	contractorID uuid.UUID
	horizon      int64
	afterSeq     int64
	afterID      uuid.UUID
	withDeleted  bool
	since        *api.Timestamp
	limit        int // rows wanted; one more is fetched to learn whether the table has more
}

// position is the (sync_seq, id) of the last row a page took from a table.
type position struct {
	seq int64
	id  uuid.UUID
}

// pullTable reads one table into a page and says how many rows it took, where
// it stopped, and whether rows remain.
type pullTable struct {
	name api.TableName
	read func(ctx context.Context, q *db.Queries, r read, page *api.SyncPullResponse) (taken int, last position, more bool, err error)
}

// pullTables is the walk order of a pull. Append only: cursors store indexes.
var pullTables = []pullTable{
	{api.TableNameContractors, func(ctx context.Context, q *db.Queries, r read, p *api.SyncPullResponse) (int, position, bool, error) {
		rows, err := q.PullContractors(ctx, db.PullContractorsParams{ContractorID: r.contractorID, Horizon: r.horizon, AfterSeq: r.afterSeq, Since: r.since})
		return collectSingleton(rows, err, r, &p.Contractors, func(x db.Contractor) int64 { return x.SyncSeq })
	}},
	{api.TableNameCostbookFolders, func(ctx context.Context, q *db.Queries, r read, p *api.SyncPullResponse) (int, position, bool, error) {
		rows, err := q.PullCostbookFolders(ctx, db.PullCostbookFoldersParams{ContractorID: r.contractorID, Horizon: r.horizon, AfterSeq: r.afterSeq, AfterID: r.afterID, WithDeleted: r.withDeleted, Since: r.since, MaxRows: int32(r.limit + 1)})
		return collect(rows, err, r, &p.CostbookFolders, &p.Deleted.CostbookFolders, func(x db.CostbookFolder) rowKey { return rowKey{x.SyncSeq, x.ID, x.DeletedAt != nil} })
	}},
	{api.TableNameCostbookItems, func(ctx context.Context, q *db.Queries, r read, p *api.SyncPullResponse) (int, position, bool, error) {
		rows, err := q.PullCostbookItems(ctx, db.PullCostbookItemsParams{ContractorID: r.contractorID, Horizon: r.horizon, AfterSeq: r.afterSeq, AfterID: r.afterID, WithDeleted: r.withDeleted, Since: r.since, MaxRows: int32(r.limit + 1)})
		return collect(rows, err, r, &p.CostbookItems, &p.Deleted.CostbookItems, func(x db.CostbookItem) rowKey { return rowKey{x.SyncSeq, x.ID, x.DeletedAt != nil} })
	}},
	{api.TableNameEstimates, func(ctx context.Context, q *db.Queries, r read, p *api.SyncPullResponse) (int, position, bool, error) {
		rows, err := q.PullEstimates(ctx, db.PullEstimatesParams{ContractorID: r.contractorID, Horizon: r.horizon, AfterSeq: r.afterSeq, AfterID: r.afterID, WithDeleted: r.withDeleted, Since: r.since, MaxRows: int32(r.limit + 1)})
		return collect(rows, err, r, &p.Estimates, &p.Deleted.Estimates, func(x db.Estimate) rowKey { return rowKey{x.SyncSeq, x.ID, x.DeletedAt != nil} })
	}},
	{api.TableNameEstimateEvents, func(ctx context.Context, q *db.Queries, r read, p *api.SyncPullResponse) (int, position, bool, error) {
		rows, err := q.PullEstimateEvents(ctx, db.PullEstimateEventsParams{ContractorID: r.contractorID, Horizon: r.horizon, AfterSeq: r.afterSeq, AfterID: r.afterID, WithDeleted: r.withDeleted, Since: r.since, MaxRows: int32(r.limit + 1)})
		return collect(rows, err, r, &p.EstimateEvents, &p.Deleted.EstimateEvents, func(x db.EstimateEvent) rowKey { return rowKey{x.SyncSeq, x.ID, x.DeletedAt != nil} })
	}},
	{api.TableNamePdfSettings, func(ctx context.Context, q *db.Queries, r read, p *api.SyncPullResponse) (int, position, bool, error) {
		rows, err := q.PullPdfSettings(ctx, db.PullPdfSettingsParams{ContractorID: r.contractorID, Horizon: r.horizon, AfterSeq: r.afterSeq, Since: r.since})
		return collectSingleton(rows, err, r, &p.PdfSettings, func(x db.PdfSetting) int64 { return x.SyncSeq })
	}},
	{api.TableNamePricingRules, func(ctx context.Context, q *db.Queries, r read, p *api.SyncPullResponse) (int, position, bool, error) {
		rows, err := q.PullPricingRules(ctx, db.PullPricingRulesParams{ContractorID: r.contractorID, Horizon: r.horizon, AfterSeq: r.afterSeq, AfterID: r.afterID, WithDeleted: r.withDeleted, Since: r.since, MaxRows: int32(r.limit + 1)})
		return collect(rows, err, r, &p.PricingRules, &p.Deleted.PricingRules, func(x db.PricingRule) rowKey { return rowKey{x.SyncSeq, x.ID, x.DeletedAt != nil} })
	}},
	{api.TableNameStepAConfigs, func(ctx context.Context, q *db.Queries, r read, p *api.SyncPullResponse) (int, position, bool, error) {
		rows, err := q.PullStepAConfigs(ctx, db.PullStepAConfigsParams{ContractorID: r.contractorID, Horizon: r.horizon, AfterSeq: r.afterSeq, Since: r.since})
		return collectSingleton(rows, err, r, &p.StepAConfigs, func(x db.StepAConfig) int64 { return x.SyncSeq })
	}},
	{api.TableNameStepARules, func(ctx context.Context, q *db.Queries, r read, p *api.SyncPullResponse) (int, position, bool, error) {
		rows, err := q.PullStepARules(ctx, db.PullStepARulesParams{ContractorID: r.contractorID, Horizon: r.horizon, AfterSeq: r.afterSeq, AfterID: r.afterID, WithDeleted: r.withDeleted, Since: r.since, MaxRows: int32(r.limit + 1)})
		return collect(rows, err, r, &p.StepARules, &p.Deleted.StepARules, func(x db.StepARule) rowKey { return rowKey{x.SyncSeq, x.ID, x.DeletedAt != nil} })
	}},
}

type rowKey struct {
	seq     int64
	id      uuid.UUID
	deleted bool
}

// collect moves up to r.limit rows into the page: live rows into the table's
// array, tombstones into its deleted ids.
func collect[R any](rows []R, err error, r read, live *[]R, deleted *[]uuid.UUID, key func(R) rowKey) (int, position, bool, error) {
	if err != nil {
		return 0, position{}, false, err
	}
	more := len(rows) > r.limit
	if more {
		rows = rows[:r.limit]
	}
	var last position
	for _, row := range rows {
		k := key(row)
		if k.deleted {
			*deleted = append(*deleted, k.id)
		} else {
			*live = append(*live, row)
		}
		last = position{k.seq, k.id}
	}
	return len(rows), last, more, nil
}

// collectSingleton handles tables with at most one row per contractor.
func collectSingleton[R any](rows []R, err error, r read, live *[]R, seq func(R) int64) (int, position, bool, error) {
	if err != nil || len(rows) == 0 {
		return 0, position{}, false, err
	}
	if r.limit == 0 {
		return 0, position{}, true, nil
	}
	*live = append(*live, rows[0])
	return 1, position{seq: seq(rows[0])}, false, nil
}
