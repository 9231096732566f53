package blackbox_test

// Every per-table behaviour, on every synced table: the tables come from the
// generated registry and the rows from the spec's write schemas
// (testenv.Samples), so a table added later is covered here without a line
// of this file changing. Mutation testing found that assertions written for
// costbook_items alone let the same bug in estimates through.

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/syncproxy/syncproxy/internal/devicetest"
	"github.com/syncproxy/syncproxy/internal/testenv"
	"github.com/syncproxy/syncproxy/server/syncstore"
)

// everyTable runs fn as a parallel subtest per synced table.
func everyTable(t *testing.T, fn func(t *testing.T, tb syncstore.Table)) {
	t.Helper()
	for _, tb := range syncstore.Tables() {
		t.Run(tb.Name, func(t *testing.T) {
			t.Parallel()
			fn(t, tb)
		})
	}
}

// sampleRow is a row of tb with every client column set; id is ignored for
// tables keyed by the contractor.
func sampleRow(t *testing.T, tb syncstore.Table, id uuid.UUID, variant int) map[string]any {
	t.Helper()
	s, err := testenv.Samples()
	if err != nil {
		t.Fatal(err)
	}
	row, err := s.Row(tb.Name, id, variant)
	if err != nil {
		t.Fatal(err)
	}
	return row
}

// keyOf is how a pulled row of tb is identified: its id, or the contractor
// for tables keyed by it (contractors' id is the contractor).
func keyOf(t *testing.T, tb syncstore.Table, row map[string]json.RawMessage) uuid.UUID {
	t.Helper()
	field := "id"
	if tb.Singleton {
		field = "contractor_id"
	}
	var id uuid.UUID
	if err := json.Unmarshal(row[field], &id); err != nil {
		t.Fatalf("%s row without a %s: %v", tb.Name, field, err)
	}
	return id
}

// rowKey is the key a pushed row of tb gets on d's tenant.
func rowKey(d *devicetest.Device, tb syncstore.Table, id uuid.UUID) uuid.UUID {
	if tb.Keyed {
		return id
	}
	return d.ContractorID
}

// pushRows pushes rows of tb (n of them for keyed tables, else one) and
// returns them by key.
func pushRows(t *testing.T, d *devicetest.Device, tb syncstore.Table, n, variant int) map[uuid.UUID]map[string]any {
	t.Helper()
	if !tb.Keyed {
		n = 1
	}
	rows := map[uuid.UUID]map[string]any{}
	var list []any
	for range n {
		id := uuid.New()
		row := sampleRow(t, tb, id, variant)
		rows[rowKey(d, tb, id)] = row
		list = append(list, row)
	}
	d.MustPush(map[string]any{tb.Name: list})
	return rows
}

// tableRows returns the rows and tombstones of tb in one page.
func tableRows(t *testing.T, tb syncstore.Table, page map[string]json.RawMessage) ([]map[string]json.RawMessage, []uuid.UUID) {
	t.Helper()
	var rows []map[string]json.RawMessage
	if err := json.Unmarshal(page[tb.Name], &rows); err != nil {
		t.Fatalf("page.%s: %v", tb.Name, err)
	}
	var deleted map[string][]uuid.UUID
	if err := json.Unmarshal(page["deleted"], &deleted); err != nil {
		t.Fatalf("page.deleted: %v", err)
	}
	return rows, deleted[tb.Name]
}

// walkTable follows cursors over tb alone from q and returns every row (by
// key, counting deliveries) and tombstone delivered, and the pages walked.
func walkTable(t *testing.T, d *devicetest.Device, tb syncstore.Table, q url.Values) (live map[uuid.UUID][]map[string]json.RawMessage, gone map[uuid.UUID]int, pages int, cursor string) {
	t.Helper()
	live, gone = map[uuid.UUID][]map[string]json.RawMessage{}, map[uuid.UUID]int{}
	q2 := url.Values{"tables": {tb.Name}}
	for k, v := range q {
		q2[k] = v
	}
	for {
		pages++
		if pages > 200 {
			t.Fatalf("%s: the walk did not end after %d pages (a page that does not advance?)", tb.Name, pages)
		}
		page := d.PullRaw(q2)
		rows, deleted := tableRows(t, tb, page)
		for _, r := range rows {
			k := keyOf(t, tb, r)
			live[k] = append(live[k], r)
		}
		for _, id := range deleted {
			gone[id]++
		}
		if err := json.Unmarshal(page["cursor"], &cursor); err != nil {
			t.Fatal(err)
		}
		if string(page["hasMore"]) != "true" {
			return live, gone, pages, cursor
		}
		q2.Del("since")
		q2.Set("cursor", cursor)
	}
}

