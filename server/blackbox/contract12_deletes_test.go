package blackbox_test

// Contract 1.2 (docs/contract.md, "1.2: deletes with a base version"): an entry of
// deletes.<table> is an id (1.0) or {"id": ..., "base_version": n}; with a
// base, the delete is checked like a pushed row.

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/google/uuid"

	"github.com/syncproxy/syncproxy/internal/devicetest"
)

// versionedDelete is a delete entry with a base, as a 1.2 client sends it.
func versionedDelete(id uuid.UUID, base int64) map[string]any {
	return map[string]any{"id": id, "base_version": base}
}

// live tells whether the row with id is in a full pull of table.
func live(t *testing.T, d *devicetest.Device, table string, id uuid.UUID) bool {
	t.Helper()
	_, ok := versionOf(t, d, table, id)
	return ok
}

func TestDeletes_PlainIDs_StillDeleteWithoutACheck(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
	id := uuid.New()
	d.MustPush(map[string]any{"costbook_items": []any{map[string]any{"id": id, "name": "v1"}}})
	d.MustPush(map[string]any{"costbook_items": []any{map[string]any{"id": id, "name": "v2"}}})
	// A 1.0 client sends ids only: last write wins, whatever happened since.
	res := d.MustPush(map[string]any{"deletes": map[string]any{"costbook_items": []uuid.UUID{id}}})
	if res.Deleted.CostbookItems != 1 || live(t, d, "costbook_items", id) {
		t.Fatalf("deleted %+v, row still live: %v", res.Deleted, live(t, d, "costbook_items", id))
	}
}

func TestDeletes_StaleBase_Is409WithTheCurrentRow_NothingWritten(t *testing.T) {
	t.Parallel()
	a := env.NewTenant(t)
	b := a.WithToken(a.Token) // a second device of the same account
	id := uuid.New()
	created := a.MustPush(map[string]any{"estimates": []any{map[string]any{"id": id, "number": "E-1", "title": "start"}}})
	// A edits the row; B, which last saw it at `created`, deletes it.
	edited := a.MustPush(map[string]any{"estimates": []any{map[string]any{"id": id, "number": "E-1", "title": "A's edit"}}})
	other := uuid.New()
	before := b.State()
	r := b.Push(map[string]any{
		"costbook_items": []any{map[string]any{"id": other, "name": "written only if the whole push is"}},
		"deletes":        map[string]any{"estimates": []any{versionedDelete(id, created.Version)}},
	}, map[string]string{"Idempotency-Key": "stale-delete"})
	conflicts := conflictOf(t, r)
	if len(conflicts) != 1 {
		t.Fatalf("conflicts = %+v, want one", conflicts)
	}
	c := conflicts[0]
	if c.Table != "estimates" || c.ID != id || c.BaseVersion != created.Version || c.CurrentVersion != edited.Version || c.Deleted {
		t.Errorf("conflict = %+v, want estimates %s base %d current %d live", c, id, created.Version, edited.Version)
	}
	var row map[string]json.RawMessage
	if err := json.Unmarshal(c.Row, &row); err != nil || string(row["title"]) != `"A's edit"` || string(row["sync_version"]) != jsonInt(edited.Version) {
		t.Errorf("conflict row = %s (%v), want the current row with A's edit", c.Row, err)
	}
	if after := b.State(); after != before {
		t.Errorf("a refused push wrote something:\nbefore %s\nafter  %s", before, after)
	}
	if !live(t, a, "estimates", id) {
		t.Error("the row was deleted by a stale delete")
	}
	// A 409 is not stored under its key: the corrected push under the same
	// key is applied.
	r = b.Push(map[string]any{
		"costbook_items": []any{map[string]any{"id": other, "name": "written only if the whole push is"}},
		"deletes":        map[string]any{"estimates": []any{versionedDelete(id, edited.Version)}},
	}, map[string]string{"Idempotency-Key": "stale-delete-2"})
	if r.Status != http.StatusOK {
		t.Fatalf("delete on the current base = %d: %s", r.Status, devicetest.Truncate(r.Body))
	}
	if live(t, a, "estimates", id) || !live(t, a, "costbook_items", other) {
		t.Errorf("after the delete on the current base: estimate live %v, item live %v", live(t, a, "estimates", id), live(t, a, "costbook_items", other))
	}
}

func TestDeletes_MatchingBase_Deletes(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
	id := uuid.New()
	created := d.MustPush(map[string]any{"pricing_rules": []any{map[string]any{"id": id, "name": "r", "kind": "percent"}}})
	res := d.MustPush(map[string]any{"deletes": map[string]any{"pricing_rules": []any{versionedDelete(id, created.Version)}}})
	if res.Deleted.PricingRules != 1 || live(t, d, "pricing_rules", id) {
		t.Fatalf("deleted %+v; row live %v", res.Deleted, live(t, d, "pricing_rules", id))
	}
}

