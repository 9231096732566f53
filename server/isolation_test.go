package server_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/google/uuid"

	"github.com/syncproxy/syncproxy/gen/api"
)

// TestIsolation_OtherTenantsIDs_ChangeAndRevealNothing is CONTRACT.md's
// security boundary: tenant B aims every id, key and field it can at tenant A.
func TestIsolation_OtherTenantsIDs_ChangeAndRevealNothing(t *testing.T) {
	t.Parallel()
	a, b := newTenant(t), newTenant(t)
	aIDs := newRowIDs()
	a.mustPush(pushBodyOf(fullRows(aIDs, "A")))
	aBefore := a.stateOf()
	aCursor := a.mustPull(nil).Cursor

	// 1. B deletes A's ids: nothing of A is B's to delete.
	res := b.mustPush(map[string]any{"deletes": aIDs.deletesOf()})
	if res.Deleted != (api.DeleteCounts{}) {
		t.Fatalf("B deleted %+v of A's rows", res.Deleted)
	}

	// 2. B upserts rows with A's ids, naming A as their contractor.
	bRows := fullRows(aIDs, "B")
	for table, row := range bRows {
		if table != "contractors" {
			row["contractor_id"] = a.contractorID
		}
	}
	res = b.mustPush(pushBodyOf(bRows))
	if res.Upserted.CostbookItems != 1 || res.Upserted.PdfSettings != 1 || res.Upserted.Contractors != 1 {
		t.Fatalf("B's upserts = %+v", res.Upserted)
	}

	// 3. B claims A's contractor row, alongside an otherwise valid push.
	sneaky := uuid.New()
	e := b.push(map[string]any{
		"contractors":    []any{map[string]any{"id": a.contractorID, "name": "Taken over"}},
		"costbook_items": []any{map[string]any{"id": sneaky, "name": "rides along"}},
	}).envelope(t, http.StatusBadRequest, "BAD_REQUEST")
	assertDetails(t, e, wantDetail{"contractors", 0, "id"})

	// 4. B pulls with A's cursor.
	bPage := b.pullRaw(url.Values{"cursor": {aCursor}})
	if bytes.Contains(mustJSON(t, bPage), []byte(`"A `)) || bytes.Contains(mustJSON(t, bPage), []byte(a.contractorID.String())) {
		t.Fatalf("B's pull with A's cursor shows A's data: %s", truncate(mustJSON(t, bPage)))
	}

	// 5. B deletes the same ids again: now only its own copies go.
	res = b.mustPush(map[string]any{"deletes": aIDs.deletesOf()})
	if (res.Deleted != api.DeleteCounts{CostbookFolders: 1, CostbookItems: 1, Estimates: 1, EstimateEvents: 1, PricingRules: 1, StepARules: 1}) {
		t.Fatalf("B's delete of its own copies = %+v", res.Deleted)
	}

	// A is byte-for-byte what it was, and its cursor sees no change at all.
	if after := a.stateOf(); after != aBefore {
		t.Fatalf("tenant A changed:\nbefore %s\nafter  %s", aBefore, after)
	}
	delta := a.pullRaw(url.Values{"cursor": {aCursor}})
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
	bFull := b.mustPull(url.Values{"limit": {"5000"}})
	assertOwnedBy(t, bFull, b.contractorID)
	if len(bFull.Contractors) != 1 || bFull.Contractors[0].ID != b.contractorID || bFull.Contractors[0].Name != "B Builders" {
		t.Fatalf("B's contractors = %+v", bFull.Contractors)
	}
	if len(bFull.PdfSettings) != 1 || *bFull.PdfSettings[0].Template != "B modern" {
		t.Fatalf("B's pdf_settings = %+v", bFull.PdfSettings)
	}
	raw := mustJSON(t, bFull)
	if bytes.Contains(raw, []byte(a.contractorID.String())) || bytes.Contains(raw, []byte(`"A `)) || bytes.Contains(raw, []byte(sneaky.String())) {
		t.Fatalf("B's pull shows A's data or the rejected push: %s", truncate(raw))
	}
	// And in the database, A still owns exactly its own rows.
	for _, table := range deletableTables {
		if n := sqlCount(t, `SELECT count(*) FROM `+table+` WHERE contractor_id = $1 AND deleted_at IS NULL`, a.contractorID); n != 1 {
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
	a, b := newTenant(t), newTenant(t)
	key := map[string]string{"Idempotency-Key": "shared-" + uuid.NewString()}
	a.push(map[string]any{"costbook_items": []any{map[string]any{"id": uuid.New(), "name": "A's"}}}, key)
	// B's own body under A's key: applied for B, neither 422 nor A's response.
	r := b.push(map[string]any{"costbook_items": []any{map[string]any{"id": uuid.New(), "name": "B's"}}}, key)
	if r.status != http.StatusOK || r.header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("B with A's key = %d replayed=%q: %s", r.status, r.header.Get("Idempotent-Replayed"), r.body)
	}
	// A's exact body under A's key from B: applied for B, not a replay of A's.
	a2 := map[string]any{"costbook_items": []any{map[string]any{"id": uuid.New(), "name": "same body"}}}
	key2 := map[string]string{"Idempotency-Key": "shared2-" + uuid.NewString()}
	a.push(a2, key2)
	r = b.push(a2, key2)
	if r.status != http.StatusOK || r.header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("B replaying A's request = %d replayed=%q", r.status, r.header.Get("Idempotent-Replayed"))
	}
	items := b.mustPull(url.Values{"tables": {"costbook_items"}}).CostbookItems
	if len(items) != 2 {
		t.Fatalf("B has %d items, want its 2", len(items))
	}
	assertOwnedBy(t, b.mustPull(nil), b.contractorID)
}