// assertPulled checks that a pulled row carries every pushed column's value.
func assertPulled(t *testing.T, tb syncstore.Table, got map[string]json.RawMessage, pushed map[string]any) {
	t.Helper()
	for col, want := range pushed {
		raw, ok := got[col]
		switch {
		case !ok:
			t.Errorf("%s.%s missing from the pull", tb.Name, col)
		case !testenv.SameValue(want, raw):
			t.Errorf("%s.%s = %s, want %s", tb.Name, col, raw, mustJSON(t, want))
		}
	}
	for _, internal := range []string{"sync_seq", "deleted_at"} {
		if _, ok := got[internal]; ok {
			t.Errorf("%s leaks the internal column %s", tb.Name, internal)
		}
	}
}

func TestEveryTable_FullPull_LiveRowsNoTombstones(t *testing.T) {
	everyTable(t, func(t *testing.T, tb syncstore.Table) {
		d := env.NewTenant(t)
		rows := pushRows(t, d, tb, 3, 1)
		var doomed uuid.UUID
		if tb.Deletable {
			for id := range rows {
				doomed = id
				break
			}
			d.MustPush(map[string]any{"deletes": map[string]any{tb.Name: []uuid.UUID{doomed}}})
			delete(rows, doomed)
		}
		live, gone, _, _ := walkTable(t, d, tb, url.Values{"limit": {"5000"}})
		if len(gone) != 0 {
			t.Errorf("a full pull delivered tombstones: %v", gone)
		}
		if _, ok := live[doomed]; tb.Deletable && ok {
			t.Errorf("a full pull delivered the deleted row %s", doomed)
		}
		if len(live) != len(rows) {
			t.Errorf("full pull has %d rows, want the %d live ones", len(live), len(rows))
		}
		for key, pushed := range rows {
			if got := live[key]; len(got) != 1 {
				t.Errorf("row %s delivered %d times, want once", key, len(got))
			} else {
				assertPulled(t, tb, got[0], pushed)
			}
		}
	})
}

func TestEveryTable_Delta_ChangesAndTombstonesOnly(t *testing.T) {
	everyTable(t, func(t *testing.T, tb syncstore.Table) {
		d := env.NewTenant(t)
		rows := pushRows(t, d, tb, 3, 1)
		_, _, _, cursor := walkTable(t, d, tb, nil)

		var changed, doomed uuid.UUID
		for id := range rows {
			if changed == uuid.Nil {
				changed = id
			} else if doomed == uuid.Nil {
				doomed = id
			}
		}
		edit := sampleRow(t, tb, changed, 2)
		body := map[string]any{tb.Name: []any{edit}}
		if tb.Deletable {
			body["deletes"] = map[string]any{tb.Name: []uuid.UUID{doomed}}
		}
		d.MustPush(body)

		live, gone, _, next := walkTable(t, d, tb, url.Values{"cursor": {cursor}})
		if len(live) != 1 || len(live[changed]) != 1 {
			t.Fatalf("delta rows = %v, want exactly the changed row %s", slices.Collect(maps.Keys(live)), changed)
		}
		assertPulled(t, tb, live[changed][0], edit)
		switch {
		case tb.Deletable && (len(gone) != 1 || gone[doomed] != 1):
			t.Errorf("delta tombstones = %v, want exactly %s", gone, doomed)
		case !tb.Deletable && len(gone) != 0:
			t.Errorf("delta tombstones = %v on a table without deletes", gone)
		}
		// Nothing changed since: the next delta is empty.
		if live, gone, _, _ = walkTable(t, d, tb, url.Values{"cursor": {next}}); len(live)+len(gone) != 0 {
			t.Fatalf("a delta with nothing new delivered rows %v, tombstones %v", slices.Collect(maps.Keys(live)), gone)
		}
	})
}

