package syncstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/syncproxy/syncproxy/gen/api"
	"github.com/syncproxy/syncproxy/gen/db"
	"github.com/syncproxy/syncproxy/server/apierror"
)

// PushResult is a push's response and whether it was replayed from its
// Idempotency-Key rather than applied.
type PushResult struct {
	Response api.SyncPushResponse
	Replayed bool
}

// pushPlan is a validated, deduplicated push, ready for one transaction.
type pushPlan struct {
	upserts   []upsert
	deletions []deletion
}

// errReplay rolls back a transaction whose Idempotency-Key was already answered.
var errReplay = errors.New("idempotent replay")

// Push applies req for contractorID atomically: every upsert and delete in one
// transaction, or nothing. idempotencyKey may be empty.
func (s *Store) Push(ctx context.Context, contractorID uuid.UUID, req api.SyncPushRequest, idempotencyKey string) (PushResult, error) {
	plan, err := planPush(contractorID, req)
	if err != nil {
		return PushResult{}, err
	}
	if n := plan.rows(); n > s.maxPushRows {
		return PushResult{}, apierror.New(http.StatusRequestEntityTooLarge,
			fmt.Sprintf("a push may carry at most %d rows, this one has %d; split it", s.maxPushRows, n))
	}
	var requestHash []byte
	if idempotencyKey != "" {
		canonical, err := json.Marshal(req)
		if err != nil {
			return PushResult{}, fmt.Errorf("push: hash body: %w", err)
		}
		sum := sha256.Sum256(canonical)
		requestHash = sum[:]
	}

	var result PushResult
	err = s.withTx(ctx, func(q *db.Queries) error {
		// The clock row lock serialises this contractor's pushes (see
		// migrations): from here on no other push of this tenant runs.
		clock, err := q.AdvanceClock(ctx, contractorID)
		if err != nil {
			return fmt.Errorf("advance clock: %w", err)
		}
		if idempotencyKey != "" {
			replay, err := s.priorResponse(ctx, q, contractorID, idempotencyKey, requestHash)
			if err != nil {
				return err
			}
			if replay != nil {
				result = PushResult{Response: *replay, Replayed: true}
				return errReplay
			}
		}
		w := write{contractorID: contractorID, seq: clock.Seq, now: clock.Now}
		resp := emptyPushResponse(clock.Now)
		for _, u := range plan.upserts {
			setCount(&resp.Deduped, u.table, u.deduped)
			if u.count == 0 {
				continue
			}
			n, err := u.exec(ctx, q, w, u.rows)
			if err != nil {
				return fmt.Errorf("push %s: %w", u.table, err)
			}
			setCount(&resp.Upserted, u.table, int(n))
		}
		for _, d := range plan.deletions {
			n, err := d.exec(ctx, q, w, d.ids)
			if err != nil {
				return fmt.Errorf("delete %s: %w", d.table, err)
			}
			setDeleteCount(&resp.Deleted, d.table, int(n))
		}
		if idempotencyKey != "" {
			stored, err := json.Marshal(resp)
			if err != nil {
				return fmt.Errorf("encode response: %w", err)
			}
			if err := q.SaveIdempotentResponse(ctx, db.SaveIdempotentResponseParams{
				ContractorID: contractorID, Key: idempotencyKey, RequestHash: requestHash, Response: stored,
			}); err != nil {
				return fmt.Errorf("save idempotency key: %w", err)
			}
		}
		result = PushResult{Response: resp}
		return nil
	})
	if err != nil && !errors.Is(err, errReplay) {
		return PushResult{}, fmt.Errorf("push: %w", err)
	}
	return result, nil
}

