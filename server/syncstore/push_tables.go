package syncstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"

	"github.com/syncproxy/syncproxy/gen/api"
	"github.com/syncproxy/syncproxy/gen/db"
)

// write is what one statement of a push needs besides its rows.
type write struct {
	contractorID uuid.UUID
	seq          int64
	now          api.Timestamp
}

// upsert is one table's deduplicated rows and the set-based statement that
// writes them. rows is JSON in the wire shape; the statement reads only the
// client columns from it (jsonb_to_recordset), so server-owned fields a client
// sent never reach the table.
type upsert struct {
	table   api.TableName
	rows    json.RawMessage
	count   int
	deduped int
	exec    func(ctx context.Context, q *db.Queries, w write, rows json.RawMessage) (int64, error)
}

// deletion is one table's ids to tombstone.
type deletion struct {
	table api.TableName
	ids   []uuid.UUID
	exec  func(ctx context.Context, q *db.Queries, w write, ids []uuid.UUID) (int64, error)
}

// regularUpsert dedupes rows by id (last wins) and marshals them.
func regularUpsert[T any](table api.TableName, rows []T, id func(T) uuid.UUID,
	exec func(context.Context, *db.Queries, write, json.RawMessage) (int64, error),
) (upsert, error) {
	kept, dropped := dedupeLastWins(rows, id)
	return marshalUpsert(table, kept, len(kept), dropped, exec)
}

// singletonUpsert keeps the last of the rows: a singleton's key is the contractor.
func singletonUpsert[T any](table api.TableName, rows []T,
	exec func(context.Context, *db.Queries, write, json.RawMessage) (int64, error),
) (upsert, error) {
	if len(rows) == 0 {
		return upsert{table: table}, nil
	}
	return marshalUpsert(table, rows[len(rows)-1], 1, len(rows)-1, exec)
}

func marshalUpsert(table api.TableName, rows any, count, dropped int,
	exec func(context.Context, *db.Queries, write, json.RawMessage) (int64, error),
) (upsert, error) {
	if count == 0 {
		return upsert{table: table}, nil
	}
	raw, err := json.Marshal(rows)
	if err != nil {
		return upsert{}, fmt.Errorf("encode %s rows: %w", table, err)
	}
	return upsert{table: table, rows: raw, count: count, deduped: dropped, exec: exec}, nil
}

func deref[T any](p *[]T) []T {
	if p == nil {
		return nil
	}
	return *p
}

// Statements, one per table, in the order a push applies them.

func execContractor(ctx context.Context, q *db.Queries, w write, row json.RawMessage) (int64, error) {
	return q.UpdateContractor(ctx, db.UpdateContractorParams{ContractorID: w.contractorID, Now: w.now, Seq: w.seq, Row: row})
}

func execCostbookFolders(ctx context.Context, q *db.Queries, w write, rows json.RawMessage) (int64, error) {
	return q.UpsertCostbookFolders(ctx, db.UpsertCostbookFoldersParams{ContractorID: w.contractorID, Now: w.now, Seq: w.seq, Rows: rows})
}

func execCostbookItems(ctx context.Context, q *db.Queries, w write, rows json.RawMessage) (int64, error) {
	return q.UpsertCostbookItems(ctx, db.UpsertCostbookItemsParams{ContractorID: w.contractorID, Now: w.now, Seq: w.seq, Rows: rows})
}

func execEstimates(ctx context.Context, q *db.Queries, w write, rows json.RawMessage) (int64, error) {
	return q.UpsertEstimates(ctx, db.UpsertEstimatesParams{ContractorID: w.contractorID, Now: w.now, Seq: w.seq, Rows: rows})
}

func execEstimateEvents(ctx context.Context, q *db.Queries, w write, rows json.RawMessage) (int64, error) {
	return q.UpsertEstimateEvents(ctx, db.UpsertEstimateEventsParams{ContractorID: w.contractorID, Now: w.now, Seq: w.seq, Rows: rows})
}

func execPdfSettings(ctx context.Context, q *db.Queries, w write, row json.RawMessage) (int64, error) {
	return q.UpsertPdfSettings(ctx, db.UpsertPdfSettingsParams{ContractorID: w.contractorID, Now: w.now, Seq: w.seq, Row: row})
}

func execPricingRules(ctx context.Context, q *db.Queries, w write, rows json.RawMessage) (int64, error) {
	return q.UpsertPricingRules(ctx, db.UpsertPricingRulesParams{ContractorID: w.contractorID, Now: w.now, Seq: w.seq, Rows: rows})
}

func execStepAConfigs(ctx context.Context, q *db.Queries, w write, row json.RawMessage) (int64, error) {
	return q.UpsertStepAConfigs(ctx, db.UpsertStepAConfigsParams{ContractorID: w.contractorID, Now: w.now, Seq: w.seq, Row: row})
}

func execStepARules(ctx context.Context, q *db.Queries, w write, rows json.RawMessage) (int64, error) {
	return q.UpsertStepARules(ctx, db.UpsertStepARulesParams{ContractorID: w.contractorID, Now: w.now, Seq: w.seq, Rows: rows})
}

func deleteCostbookFolders(ctx context.Context, q *db.Queries, w write, ids []uuid.UUID) (int64, error) {
	return q.DeleteCostbookFolders(ctx, db.DeleteCostbookFoldersParams{Now: w.now, Seq: w.seq, ContractorID: w.contractorID, Ids: ids})
}

func deleteCostbookItems(ctx context.Context, q *db.Queries, w write, ids []uuid.UUID) (int64, error) {
	return q.DeleteCostbookItems(ctx, db.DeleteCostbookItemsParams{Now: w.now, Seq: w.seq, ContractorID: w.contractorID, Ids: ids})
}

func deleteEstimates(ctx context.Context, q *db.Queries, w write, ids []uuid.UUID) (int64, error) {
	return q.DeleteEstimates(ctx, db.DeleteEstimatesParams{Now: w.now, Seq: w.seq, ContractorID: w.contractorID, Ids: ids})
}

func deleteEstimateEvents(ctx context.Context, q *db.Queries, w write, ids []uuid.UUID) (int64, error) {
	return q.DeleteEstimateEvents(ctx, db.DeleteEstimateEventsParams{Now: w.now, Seq: w.seq, ContractorID: w.contractorID, Ids: ids})
}

func deletePricingRules(ctx context.Context, q *db.Queries, w write, ids []uuid.UUID) (int64, error) {
	return q.DeletePricingRules(ctx, db.DeletePricingRulesParams{Now: w.now, Seq: w.seq, ContractorID: w.contractorID, Ids: ids})
}

func deleteStepARules(ctx context.Context, q *db.Queries, w write, ids []uuid.UUID) (int64, error) {
	return q.DeleteStepARules(ctx, db.DeleteStepARulesParams{Now: w.now, Seq: w.seq, ContractorID: w.contractorID, Ids: ids})
}