func TestEveryTable_Paging_EveryRowExactlyOnce(t *testing.T) {
	everyTable(t, func(t *testing.T, tb syncstore.Table) {
		d := env.NewTenant(t)
		// Two pushes: rows that share one sync_seq page by id.
		rows := pushRows(t, d, tb, 5, 1)
		for k, v := range pushRows(t, d, tb, 2, 1) {
			rows[k] = v
		}
		_, _, _, start := walkTable(t, d, tb, url.Values{"limit": {"5000"}})
		for _, limit := range []int{1, 2} {
			live, gone, pages, _ := walkTable(t, d, tb, url.Values{"limit": {fmt.Sprint(limit)}})
			if len(gone) != 0 {
				t.Errorf("limit %d: full walk delivered tombstones %v", limit, gone)
			}
			assertEachOnce(t, fmt.Sprintf("limit %d full walk", limit), live, rows)
			if want := (len(rows) + limit - 1) / limit; pages < want {
				t.Errorf("limit %d: %d rows came in %d pages", limit, len(rows), pages)
			}
		}
		if !tb.Keyed {
			return
		}
		// A delta that pages: every row changed, then some deleted.
		var list []any
		for id := range rows {
			list = append(list, sampleRow(t, tb, id, 3))
		}
		d.MustPush(map[string]any{tb.Name: list})
		var doomed []uuid.UUID
		if tb.Deletable {
			for id := range rows {
				if len(doomed) < 3 {
					doomed = append(doomed, id)
				}
			}
			d.MustPush(map[string]any{"deletes": map[string]any{tb.Name: doomed}})
		}
		for _, limit := range []int{1, 2} {
			live, gone, _, _ := walkTable(t, d, tb, url.Values{"limit": {fmt.Sprint(limit)}, "cursor": {start}})
			want := map[uuid.UUID]map[string]any{}
			for id, r := range rows {
				if !slices.Contains(doomed, id) {
					want[id] = r
				}
			}
			assertEachOnce(t, fmt.Sprintf("limit %d delta", limit), live, want)
			for _, id := range doomed {
				if gone[id] != 1 {
					t.Errorf("limit %d delta: tombstone %s delivered %d times, want once", limit, id, gone[id])
				}
			}
			if len(gone) != len(doomed) {
				t.Errorf("limit %d delta: %d tombstones, want %d", limit, len(gone), len(doomed))
			}
		}
	})
}

func assertEachOnce(t *testing.T, what string, live map[uuid.UUID][]map[string]json.RawMessage, want map[uuid.UUID]map[string]any) {
	t.Helper()
	for id := range want {
		if n := len(live[id]); n != 1 {
			t.Errorf("%s: row %s delivered %d times, want exactly once", what, id, n)
		}
	}
	for id := range live {
		if _, ok := want[id]; !ok {
			t.Errorf("%s: delivered row %s, which is not live", what, id)
		}
	}
}

func TestEveryTable_ServerOwnedFields_IgnoredAndSetByServer(t *testing.T) {
	everyTable(t, func(t *testing.T, tb syncstore.Table) {
		d := env.NewTenant(t)
		id := uuid.New()
		row := sampleRow(t, tb, id, 1)
		forged := map[string]any{"created_at": "1999-01-01T00:00:00.000Z", "updated_at": "1999-01-01T00:00:00.000Z"}
		if tb.Name != "contractors" {
			forged["contractor_id"] = uuid.New().String()
		}
		for k, v := range forged {
			row[k] = v
		}
		before := time.Now().Add(-time.Minute)
		d.MustPush(map[string]any{tb.Name: []any{row}})
		first := onlyRow(t, d, tb, rowKey(d, tb, id))
		checkOwned := func(got map[string]json.RawMessage) (created, updated time.Time) {
			t.Helper()
			if tb.Name != "contractors" {
				var c uuid.UUID
				if err := json.Unmarshal(got["contractor_id"], &c); err != nil || c != d.ContractorID {
					t.Errorf("contractor_id = %s, want the caller's %s", got["contractor_id"], d.ContractorID)
				}
			}
			for _, col := range []string{"created_at", "updated_at"} {
				var ts time.Time
				if err := json.Unmarshal(got[col], &ts); err != nil {
					t.Fatalf("%s = %s: %v", col, got[col], err)
				}
				if ts.Before(before) || ts.After(time.Now().Add(time.Minute)) {
					t.Errorf("%s = %s: the client's value was stored, or not the server's clock", col, got[col])
				}
				if col == "created_at" {
					created = ts
				} else {
					updated = ts
				}
			}
			return created, updated
		}
		created, updated := checkOwned(first)
		time.Sleep(5 * time.Millisecond) // timestamps have millisecond precision
		again := sampleRow(t, tb, id, 2)
		for k, v := range forged {
			again[k] = v
		}
		d.MustPush(map[string]any{tb.Name: []any{again}})
		created2, updated2 := checkOwned(onlyRow(t, d, tb, rowKey(d, tb, id)))
		if tb.Name != "contractors" && !created2.Equal(created) {
			t.Errorf("created_at moved on an update: %s -> %s", created, created2)
		}
		if !updated2.After(updated) {
			t.Errorf("updated_at did not move on an update: %s -> %s", updated, updated2)
		}
	})
}

