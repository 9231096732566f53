package blackbox_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/google/uuid"

	"github.com/syncproxy/syncproxy/gen/api"
	"github.com/syncproxy/syncproxy/internal/devicetest"
)

// TestIsolation_OtherTenantsIDs_ChangeAndRevealNothing is the security
// boundary of docs/contract.md ("Tenant derivation", 3.): tenant B aims every
// id, key and field it can at tenant A.
func TestIsolation_OtherTenantsIDs_ChangeAndRevealNothing(t *testing.T) {
	t.Parallel()
	a, b := env.NewTenant(t), env.NewTenant(t)
	aIDs := newRowIDs()
	a.MustPush(pushBodyOf(fullRows(aIDs, "A")))
	aBefore := a.State()
	aCursor := a.MustPull(nil).Cursor

	// 1. B deletes A's ids: nothing of A is B's to delete.
	res := b.MustPush(map[string]any{"deletes": aIDs.deletesOf()})
	if res.Deleted != (api.DeleteCounts{}) {
		t.Fatalf("B deleted %+v of A's rows", res.Deleted)
	}

	// 2. B upserts rows with A's ids, naming A as their contractor.
	bRows := fullRows(aIDs, "B")
	for table, row := range bRows {
		if table != "contractors" {
			row["contractor_id"] = a.ContractorID
		}
	}
	res = b.MustPush(pushBodyOf(bRows))
	if res.Upserted.CostbookItems != 1 || res.Upserted.PdfSettings != 1 || res.Upserted.Contractors != 1 {
		t.Fatalf("B's upserts = %+v", res.Upserted)
	}

	// 3. B claims A's contractor row, alongside an otherwise valid push.
	sneaky := uuid.New()
	e := b.Push(map[string]any{
		"contractors":    []any{map[string]any{"id": a.ContractorID, "name": "Taken over"}},
		"costbook_items": []any{map[string]any{"id": sneaky, "name": "rides along"}},
	}).Envelope(t, http.StatusBadRequest, "BAD_REQUEST")
	assertDetails(t, e, wantDetail{"contractors", 0, "id"})

	// 4. B pulls with A's cursor.
	bPage := b.PullRaw(url.Values{"cursor": {aCursor}})
	if bytes.Contains(mustJSON(t, bPage), []byte(`"A `)) || bytes.Contains(mustJSON(t, bPage), []byte(a.ContractorID.String())) {
		t.Fatalf("B's pull with A's cursor shows A's data: %s", devicetest.Truncate(mustJSON(t, bPage)))
	}

	// 5. B deletes the same ids again: now only its own copies go.
	res = b.MustPush(map[string]any{"deletes": aIDs.deletesOf()})
	if (res.Deleted != api.DeleteCounts{CostbookFolders: 1, CostbookItems: 1, Estimates: 1, EstimateEvents: 1, PricingRules: 1, StepARules: 1}) {
		t.Fatalf("B's delete of its own copies = %+v", res.Deleted)
	}

	// A is byte-for-byte what it was, and its cursor sees no change at all.
	if after := a.State(); after != aBefore {
		t.Fatalf("tenant A changed:\nbefore %s\nafter  %s", aBefore, after)
	}
	delta := a.PullRaw(url.Values{"cursor": {aCursor}})
	assertOnlyTables(t, delta)
	var deleted map[string][]uuid.UUID
	if err := json.Unmarshal(delta["deleted"], &deleted); err != nil {
		t.Fatal(err)
	}
	for table, ids := range deleted {
		if len(ids) != 0 {
			t.Fatalf("A's delta shows %s tombstones %v", table, ids)
		}
	}

	// B holds only B's rows, all under B, none of A's values.
	bFull := b.MustPull(url.Values{"limit": {"5000"}})
	assertOwnedBy(t, bFull, b.ContractorID)
	if len(bFull.Contractors) != 1 || bFull.Contractors[0].ID != b.ContractorID || bFull.Contractors[0].Name != "B Builders" {
		t.Fatalf("B's contractors = %+v", bFull.Contractors)
	}
	if len(bFull.PdfSettings) != 1 || *bFull.PdfSettings[0].Template != "B modern" {
		t.Fatalf("B's pdf_settings = %+v", bFull.PdfSettings)
	}
	raw := mustJSON(t, bFull)
	if bytes.Contains(raw, []byte(a.ContractorID.String())) || bytes.Contains(raw, []byte(`"A `)) || bytes.Contains(raw, []byte(sneaky.String())) {
		t.Fatalf("B's pull shows A's data or the rejected push: %s", devicetest.Truncate(raw))
	}
	// And in the database, A still owns exactly its own rows.
	for _, table := range deletableTables {
		if n := sqlCount(t, `SELECT count(*) FROM `+table+` WHERE contractor_id = $1 AND deleted_at IS NULL`, a.ContractorID); n != 1 {
			t.Errorf("A has %d live %s rows, want 1", n, table)
		}
	}
}

