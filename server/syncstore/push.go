package syncstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/syncproxy/syncproxy/gen/api"
	"github.com/syncproxy/syncproxy/gen/db"
	"github.com/syncproxy/syncproxy/internal/contract"
	"github.com/syncproxy/syncproxy/wire/push"
)

// PushResult is a push's response and whether it was replayed from its
// Idempotency-Key rather than applied.
type PushResult struct {
	Response api.SyncPushResponse
	Replayed bool
	// Tables names the tables an applied push wrote (the clock's per-table
	// versions moved to Response.Version): live pulls of them wake.
	Tables []string
}

// TableOutcome is what one request did to one table.
type TableOutcome struct {
	Table    string
	Upserted int // rows written (push) or delivered live (pull)
	Deleted  int // rows tombstoned (push) or tombstones delivered (pull)
	Deduped  int // push: entries of one key collapsed into one row
}

// Outcomes reads the per-table counts of a push response, in table order.
func (r PushResult) Outcomes() []TableOutcome {
	out := make([]TableOutcome, 0, len(tables))
	for _, t := range tables {
		o := TableOutcome{Table: t.name, Upserted: *t.counted(&r.Response.Upserted), Deduped: *t.counted(&r.Response.Deduped)}
		if t.deletable {
			o.Deleted = *t.deleted(&r.Response.Deleted)
		}
		out = append(out, o)
	}
	return out
}

// pushPlan is a validated, deduplicated push, ready for one transaction.
type pushPlan struct {
	upserts   []upsert
	deletions []deletion
}

// upsert is one table's rows, merged by key, as the JSON array its statement
// reads, and the base_version of each key that carries one.
type upsert struct {
	table   *table
	rows    []byte
	deduped int
	order   []uuid.UUID         // the keys, in order
	bases   map[uuid.UUID]int64 // key -> base_version, for rows that opt in to the check
}

// deletion is one table's ids to tombstone, and the base_version of each id
// that carries one (contract 1.2: checked like a pushed row's).
type deletion struct {
	table *table
	ids   []uuid.UUID
	bases map[uuid.UUID]int64
}

// errReplay rolls back a transaction whose Idempotency-Key was already answered.
var errReplay = errors.New("idempotent replay")

// Push applies body for contractorID atomically: every upsert and delete in
// one transaction, or nothing. idempotencyKey may be empty.
func (s *Store) Push(ctx context.Context, contractorID uuid.UUID, body *push.Body, idempotencyKey string) (PushResult, error) {
	plan, err := planPush(contractorID, body)
	if err != nil {
		return PushResult{}, err
	}
	var requestHash []byte
	if idempotencyKey != "" {
		requestHash = body.Sum[:]
	}

	var result PushResult
	err = s.withTx(ctx, func(tx db.DBTX, q *db.Queries) error {
		// The clock row lock serialises this contractor's pushes (see
		// migrations): from here on no other push of this tenant runs.
		touched := plan.touched()
		clock, err := q.AdvanceClock(ctx, db.AdvanceClockParams{ContractorID: contractorID, Tables: touched})
		if err != nil {
			return fmt.Errorf("advance clock: %w", err)
		}
		// Live pulls held on other instances: Postgres delivers this at
		// commit, and not at all if the push rolls back.
		if err := q.AnnouncePush(ctx, db.AnnouncePushParams{ContractorID: contractorID, Version: clock.Seq, Tables: touched}); err != nil {
			return fmt.Errorf("announce push: %w", err)
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
		// Conflicts (contract 1.1): checked under the clock lock, before
		// anything is written; a 409 rolls back and is not stored under the
		// Idempotency-Key. Its rows are bounded like a page (contract 1.2).
		if err := checkBases(ctx, tx, contractorID, plan, s.maxPageBytes); err != nil {
			return err
		}
		w := write{contractorID: contractorID, seq: clock.Seq, now: clock.Now}
		resp := api.SyncPushResponse{Ok: true, ServerTime: clock.Now, Version: clock.Seq}
		for _, u := range plan.upserts {
			*u.table.counted(&resp.Deduped) = u.deduped
			n, err := u.table.upsert(ctx, q, w, u.rows)
			if err != nil {
				return fmt.Errorf("push %s: %w", u.table.name, err)
			}
			*u.table.counted(&resp.Upserted) = int(n)
		}
		for _, d := range plan.deletions {
			n, err := d.table.remove(ctx, q, w, d.ids)
			if err != nil {
				return fmt.Errorf("delete %s: %w", d.table.name, err)
			}
			*d.table.deleted(&resp.Deleted) = int(n)
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
		result = PushResult{Response: resp, Tables: touched}
		return nil
	})
	if err != nil && !errors.Is(err, errReplay) {
		return PushResult{}, fmt.Errorf("push: %w", err)
	}
	return result, nil
}

// priorResponse returns the stored response for key when the body is the same,
// nil when the key is unused (or expired), and ErrIdempotencyKeyReused when
// the body differs.
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
		return nil, ErrIdempotencyKeyReused
	}
	var resp api.SyncPushResponse
	if err := json.Unmarshal(prior.Response, &resp); err != nil {
		return nil, fmt.Errorf("decode stored response: %w", err)
	}
	return &resp, nil
}

