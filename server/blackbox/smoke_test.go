package blackbox_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/google/uuid"

	"github.com/syncproxy/syncproxy/gen/api"
)

func TestCanary_ReturnsServerDerivedIdentity(t *testing.T) {
	d := env.NewTenant(t)
	r := d.Do(http.MethodGet, "/api/sync/canary", nil, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("canary = %d %s", r.Status, r.Body)
	}
	var c api.CanaryResponse
	r.Decode(t, &c)
	if !c.Ok || c.UserId != d.UserID || c.ContractorId != d.ContractorID {
		t.Fatalf("canary = %+v, want user %s contractor %s", c, d.UserID, d.ContractorID)
	}
}

func TestPushThenPull_RoundTrip(t *testing.T) {
	d := env.NewTenant(t)
	id := uuid.New()
	res := d.MustPush(map[string]any{
		"costbook_items": []map[string]any{{"id": id, "name": "Drywall", "unit_cost": "12.50"}},
	})
	if res.Upserted.CostbookItems != 1 {
		t.Fatalf("upserted = %+v", res.Upserted)
	}
	page := d.MustPull(url.Values{})
	if len(page.CostbookItems) != 1 || page.CostbookItems[0].ID != id || string(*page.CostbookItems[0].UnitCost) != "12.50" {
		t.Fatalf("pull = %+v", page.CostbookItems)
	}
	if len(page.Contractors) != 1 || page.Contractors[0].ID != d.ContractorID {
		t.Fatalf("contractors = %+v", page.Contractors)
	}
}