func TestIsolation_SameIDsInTwoTenants_AreTwoRows(t *testing.T) {
	t.Parallel()
	a, b := newTenant(t), newTenant(t)
	id := uuid.New()
	a.mustPush(map[string]any{"costbook_items": []any{map[string]any{"id": id, "name": "A's name"}}})
	b.mustPush(map[string]any{"costbook_items": []any{map[string]any{"id": id, "name": "B's name"}}})
	a.mustPush(map[string]any{"deletes": map[string]any{"costbook_items": []uuid.UUID{id}}})
	bItems := b.mustPull(nil).CostbookItems
	if len(bItems) != 1 || bItems[0].Name != "B's name" || bItems[0].ContractorID != b.contractorID {
		t.Fatalf("B's items = %+v", bItems)
	}
	if aItems := a.mustPull(nil).CostbookItems; len(aItems) != 0 {
		t.Fatalf("A's items = %+v", aItems)
	}
}

func TestIsolation_ContractorInHeadersOrQuery_Ignored(t *testing.T) {
	t.Parallel()
	a, b := newTenant(t), newTenant(t)
	a.mustPush(map[string]any{"costbook_items": []any{map[string]any{"id": uuid.New(), "name": "A's"}}})
	sneaky := map[string]string{"X-Contractor-Id": a.contractorID.String(), "X-Tenant-Id": a.contractorID.String()}
	r := b.do(http.MethodGet, "/api/sync/pull?contractor_id="+a.contractorID.String()+"&contractorId="+a.contractorID.String(), nil, sneaky)
	if r.status != http.StatusOK {
		t.Fatalf("pull = %d %s", r.status, r.body)
	}
	var page api.SyncPullResponse
	r.decode(t, &page)
	assertOwnedBy(t, page, b.contractorID)
	if len(page.CostbookItems) != 0 {
		t.Fatalf("B sees %+v", page.CostbookItems)
	}
	c := b.do(http.MethodGet, "/api/sync/canary?contractor_id="+a.contractorID.String(), nil, sneaky)
	var canary api.CanaryResponse
	c.decode(t, &canary)
	if c.status != http.StatusOK || canary.ContractorId != b.contractorID {
		t.Fatalf("canary = %d %+v", c.status, canary)
	}
	pushed := b.do(http.MethodPost, "/api/sync/push?contractor_id="+a.contractorID.String(),
		map[string]any{"costbook_items": []any{map[string]any{"id": uuid.New(), "name": "B's"}}}, sneaky)
	if pushed.status != http.StatusOK {
		t.Fatalf("push = %d %s", pushed.status, pushed.body)
	}
	if items := a.mustPull(nil).CostbookItems; len(items) != 1 || items[0].Name != "A's" {
		t.Fatalf("A's items = %+v", items)
	}
}