// onlyRow is the row with key of a full pull of tb.
func onlyRow(t *testing.T, d *devicetest.Device, tb syncstore.Table, key uuid.UUID) map[string]json.RawMessage {
	t.Helper()
	live, _, _, _ := walkTable(t, d, tb, url.Values{"limit": {"5000"}})
	got := live[key]
	if len(got) != 1 {
		t.Fatalf("row %s delivered %d times by a full pull, want once", key, len(got))
	}
	return got[0]
}

func TestEveryTable_OtherTenantsIDs_ReachNothing(t *testing.T) {
	everyTable(t, func(t *testing.T, tb syncstore.Table) {
		a, b := env.NewTenant(t), env.NewTenant(t)
		id := uuid.New()
		mine := sampleRow(t, tb, id, 1)
		a.MustPush(map[string]any{tb.Name: []any{mine}})
		before := a.State()

		theirs := sampleRow(t, tb, id, 2)
		if tb.Name == "contractors" {
			// The contractors row a push writes is the caller's own: naming
			// another contractor's id is refused and writes nothing.
			theirs["id"] = a.ContractorID.String()
			b.Push(map[string]any{tb.Name: []any{theirs}}).Envelope(t, http.StatusBadRequest, "BAD_REQUEST")
		} else {
			b.MustPush(map[string]any{tb.Name: []any{theirs}})
			if tb.Deletable {
				b.MustPush(map[string]any{"deletes": map[string]any{tb.Name: []uuid.UUID{id}}})
			}
		}
		if after := a.State(); after != before {
			t.Fatalf("another tenant's push with the same id changed this tenant:\nbefore %s\nafter  %s", before, after)
		}
		assertPulled(t, tb, onlyRow(t, a, tb, rowKey(a, tb, id)), mine)
	})
}

func TestEveryTable_DuplicateKeysInOnePush_OneRowCounted(t *testing.T) {
	everyTable(t, func(t *testing.T, tb syncstore.Table) {
		d := env.NewTenant(t)
		id := uuid.New()
		first, last := sampleRow(t, tb, id, 1), sampleRow(t, tb, id, 2)
		r := d.Push(map[string]any{tb.Name: []any{first, last}})
		if r.Status != http.StatusOK {
			t.Fatalf("push = %d: %s", r.Status, devicetest.Truncate(r.Body))
		}
		var counts struct {
			Upserted map[string]int `json:"upserted"`
			Deduped  map[string]int `json:"deduped"`
		}
		r.Decode(t, &counts)
		if counts.Upserted[tb.Name] != 1 || counts.Deduped[tb.Name] != 1 {
			t.Errorf("upserted %d, deduped %d; want 1 and 1", counts.Upserted[tb.Name], counts.Deduped[tb.Name])
		}
		assertPulled(t, tb, onlyRow(t, d, tb, rowKey(d, tb, id)), last)
	})
}

func TestEveryTable_Deletes_TombstoneCountAndRevive(t *testing.T) {
	everyTable(t, func(t *testing.T, tb syncstore.Table) {
		d := env.NewTenant(t)
		if !tb.Deletable {
			// Tables whose rows cannot be deleted refuse deletes outright.
			r := d.Push(map[string]any{"deletes": map[string]any{tb.Name: []uuid.UUID{uuid.New()}}})
			r.Envelope(t, http.StatusBadRequest, "BAD_REQUEST")
			return
		}
		rows := pushRows(t, d, tb, 2, 1)
		var ids []uuid.UUID
		for id := range rows {
			ids = append(ids, id)
		}
		_, _, _, cursor := walkTable(t, d, tb, nil)
		deleted := func(ids ...uuid.UUID) int {
			t.Helper()
			r := d.Push(map[string]any{"deletes": map[string]any{tb.Name: ids}})
			if r.Status != http.StatusOK {
				t.Fatalf("delete = %d: %s", r.Status, devicetest.Truncate(r.Body))
			}
			var counts struct {
				Deleted map[string]int `json:"deleted"`
			}
			r.Decode(t, &counts)
			return counts.Deleted[tb.Name]
		}
		if n := deleted(ids[0], ids[1], uuid.New()); n != 2 {
			t.Errorf("deleted count = %d, want 2 (an unknown id deletes nothing)", n)
		}
		if n := deleted(ids[0]); n != 0 {
			t.Errorf("deleting a tombstone again counted %d", n)
		}
		live, gone, _, next := walkTable(t, d, tb, url.Values{"cursor": {cursor}})
		if len(live) != 0 || gone[ids[0]] != 1 || gone[ids[1]] != 1 || len(gone) != 2 {
			t.Errorf("delta after deletes: rows %v, tombstones %v; want the two tombstones only", slices.Collect(maps.Keys(live)), gone)
		}
		if full, _, _, _ := walkTable(t, d, tb, nil); len(full) != 0 {
			t.Errorf("deleted rows in a full pull: %v", slices.Collect(maps.Keys(full)))
		}
		revived := sampleRow(t, tb, ids[0], 3)
		d.MustPush(map[string]any{tb.Name: []any{revived}})
		live, gone, _, _ = walkTable(t, d, tb, url.Values{"cursor": {next}})
		if len(live[ids[0]]) != 1 || len(gone) != 0 {
			t.Fatalf("after an upsert of a deleted id: rows %v, tombstones %v; want the row back", slices.Collect(maps.Keys(live)), gone)
		}
		assertPulled(t, tb, live[ids[0]][0], revived)
	})
}