// priorResponse returns the stored response for key when the body is the same,
// nil when the key is unused (or expired), and a 422 when the body differs.
func (s *Store) priorResponse(ctx context.Context, q *db.Queries, contractorID uuid.UUID, key string, requestHash []byte) (*api.SyncPushResponse, error) {
	prior, err := q.GetIdempotentResponse(ctx, db.GetIdempotentResponseParams{
		ContractorID: contractorID, Key: key, TtlSeconds: s.idempotencyTTL.Seconds(),
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read idempotency key: %w", err)
	}
	if !bytes.Equal(prior.RequestHash, requestHash) {
		return nil, apierror.New(http.StatusUnprocessableEntity,
			"this Idempotency-Key was already used with a different body; use a new key")
	}
	var resp api.SyncPushResponse
	if err := json.Unmarshal(prior.Response, &resp); err != nil {
		return nil, fmt.Errorf("decode stored response: %w", err)
	}
	return &resp, nil
}

// planPush validates what the spec cannot express and dedupes every table.
// The spec (validated before this runs) already guarantees ids, required
// columns, types and known tables/columns.
func planPush(contractorID uuid.UUID, req api.SyncPushRequest) (pushPlan, error) {
	contractors := deref(req.Contractors)
	for i, c := range contractors {
		if c.Id != nil && *c.Id != contractorID {
			return pushPlan{}, apierror.BadRequest("a push may only update the caller's own contractor row",
				apierror.Detail(string(api.TableNameContractors), i, "id", "must be the caller's contractor id (or omitted)"))
		}
	}
	// The deprecated alias is applied first, so costbook_items wins a tie.
	items := append(append([]api.CostbookItemWrite{}, deref(req.Items)...), deref(req.CostbookItems)...)

	var plan pushPlan
	steps := []func() (upsert, error){
		func() (upsert, error) { return singletonUpsert(api.TableNameContractors, contractors, execContractor) },
		func() (upsert, error) {
			return regularUpsert(api.TableNameCostbookFolders, deref(req.CostbookFolders), func(r api.CostbookFolderWrite) uuid.UUID { return r.Id }, execCostbookFolders)
		},
		func() (upsert, error) {
			return regularUpsert(api.TableNameCostbookItems, items, func(r api.CostbookItemWrite) uuid.UUID { return r.Id }, execCostbookItems)
		},
		func() (upsert, error) {
			return regularUpsert(api.TableNameEstimates, deref(req.Estimates), func(r api.EstimateWrite) uuid.UUID { return r.Id }, execEstimates)
		},
		func() (upsert, error) {
			return regularUpsert(api.TableNameEstimateEvents, deref(req.EstimateEvents), func(r api.EstimateEventWrite) uuid.UUID { return r.Id }, execEstimateEvents)
		},
		func() (upsert, error) {
			return singletonUpsert(api.TableNamePdfSettings, deref(req.PdfSettings), execPdfSettings)
		},
		func() (upsert, error) {
			return regularUpsert(api.TableNamePricingRules, deref(req.PricingRules), func(r api.PricingRuleWrite) uuid.UUID { return r.Id }, execPricingRules)
		},
		func() (upsert, error) {
			return singletonUpsert(api.TableNameStepAConfigs, deref(req.StepAConfigs), execStepAConfigs)
		},
		func() (upsert, error) {
			return regularUpsert(api.TableNameStepARules, deref(req.StepARules), func(r api.StepARuleWrite) uuid.UUID { return r.Id }, execStepARules)
		},
	}
	for _, step := range steps {
		u, err := step()
		if err != nil {
			return pushPlan{}, err
		}
		plan.upserts = append(plan.upserts, u)
	}

	if d := req.Deletes; d != nil {
		for _, del := range []deletion{
			{api.TableNameCostbookFolders, deref(d.CostbookFolders), deleteCostbookFolders},
			{api.TableNameCostbookItems, deref(d.CostbookItems), deleteCostbookItems},
			{api.TableNameEstimates, deref(d.Estimates), deleteEstimates},
			{api.TableNameEstimateEvents, deref(d.EstimateEvents), deleteEstimateEvents},
			{api.TableNamePricingRules, deref(d.PricingRules), deletePricingRules},
			{api.TableNameStepARules, deref(d.StepARules), deleteStepARules},
		} {
			if len(del.ids) > 0 {
				plan.deletions = append(plan.deletions, del)
			}
		}
	}
	return plan, nil
}

// rows counts what the push carries before deduplication: every upsert row
// (the deprecated alias included) and every id to delete.
func (p pushPlan) rows() int {
	n := 0
	for _, u := range p.upserts {
		n += u.count + u.deduped
	}
	for _, d := range p.deletions {
		n += len(d.ids)
	}
	return n
}