func TestDeletes_DeletedSinceAndMissingRows(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
	id := uuid.New()
	created := d.MustPush(map[string]any{"costbook_folders": []any{map[string]any{"id": id, "name": "f"}}})
	del := d.MustPush(map[string]any{"deletes": map[string]any{"costbook_folders": []uuid.UUID{id}}})
	// Deleted since the base: a conflict whose row is null and whose
	// currentVersion is the delete's (a device that wants the row back
	// pushes it on that version).
	c := conflictOf(t, d.Push(map[string]any{"deletes": map[string]any{"costbook_folders": []any{versionedDelete(id, created.Version)}}}))
	if len(c) != 1 || !c[0].Deleted || c[0].CurrentVersion != del.Version || string(c[0].Row) != "null" {
		t.Errorf("delete of a row deleted since: %+v", c)
	}
	// On the tombstone's version the delete is consistent and changes nothing.
	res := d.MustPush(map[string]any{"deletes": map[string]any{"costbook_folders": []any{versionedDelete(id, del.Version)}}})
	if res.Deleted.CostbookFolders != 0 {
		t.Errorf("deleted %+v, want nothing (already deleted)", res.Deleted)
	}
	// A row the server never had is version 0.
	d.MustPush(map[string]any{"deletes": map[string]any{"costbook_folders": []any{versionedDelete(uuid.New(), 0)}}})
	c = conflictOf(t, d.Push(map[string]any{"deletes": map[string]any{"costbook_folders": []any{versionedDelete(uuid.New(), 3)}}}))
	if len(c) != 1 || c[0].CurrentVersion != 0 || !json.Valid(c[0].Row) || string(c[0].Row) != "null" {
		t.Errorf("delete with a base of a missing row: %+v", c)
	}
}

func TestDeletes_MixedPlainAndVersioned_InOneArray(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
	plain, versioned, stale := uuid.New(), uuid.New(), uuid.New()
	created := d.MustPush(map[string]any{"step_a_rules": []any{
		map[string]any{"id": plain, "name": "p"}, map[string]any{"id": versioned, "name": "v"}, map[string]any{"id": stale, "name": "s"},
	}})
	edited := d.MustPush(map[string]any{"step_a_rules": []any{map[string]any{"id": stale, "name": "edited"}}})

	// One stale base refuses the whole push, plain ids included.
	c := conflictOf(t, d.Push(map[string]any{"deletes": map[string]any{"step_a_rules": []any{
		plain, versionedDelete(versioned, created.Version), versionedDelete(stale, created.Version),
	}}}))
	if len(c) != 1 || c[0].ID != stale || c[0].CurrentVersion != edited.Version {
		t.Fatalf("conflicts = %+v, want only %s at %d", c, stale, edited.Version)
	}
	for _, id := range []uuid.UUID{plain, versioned, stale} {
		if !live(t, d, "step_a_rules", id) {
			t.Fatalf("%s deleted by a refused push", id)
		}
	}
	res := d.MustPush(map[string]any{"deletes": map[string]any{"step_a_rules": []any{
		plain, versionedDelete(versioned, created.Version), versionedDelete(stale, edited.Version),
	}}})
	if res.Deleted.StepARules != 3 {
		t.Fatalf("deleted %+v, want 3", res.Deleted)
	}
}

func TestDeletes_BadEntries_Are400NamingTheEntry(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
	id := uuid.New()
	for name, tc := range map[string]struct {
		entry any
		field string
	}{
		"missing base_version": {map[string]any{"id": id}, "costbook_items/0/base_version"},
		"missing id":           {map[string]any{"base_version": 1}, "costbook_items/0/id"},
		"negative base":        {versionedDelete(id, -1), "costbook_items/0/base_version"},
		"fractional base":      {map[string]any{"id": id, "base_version": 1.5}, "costbook_items/0/base_version"},
		"base as a string":     {map[string]any{"id": id, "base_version": "1"}, "costbook_items/0/base_version"},
		"not a uuid":           {map[string]any{"id": "nope", "base_version": 1}, "costbook_items/0/id"},
		"unknown member":       {map[string]any{"id": id, "base_version": 1, "force": true}, "costbook_items/0/force"},
		"a number":             {42, "costbook_items/0"},
		"an array":             {[]any{id}, "costbook_items/0"},
	} {
		t.Run(name, func(t *testing.T) {
			e := d.Push(map[string]any{"deletes": map[string]any{"costbook_items": []any{tc.entry}}}).Envelope(t, http.StatusBadRequest, "BAD_REQUEST")
			assertDetails(t, e, wantDetail{"deletes", -1, tc.field})
		})
	}
	// One id twice must say the same about its base, like entries of one row.
	e := d.Push(map[string]any{"deletes": map[string]any{"costbook_items": []any{versionedDelete(id, 1), versionedDelete(id, 2)}}}).
		Envelope(t, http.StatusBadRequest, "BAD_REQUEST")
	assertDetails(t, e, wantDetail{"deletes", -1, "costbook_items/1/base_version"})
	e = d.Push(map[string]any{"deletes": map[string]any{"costbook_items": []any{id, versionedDelete(id, 0)}}}).
		Envelope(t, http.StatusBadRequest, "BAD_REQUEST")
	assertDetails(t, e, wantDetail{"deletes", -1, "costbook_items/1/base_version"})
	// The same id and base twice is one delete.
	d.MustPush(map[string]any{"deletes": map[string]any{"costbook_items": []any{versionedDelete(id, 0), versionedDelete(id, 0)}}})
}

func jsonInt(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
