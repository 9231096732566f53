package server_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/google/uuid"

	"github.com/syncproxy/syncproxy/gen/api"
)

func TestCanary_ReturnsServerDerivedIdentity(t *testing.T) {
	d := newTenant(t)
	r := d.do(http.MethodGet, "/api/sync/canary", nil, nil)
	if r.status != http.StatusOK {
		t.Fatalf("canary = %d %s", r.status, r.body)
	}
	var c api.CanaryResponse
	r.decode(t, &c)
	if !c.Ok || c.UserId != d.userID || c.ContractorId != d.contractorID {
		t.Fatalf("canary = %+v, want user %s contractor %s", c, d.userID, d.contractorID)
	}
}

func TestPushThenPull_RoundTrip(t *testing.T) {
	d := newTenant(t)
	id := uuid.New()
	res := d.mustPush(map[string]any{
		"costbook_items": []map[string]any{{"id": id, "name": "Drywall", "unit_cost": "12.50"}},
	})
	if res.Upserted.CostbookItems != 1 {
		t.Fatalf("upserted = %+v", res.Upserted)
	}
	page := d.mustPull(url.Values{})
	if len(page.CostbookItems) != 1 || page.CostbookItems[0].ID != id || string(*page.CostbookItems[0].UnitCost) != "12.50" {
		t.Fatalf("pull = %+v", page.CostbookItems)
	}
	if len(page.Contractors) != 1 || page.Contractors[0].ID != d.contractorID {
		t.Fatalf("contractors = %+v", page.Contractors)
	}
}
