package proof_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/syncproxy/syncproxy/internal/devicetest"
)

// holdClock takes contractorID's clock lock the way a push does and keeps it
// until release: pushes sent meanwhile queue behind it, so once they are seen
// waiting they are provably concurrent.
func holdClock(t *testing.T, contractorID uuid.UUID) (release func()) {
	t.Helper()
	ctx := context.Background()
	tx, err := env.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "SELECT seq FROM sync_clock WHERE contractor_id = $1 FOR UPDATE", contractorID); err != nil {
		t.Fatal(err)
	}
	done := false
	release = func() {
		if !done {
			done = true
			if err := tx.Rollback(ctx); err != nil {
				t.Error(err)
			}
		}
	}
	t.Cleanup(release)
	return release
}

// pushConcurrently sends bodies at once with one Idempotency-Key, all queued on
// the clock before any may run, and returns the responses in body order.
func pushConcurrently(t *testing.T, d *devicetest.Device, key string, bodies ...any) []devicetest.Response {
	t.Helper()
	release := holdClock(t, d.ContractorID)
	type result struct {
		i int
		r devicetest.Response
		e error
	}
	results := make(chan result, len(bodies))
	for i, b := range bodies {
		go func() {
			r, err := d.Exchange(http.MethodPost, devicetest.PushPath, b, map[string]string{"Idempotency-Key": key})
			results <- result{i, r, err}
		}()
	}
	env.AwaitLockWaiters(t, len(bodies), "sync_clock")
	release()
	out := make([]devicetest.Response, len(bodies))
	for range bodies {
		res := <-results
		if res.e != nil {
			t.Fatal(res.e)
		}
		out[res.i] = res.r
	}
	return out
}

func itemBody(id uuid.UUID, name string) map[string]any {
	return map[string]any{"costbook_items": []map[string]any{{"id": id, "name": name}}}
}

// itemSeq returns the sync_seq of a costbook item, or -1 when it does not exist.
func itemSeq(t *testing.T, contractorID, id uuid.UUID) int64 {
	t.Helper()
	seq := int64(-1)
	err := env.Pool.QueryRow(context.Background(),
		"SELECT sync_seq FROM costbook_items WHERE contractor_id = $1 AND id = $2", contractorID, id).Scan(&seq)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		t.Fatal(err)
	}
	return seq
}

func TestPush_IdempotencyKey_ConcurrentSameBody_AppliesOnce(t *testing.T) {
	d := env.NewTenant(t)
	id := uuid.New()
	before := clockSeq(t, d.ContractorID)

	rs := pushConcurrently(t, d, "key-"+uuid.NewString(), itemBody(id, "once"), itemBody(id, "once"))

	replayed := 0
	for i, r := range rs {
		if r.Status != http.StatusOK {
			t.Fatalf("push %d = %d: %s", i, r.Status, r.Body)
		}
		if r.Header.Get("Idempotent-Replayed") == "true" {
			replayed++
		}
	}
	if replayed != 1 {
		t.Fatalf("%d of 2 responses say Idempotent-Replayed, want exactly 1", replayed)
	}
	if string(rs[0].Body) != string(rs[1].Body) {
		t.Fatalf("the replay is not the first response:\n%s\n%s", rs[0].Body, rs[1].Body)
	}
	var body struct {
		Upserted struct {
			CostbookItems int `json:"costbook_items"`
		} `json:"upserted"`
	}
	if err := json.Unmarshal(rs[0].Body, &body); err != nil || body.Upserted.CostbookItems != 1 {
		t.Fatalf("response %s: %v", rs[0].Body, err)
	}
	// Applied once: the clock moved by one, and the row carries that one value.
	if after := clockSeq(t, d.ContractorID); after != before+1 {
		t.Fatalf("clock advanced by %d, want 1", after-before)
	}
	if seq := itemSeq(t, d.ContractorID, id); seq != before+1 {
		t.Fatalf("row sync_seq = %d, want %d", seq, before+1)
	}
}