// planPush checks what the spec cannot express and dedupes every table. The
// decoder has already checked ids, required columns, types and known
// tables/columns against the spec; its tables are the registry's, in the
// same order (CheckRegistry, at start).
func planPush(contractorID uuid.UUID, body *push.Body) (pushPlan, error) {
	var plan pushPlan
	if len(body.Tables) != 0 && len(body.Tables) != len(tables) {
		return pushPlan{}, fmt.Errorf("push: a body of %d tables, not one per table of the registry (%d): not from the server's decoder", len(body.Tables), len(tables))
	}
	for i, bt := range body.Tables {
		t := &tables[i]
		if len(bt.Rows) > 0 {
			u, err := planUpsert(t, contractorID, bt.Rows)
			if err != nil {
				return pushPlan{}, err
			}
			plan.upserts = append(plan.upserts, u)
		}
		if len(bt.Deletes) > 0 {
			d, err := planDeletion(t, bt.Deletes)
			if err != nil {
				return pushPlan{}, err
			}
			plan.deletions = append(plan.deletions, d)
		}
	}
	return plan, nil
}

// planDeletion collects a table's ids to delete and their bases. An id given
// twice must say the same about its base_version, like entries of one row.
func planDeletion(t *table, entries []push.Delete) (deletion, error) {
	d := deletion{table: t, ids: make([]uuid.UUID, 0, len(entries))}
	first := map[uuid.UUID]push.Delete{}
	for _, e := range entries {
		if f, seen := first[e.ID]; seen {
			if f.HasBase != e.HasBase || f.Base != e.Base {
				return deletion{}, &RejectedRow{Source: "deletes", Index: -1, Field: fmt.Sprintf("%s/%d/base_version", t.name, e.Index),
					Reason:  fmt.Sprintf("entries of one row must carry the same base_version (entry %d carries another)", f.Index),
					Message: "entries of one row in one push disagree on base_version"}
			}
			continue
		}
		first[e.ID] = e
		d.ids = append(d.ids, e.ID)
		if e.HasBase {
			if d.bases == nil {
				d.bases = map[uuid.UUID]int64{}
			}
			d.bases[e.ID] = e.Base
		}
	}
	return d, nil
}

func planUpsert(t *table, contractorID uuid.UUID, rows []push.Row) (upsert, error) {
	if t.key == contract.TenantRow {
		// The contractors row a push may write is the caller's own: its id,
		// when sent, must be the contractor the token resolved to.
		for _, r := range rows {
			if r.HasKey && r.Key != contractorID {
				return upsert{}, &RejectedRow{Source: r.Source, Index: r.Index, Field: "id",
					Reason:  "must be the caller's contractor id (or omitted)",
					Message: "a push may only write the caller's own contractor row"}
			}
		}
	}
	merged, order, bases, err := mergeByKey(t, contractorID, rows)
	if err != nil {
		return upsert{}, err
	}
	return upsert{table: t, rows: jsonArray(merged), deduped: len(rows) - len(merged),
		order: order, bases: bases}, nil
}

// jsonArray joins row objects into the JSON array a statement reads.
func jsonArray(rows [][]byte) []byte {
	n := 2
	for _, r := range rows {
		n += len(r) + 1
	}
	out := make([]byte, 0, n)
	out = append(out, '[')
	for i, r := range rows {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, r...)
	}
	return append(out, ']')
}

// touched names the tables the push writes, for the clock's per-table seqs.
func (p pushPlan) touched() []string {
	var names []string
	for _, u := range p.upserts {
		names = append(names, u.table.name)
	}
	for _, d := range p.deletions {
		if !slices.Contains(names, d.table.name) {
			names = append(names, d.table.name)
		}
	}
	return names
}