// TestEveryTable_NullClearsEveryOptionalColumn: an explicit null clears a
// column (contract 1.1), on every table and every column the write schema
// lets a push set to null. A cleared column reads as a new row's does (null,
// or the column default where the column is NOT NULL), and the sample value
// it replaced differs from that, so a null the server ignored shows.
func TestEveryTable_NullClearsEveryOptionalColumn(t *testing.T) {
	samples, err := testenv.Samples()
	if err != nil {
		t.Fatal(err)
	}
	everyTable(t, func(t *testing.T, tb syncstore.Table) {
		cols, err := samples.Nullable(tb.Name)
		if err != nil {
			t.Fatal(err)
		}
		if len(cols) == 0 {
			t.Skipf("%s has no column a push may set to null", tb.Name)
		}
		// The reference: a new row with only the required columns, on a
		// tenant of its own (singletons hold one row per contractor).
		fresh := env.NewTenant(t)
		freshID := uuid.New()
		bare, err := samples.Required(tb.Name, freshID, 1)
		if err != nil {
			t.Fatal(err)
		}
		fresh.MustPush(map[string]any{tb.Name: []any{bare}})
		want := onlyRow(t, fresh, tb, rowKey(fresh, tb, freshID))

		// A full row whose every nullable column holds a value a new row
		// does not get (of two sample variants, one differs: a boolean's
		// default is one of them), so a null the server ignored shows.
		d := env.NewTenant(t)
		id := uuid.New()
		full, other := sampleRow(t, tb, id, 1), sampleRow(t, tb, id, 2)
		for _, col := range cols {
			if testenv.SameValue(full[col], want[col]) {
				full[col] = other[col]
			}
			if testenv.SameValue(full[col], want[col]) {
				t.Fatalf("%s.%s: both sample values are what a new row gets: give the column an example in the spec", tb.Name, col)
			}
		}
		d.MustPush(map[string]any{tb.Name: []any{full}})
		cleared, err := samples.Required(tb.Name, id, 1)
		if err != nil {
			t.Fatal(err)
		}
		for _, col := range cols {
			cleared[col] = nil
		}
		d.MustPush(map[string]any{tb.Name: []any{cleared}})
		got := onlyRow(t, d, tb, rowKey(d, tb, id))
		for _, col := range cols {
			if !testenv.JSONEqual(got[col], want[col]) {
				t.Errorf("%s.%s = %s after an explicit null over %s, want %s (a new row's value)",
					tb.Name, col, got[col], mustJSON(t, full[col]), want[col])
			}
		}
	})
}