// assertOwnedBy fails if any row of page belongs to another contractor.
func assertOwnedBy(t *testing.T, page api.SyncPullResponse, contractor uuid.UUID) {
	t.Helper()
	check := func(table string, got uuid.UUID) {
		if got != contractor {
			t.Errorf("%s row of contractor %s in %s's pull", table, got, contractor)
		}
	}
	for _, r := range page.Contractors {
		check("contractors", r.ID)
	}
	for _, r := range page.CostbookFolders {
		check("costbook_folders", r.ContractorID)
	}
	for _, r := range page.CostbookItems {
		check("costbook_items", r.ContractorID)
	}
	for _, r := range page.Estimates {
		check("estimates", r.ContractorID)
	}
	for _, r := range page.EstimateEvents {
		check("estimate_events", r.ContractorID)
	}
	for _, r := range page.PdfSettings {
		check("pdf_settings", r.ContractorID)
	}
	for _, r := range page.PricingRules {
		check("pricing_rules", r.ContractorID)
	}
	for _, r := range page.StepAConfigs {
		check("step_a_configs", r.ContractorID)
	}
	for _, r := range page.StepARules {
		check("step_a_rules", r.ContractorID)
	}
}

func TestIsolation_IdempotencyKeys_ArePerTenant(t *testing.T) {
	t.Parallel()
	a, b := env.NewTenant(t), env.NewTenant(t)
	key := map[string]string{"Idempotency-Key": "shared-" + uuid.NewString()}
	a.Push(map[string]any{"costbook_items": []any{map[string]any{"id": uuid.New(), "name": "A's"}}}, key)
	// B's own body under A's key: applied for B, neither 422 nor A's response.
	r := b.Push(map[string]any{"costbook_items": []any{map[string]any{"id": uuid.New(), "name": "B's"}}}, key)
	if r.Status != http.StatusOK || r.Header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("B with A's key = %d replayed=%q: %s", r.Status, r.Header.Get("Idempotent-Replayed"), r.Body)
	}
	// A's exact body under A's key from B: applied for B, not a replay of A's.
	a2 := map[string]any{"costbook_items": []any{map[string]any{"id": uuid.New(), "name": "same body"}}}
	key2 := map[string]string{"Idempotency-Key": "shared2-" + uuid.NewString()}
	a.Push(a2, key2)
	r = b.Push(a2, key2)
	if r.Status != http.StatusOK || r.Header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("B replaying A's request = %d replayed=%q", r.Status, r.Header.Get("Idempotent-Replayed"))
	}
	items := b.MustPull(url.Values{"tables": {"costbook_items"}}).CostbookItems
	if len(items) != 2 {
		t.Fatalf("B has %d items, want its 2", len(items))
	}
	assertOwnedBy(t, b.MustPull(nil), b.ContractorID)
}

func TestIsolation_SameIDsInTwoTenants_AreTwoRows(t *testing.T) {
	t.Parallel()
	a, b := env.NewTenant(t), env.NewTenant(t)
	id := uuid.New()
	a.MustPush(map[string]any{"costbook_items": []any{map[string]any{"id": id, "name": "A's name"}}})
	b.MustPush(map[string]any{"costbook_items": []any{map[string]any{"id": id, "name": "B's name"}}})
	a.MustPush(map[string]any{"deletes": map[string]any{"costbook_items": []uuid.UUID{id}}})
	bItems := b.MustPull(nil).CostbookItems
	if len(bItems) != 1 || bItems[0].Name != "B's name" || bItems[0].ContractorID != b.ContractorID {
		t.Fatalf("B's items = %+v", bItems)
	}
	if aItems := a.MustPull(nil).CostbookItems; len(aItems) != 0 {
		t.Fatalf("A's items = %+v", aItems)
	}
}

func TestIsolation_ContractorInHeadersOrQuery_Ignored(t *testing.T) {
	t.Parallel()
	a, b := env.NewTenant(t), env.NewTenant(t)
	a.MustPush(map[string]any{"costbook_items": []any{map[string]any{"id": uuid.New(), "name": "A's"}}})
	sneaky := map[string]string{"X-Contractor-Id": a.ContractorID.String(), "X-Tenant-Id": a.ContractorID.String()}
	r := b.Do(http.MethodGet, "/api/sync/pull?contractor_id="+a.ContractorID.String()+"&contractorId="+a.ContractorID.String(), nil, sneaky)
	if r.Status != http.StatusOK {
		t.Fatalf("pull = %d %s", r.Status, r.Body)
	}
	var page api.SyncPullResponse
	r.Decode(t, &page)
	assertOwnedBy(t, page, b.ContractorID)
	if len(page.CostbookItems) != 0 {
		t.Fatalf("B sees %+v", page.CostbookItems)
	}
	c := b.Do(http.MethodGet, "/api/sync/canary?contractor_id="+a.ContractorID.String(), nil, sneaky)
	var canary api.CanaryResponse
	c.Decode(t, &canary)
	if c.Status != http.StatusOK || canary.ContractorId != b.ContractorID {
		t.Fatalf("canary = %d %+v", c.Status, canary)
	}
	pushed := b.Do(http.MethodPost, "/api/sync/push?contractor_id="+a.ContractorID.String(),
		map[string]any{"costbook_items": []any{map[string]any{"id": uuid.New(), "name": "B's"}}}, sneaky)
	if pushed.Status != http.StatusOK {
		t.Fatalf("push = %d %s", pushed.Status, pushed.Body)
	}
	if items := a.MustPull(nil).CostbookItems; len(items) != 1 || items[0].Name != "A's" {
		t.Fatalf("A's items = %+v", items)
	}
}
