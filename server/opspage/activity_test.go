package opspage

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestActivity_KeepsTheLatest_NewestFirst(t *testing.T) {
	a := NewActivity()
	t0 := time.Now()
	for i := range keep + 7 {
		a.addError(ErrorEvent{At: t0.Add(time.Duration(i) * time.Second), Route: fmt.Sprint(i), Status: 400, Code: "BAD_REQUEST"})
		a.Note("tombstone purge", fmt.Sprint(i), false)
	}
	errs, events := a.snapshot()
	if len(errs) != keep || len(events) != keep {
		t.Fatalf("kept %d errors, %d events; want %d each", len(errs), len(events), keep)
	}
	if errs[0].Route != fmt.Sprint(keep+6) || errs[keep-1].Route != "7" {
		t.Errorf("errors from %s to %s, want newest (%d) first, oldest kept 7", errs[0].Route, errs[keep-1].Route, keep+6)
	}
	if events[0].Detail != fmt.Sprint(keep+6) || events[keep-1].Detail != "7" {
		t.Errorf("events from %s to %s, want newest first", events[0].Detail, events[keep-1].Detail)
	}
}

func TestSummarise_ByCodeAndRateLimitedByWho(t *testing.T) {
	acme, user := uuid.New(), uuid.New()
	t0 := time.Now()
	errs := []ErrorEvent{ // newest first
		{At: t0.Add(3 * time.Second), Route: "/api/sync/pull", Status: 429, Code: "RATE_LIMITED", Contractor: acme},
		{At: t0.Add(2 * time.Second), Route: "/api/sync/canary", Status: 429, Code: "RATE_LIMITED", User: user},
		{At: t0.Add(1 * time.Second), Route: "/api/sync/push", Status: 429, Code: "RATE_LIMITED", Contractor: acme},
		{At: t0, Route: "/api/sync/push", Status: 409, Code: "CONFLICT", Contractor: acme},
	}
	codes, rates := summarise(errs)
	if len(codes) != 2 || codes[0].Code != "RATE_LIMITED" || codes[0].Count != 3 || codes[0].Tenants != 1 ||
		codes[0].LastRoute != "/api/sync/pull" || !codes[0].LastAt.Equal(t0.Add(3*time.Second)) {
		t.Errorf("by code = %+v, want RATE_LIMITED ×3 (1 tenant, last /api/sync/pull) first, then CONFLICT", codes)
	}
	if len(rates) != 2 || rates[0].Contractor != acme || rates[0].Count != 2 || rates[1].User != user || rates[1].Count != 1 {
		t.Errorf("rate limited = %+v, want acme ×2, then the user ×1", rates)
	}
}