// TestEveryTable_BaseVersionNotTheStoredVersion_409: a base_version is
// accepted only when it is the stored row's version. One newer than the
// stored version, or any base but 0 for a row the server never stored
// (version 0), describes an edit of a row the server never had: 409, nothing
// written.
func TestEveryTable_BaseVersionNotTheStoredVersion_409(t *testing.T) {
	everyTable(t, func(t *testing.T, tb syncstore.Table) {
		d := env.NewTenant(t)
		id := uuid.New()
		key := rowKey(d, tb, id)
		withBase := func(variant int, base int64) map[string]any {
			row := sampleRow(t, tb, id, variant)
			row["base_version"] = base
			return map[string]any{tb.Name: []any{row}}
		}
		expectConflict := func(body map[string]any, base, current int64) {
			t.Helper()
			before := d.State()
			c := conflictOf(t, d.Push(body))
			if len(c) != 1 || c[0].Table != tb.Name || c[0].ID != key || c[0].BaseVersion != base || c[0].CurrentVersion != current {
				t.Errorf("base %d on a row at version %d: conflicts %+v, want one naming %s %s", base, current, c, tb.Name, key)
			}
			if d.State() != before {
				t.Errorf("base %d on a row at version %d: the 409 push wrote", base, current)
			}
		}
		// Never pushed (the contractors row was provisioned: version 0).
		expectConflict(withBase(1, 1), 1, 0)

		stored := d.MustPush(map[string]any{tb.Name: []any{sampleRow(t, tb, id, 1)}}).Version
		expectConflict(withBase(2, stored+1), stored+1, stored)
		expectConflict(withBase(2, stored+97), stored+97, stored)
		if stored > 1 {
			expectConflict(withBase(2, stored-1), stored-1, stored)
		}
		edited := d.MustPush(withBase(2, stored))
		if v, ok := versionOf(t, d, tb.Name, key); !ok || v != edited.Version {
			t.Errorf("the edit with the right base: row at version %d, want %d", v, edited.Version)
		}
	})
}

// TestEveryTable_PageEndingAtTheLimit_NoExtraPage: when a table's changes
// fill a page exactly, that page says hasMore: false; an extra empty page
// would cost every device a round trip.
func TestEveryTable_PageEndingAtTheLimit_NoExtraPage(t *testing.T) {
	everyTable(t, func(t *testing.T, tb syncstore.Table) {
		d := env.NewTenant(t)
		rows := pushRows(t, d, tb, 3, 1)
		n := len(rows)
		live, _, pages, start := walkTable(t, d, tb, url.Values{"limit": {fmt.Sprint(n)}})
		if pages != 1 || len(live) != n {
			t.Errorf("full pull of %d rows with limit %d: %d rows in %d pages, want one page", n, n, len(live), pages)
		}
		if n > 1 {
			if _, _, pages, _ := walkTable(t, d, tb, url.Values{"limit": {"1"}}); pages != n {
				t.Errorf("full pull of %d rows with limit 1: %d pages, want %d", n, pages, n)
			}
		}
		// A delta that fills its page exactly: every row changed, or deleted.
		body := map[string]any{}
		if tb.Deletable {
			var ids []uuid.UUID
			for id := range rows {
				ids = append(ids, id)
			}
			body["deletes"] = map[string]any{tb.Name: ids}
		} else {
			var list []any
			for id := range rows {
				list = append(list, sampleRow(t, tb, id, 2))
			}
			body[tb.Name] = list
		}
		d.MustPush(body)
		live, gone, pages, _ := walkTable(t, d, tb, url.Values{"limit": {fmt.Sprint(n)}, "cursor": {start}})
		if pages != 1 || len(live)+len(gone) != n {
			t.Errorf("delta of %d changes with limit %d: %d rows and %d tombstones in %d pages, want one page",
				n, n, len(live), len(gone), pages)
		}
	})
}

// TestEveryTable_Digest_LiveRowsOnly: the digest counts and sums the live
// rows only, on every table: the contract's figures computed by a client
// from a full pull (which holds no tombstones) equal the server's, after
// deletions where the table has them.
func TestEveryTable_Digest_LiveRowsOnly(t *testing.T) {
	everyTable(t, func(t *testing.T, tb syncstore.Table) {
		d := env.NewTenant(t)
		rows := pushRows(t, d, tb, 4, 1)
		if tb.Deletable {
			var doomed []uuid.UUID
			for id := range rows {
				if len(doomed) < 2 {
					doomed = append(doomed, id)
				}
			}
			d.MustPush(map[string]any{"deletes": map[string]any{tb.Name: doomed}})
		}
		live, _, _, _ := walkTable(t, d, tb, url.Values{"limit": {"5000"}})
		var pulled []map[string]json.RawMessage
		for _, r := range live {
			pulled = append(pulled, r...)
		}
		count, digest := clientDigest(t, tb, pulled)
		got := serverDigest(t, d, tb.Name)
		if got.Count != count || got.Digest != digest {
			t.Errorf("server count %d digest %s; a client's from the full pull: %d rows, digest %s", got.Count, got.Digest, count, digest)
		}
	})
}