func TestPush_IdempotencyKey_ConcurrentDifferentBody_OneAppliesOneIs422(t *testing.T) {
	d := env.NewTenant(t)
	a, b := uuid.New(), uuid.New()
	before := clockSeq(t, d.ContractorID)

	rs := pushConcurrently(t, d, "key-"+uuid.NewString(), itemBody(a, "a"), itemBody(b, "b"))

	winner, loser := -1, -1
	for i, r := range rs {
		switch r.Status {
		case http.StatusOK:
			winner = i
		case http.StatusUnprocessableEntity:
			loser = i
		default:
			t.Fatalf("push %d = %d: %s", i, r.Status, r.Body)
		}
	}
	if winner < 0 || loser < 0 {
		t.Fatalf("want one 200 and one 422, got %d and %d", rs[0].Status, rs[1].Status)
	}
	checkEnvelope(t, rs[loser], http.StatusUnprocessableEntity, "IDEMPOTENCY_KEY_REUSED")
	if after := clockSeq(t, d.ContractorID); after != before+1 {
		t.Fatalf("clock advanced by %d, want 1", after-before)
	}
	ids := []uuid.UUID{a, b}
	if seq := itemSeq(t, d.ContractorID, ids[winner]); seq != before+1 {
		t.Fatalf("the 200's row: sync_seq %d, want %d", seq, before+1)
	}
	if seq := itemSeq(t, d.ContractorID, ids[loser]); seq != -1 {
		t.Fatalf("the 422's row was written (sync_seq %d)", seq)
	}
}

func TestPush_IdempotencyKey_AfterTTL_AppliesAgain(t *testing.T) {
	ttlServer, _ := env.Listen(t, env.ConfigWith(t, map[string]string{"SYNC_IDEMPOTENCY_TTL": "1s"}), nil, nil)
	d := env.NewTenant(t).On(ttlServer)
	id := uuid.New()
	key := "key-" + uuid.NewString()
	push := func() devicetest.Response {
		t.Helper()
		r, err := d.Exchange(http.MethodPost, devicetest.PushPath, itemBody(id, "again"), map[string]string{"Idempotency-Key": key})
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != http.StatusOK {
			t.Fatalf("push = %d: %s", r.Status, r.Body)
		}
		return r
	}
	before := clockSeq(t, d.ContractorID)
	if r := push(); r.Header.Get("Idempotent-Replayed") != "" {
		t.Fatal("first push says replayed")
	}
	if r := push(); r.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatal("second push within the TTL was not replayed")
	}
	if after := clockSeq(t, d.ContractorID); after != before+1 {
		t.Fatalf("within the TTL: clock advanced by %d, want 1", after-before)
	}

	// Wait until the database itself says the key is older than the TTL.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var expired bool
		if err := env.Pool.QueryRow(context.Background(), `
			SELECT clock_timestamp() - created_at > interval '1 second' FROM idempotency_keys
			WHERE contractor_id = $1 AND key = $2`, d.ContractorID, key).Scan(&expired); err != nil {
			t.Fatal(err)
		}
		if expired {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the key never aged past its TTL")
		}
		time.Sleep(50 * time.Millisecond)
	}

	if r := push(); r.Header.Get("Idempotent-Replayed") != "" {
		t.Fatal("push after the TTL was replayed, want applied again")
	}
	if after := clockSeq(t, d.ContractorID); after != before+2 {
		t.Fatalf("after the TTL: clock advanced by %d in total, want 2", after-before)
	}
	if seq := itemSeq(t, d.ContractorID, id); seq != before+2 {
		t.Fatalf("row sync_seq = %d, want %d (written again)", seq, before+2)
	}
	if r := push(); r.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatal("the key applied again is not remembered anew")
	}
}

// checkEnvelope asserts the error envelope of docs/contract.md ("Errors").
func checkEnvelope(t testing.TB, r devicetest.Response, status int, code string) {
	t.Helper()
	if err := r.CheckEnvelope(status, code); err != nil {
		t.Fatal(err)
	}
}
