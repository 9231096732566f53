package blackbox_test

// Hostile pushes and pulls (issue 11, attacks 2, 3, 4 and 6): what one
// tenant's device can make the server spend, and what it can store that
// breaks its tenant's other devices.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/syncproxy/syncproxy/internal/devicetest"
	"github.com/syncproxy/syncproxy/server/syncstore"
)

// allocatedDuring is the memory the process allocated while fn ran. The
// tests using it are not parallel, so the figure is the request's.
func allocatedDuring(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestHostile_HugePushes_FoundByCounting: 2.6 million empty rows in 7.8 MB
// (or 120,000 valid ones) were validated one by one, 2.4 GB and 18 s of CPU,
// before the row limit answered. Rows are counted as they stream past: past
// the limit the answer is 413 at once, and a body full of invalid rows stops
// being validated after the first problems.
func TestHostile_HugePushes_FoundByCounting(t *testing.T) {
	base, _ := env.Listen(t, env.DefaultConfig(t, map[string]string{"SYNC_MAX_BODY_BYTES": "8388608", "SYNC_MAX_PUSH_ROWS": "10000"}), env.Pool, nil)
	d := env.NewTenant(t).On(base)
	before := d.State()

	emptyRows := `{"costbook_items":[` + strings.Repeat(`{},`, 2_600_000-1) + `{}]}`
	var valid strings.Builder
	valid.WriteString(`{"costbook_items":[`)
	for i := range 120_000 {
		if i > 0 {
			valid.WriteByte(',')
		}
		fmt.Fprintf(&valid, `{"id":%q,"name":"n"}`, uuid.New())
	}
	valid.WriteString(`]}`)
	var invalid strings.Builder
	invalid.WriteString(`{"costbook_items":[`)
	for i := range 9_000 {
		if i > 0 {
			invalid.WriteByte(',')
		}
		invalid.WriteString(`{"name":42}`)
	}
	invalid.WriteString(`]}`)

	cases := []struct {
		name     string
		body     string
		status   int
		maxAlloc uint64
	}{
		// The body itself is read into memory (8 MB at most); what must not
		// happen is a cost proportional to the number of rows on top.
		{"2.6 million empty rows", emptyRows, http.StatusRequestEntityTooLarge, 64 << 20},
		{"120,000 valid rows", valid.String(), http.StatusRequestEntityTooLarge, 64 << 20},
		{"9,000 invalid rows under the limit", invalid.String(), http.StatusBadRequest, 64 << 20},
	}
	for _, tc := range cases {
		var r devicetest.Response
		alloc := allocatedDuring(func() { r = d.Push(tc.body) })
		code := map[int]string{http.StatusRequestEntityTooLarge: "PAYLOAD_TOO_LARGE", http.StatusBadRequest: "BAD_REQUEST"}[tc.status]
		e := r.Envelope(t, tc.status, code)
		if alloc > tc.maxAlloc {
			t.Errorf("%s (%d bytes): the process allocated %d MiB answering it, want at most %d MiB",
				tc.name, len(tc.body), alloc>>20, tc.maxAlloc>>20)
		}
		if tc.status == http.StatusBadRequest {
			if len(e.Details) == 0 || len(e.Details) > 50 {
				t.Errorf("%s: %d details, want between 1 and 50", tc.name, len(e.Details))
			}
			if !strings.Contains(e.Message, "first problems only") {
				t.Errorf("%s: message %q does not say the details are the first problems only", tc.name, e.Message)
			}
		} else if !strings.Contains(e.Message, "10000") {
			t.Errorf("%s: message %q does not give the limit", tc.name, e.Message)
		}
	}
	if d.State() != before {
		t.Fatal("a rejected push wrote")
	}
}

// TestHostile_DeepOrHugeJSONColumn_400NamingTheField: a line_items nested
// 9,990 levels deep was stored, and every later pull of the tenant was
// 9,993 levels deep (Python's json.loads fails on it); a 7 MB value made
// pages of 105 MB. A JSON column value is at most 32 levels deep and
// SYNC_MAX_JSON_VALUE_BYTES encoded.
func TestHostile_DeepOrHugeJSONColumn_400NamingTheField(t *testing.T) {
	base, _ := env.Listen(t, env.DefaultConfig(t, map[string]string{"SYNC_MAX_BODY_BYTES": "4194304", "SYNC_MAX_JSON_VALUE_BYTES": "1048576"}), env.Pool, nil)
	d := env.NewTenant(t).On(base)
	nested := func(depth int) string { return strings.Repeat("[", depth) + strings.Repeat("]", depth) }
	estimate := func(lineItems string) string {
		return fmt.Sprintf(`{"estimates":[{"id":%q,"number":"E-1","line_items":%s}]}`, uuid.New(), lineItems)
	}
	before := d.State()
	for _, tc := range []struct {
		name      string
		lineItems string
	}{
		{"9,990 levels deep", nested(9990)},
		{"33 levels deep", nested(33)},
		{"deep inside an object", `[{"a":` + strings.Repeat(`{"b":`, 40) + `1` + strings.Repeat(`}`, 40) + `}]`},
		{"1.5 MiB", `["` + strings.Repeat("x", 1536<<10) + `"]`},
	} {
		e := d.Push(estimate(tc.lineItems)).Envelope(t, http.StatusBadRequest, "BAD_REQUEST")
		assertDetails(t, e, wantDetail{"estimates", 0, "line_items"})
	}
	if d.State() != before {
		t.Fatal("a rejected push wrote")
	}
	// The bounds themselves are accepted and come back intact.
	d.MustPush(estimate(nested(32)))
	d.MustPush(estimate(`["` + strings.Repeat("y", (1<<20)-8) + `"]`))
}

// TestHostile_LargeRows_PagesBoundedInBytes: 15 rows with 7 MB each in
// line_items made one pull?limit=5000 return 105 MB. A page ends early, with
// hasMore, before its rows would pass SYNC_MAX_PAGE_BYTES (at least one row a
// page), and following the cursor still delivers every row exactly once.
func TestHostile_LargeRows_PagesBoundedInBytes(t *testing.T) {
	const pageBytes = 1 << 20
	base, _ := env.Listen(t, env.DefaultConfig(t, map[string]string{
		"SYNC_MAX_BODY_BYTES": "4194304", "SYNC_MAX_PAGE_BYTES": fmt.Sprint(pageBytes),
	}), env.Pool, nil)
	d := env.NewTenant(t).On(base)
	big := strings.Repeat("z", 300<<10)
	want := map[uuid.UUID]bool{}
	for range 3 {
		var rows []any
		for range 3 {
			id := uuid.New()
			want[id] = true
			rows = append(rows, map[string]any{"id": id, "number": "E", "line_items": []any{big}})
		}
		d.MustPush(map[string]any{"estimates": rows})
	}
	seen := map[uuid.UUID]int{}
	q := url.Values{"limit": {"5000"}, "tables": {"estimates"}}
	pages := 0
	for {
		pages++
		r := d.Pull(q)
		if r.Status != http.StatusOK {
			t.Fatalf("pull = %d: %s", r.Status, devicetest.Truncate(r.Body))
		}
		var page struct {
			HasMore   bool              `json:"hasMore"`
			Cursor    string            `json:"cursor"`
			Estimates []json.RawMessage `json:"estimates"`
		}
		r.Decode(t, &page)
		if len(page.Estimates) == 0 {
			t.Fatalf("page %d holds no row", pages)
		}
		// The rows are within the bound; the envelope (nine empty arrays,
		// cursor, serverTime) adds well under 4 KiB. Only a page of one
		// row may be larger.
		if len(page.Estimates) > 1 && len(r.Body) > pageBytes+4<<10 {
			t.Fatalf("page %d is %d bytes with %d rows, bound %d", pages, len(r.Body), len(page.Estimates), pageBytes)
		}
		for _, raw := range page.Estimates {
			var row struct {
				ID uuid.UUID `json:"id"`
			}
			if err := json.Unmarshal(raw, &row); err != nil {
				t.Fatal(err)
			}
			seen[row.ID]++
		}
		if !page.HasMore {
			break
		}
		q.Set("cursor", page.Cursor)
	}
	if pages < 3 {
		t.Errorf("9 rows of 300 KiB came in %d pages of at most 1 MiB", pages)
	}
	for id := range want {
		if seen[id] != 1 {
			t.Errorf("row %s delivered %d times, want once", id, seen[id])
		}
	}
	if len(seen) != len(want) {
		t.Errorf("delivered %d rows, want %d", len(seen), len(want))
	}
}

// TestHostile_PageBytes_NeverOverTheBudget: the rows and tombstones of a
// page, as the page carries them, never add up to more than
// SYNC_MAX_PAGE_BYTES, unless the page holds a single row (a page always
// carries one). Small rows on a small budget, on every table, full and
// delta: the byte bound, not the database's row sizes, ends the pages.
func TestHostile_PageBytes_NeverOverTheBudget(t *testing.T) {
	const pageBytes = 2048
	base, _ := env.Listen(t, env.DefaultConfig(t, map[string]string{"SYNC_MAX_PAGE_BYTES": fmt.Sprint(pageBytes)}), env.Pool, nil)
	everyTable(t, func(t *testing.T, tb syncstore.Table) {
		d := env.NewTenant(t).On(base)
		rows := pushRows(t, d, tb, 16, 1)
		_, _, _, start := walkTable(t, d, tb, url.Values{"limit": {"5000"}})
		if tb.Keyed {
			var list []any
			var doomed []uuid.UUID
			for id := range rows {
				list = append(list, sampleRow(t, tb, id, 2))
				if tb.Deletable && len(doomed) < 8 {
					doomed = append(doomed, id)
				}
			}
			d.MustPush(map[string]any{tb.Name: list})
			if len(doomed) > 0 {
				d.MustPush(map[string]any{"deletes": map[string]any{tb.Name: doomed}})
			}
		}
		for _, walk := range []url.Values{{}, {"cursor": {start}}} {
			q := url.Values{"tables": {tb.Name}, "limit": {"5000"}}
			for k, v := range walk {
				q[k] = v
			}
			seen := map[uuid.UUID]int{}
			for pages := 1; ; pages++ {
				page := d.PullRaw(q)
				live, deleted := tableRows(t, tb, page)
				var raw []json.RawMessage // the rows byte for byte
				if err := json.Unmarshal(page[tb.Name], &raw); err != nil {
					t.Fatal(err)
				}
				used := 0
				for i, r := range live {
					used += len(raw[i]) + 1 // a row as the page holds it, and its comma
					seen[keyOf(t, tb, r)]++
				}
				for _, id := range deleted {
					used += len(`"` + id.String() + `",`)
					seen[id]++
				}
				if n := len(live) + len(deleted); n > 1 && used > pageBytes {
					t.Fatalf("page %d (%v) holds %d rows and tombstones in %d bytes, over SYNC_MAX_PAGE_BYTES %d",
						pages, walk, n, used, pageBytes)
				}
				if string(page["hasMore"]) != "true" {
					if tb.Keyed && pages < 2 {
						t.Errorf("%v: %d pages: the byte bound did not end a page", walk, pages)
					}
					break
				}
				var cursor string
				if err := json.Unmarshal(page["cursor"], &cursor); err != nil {
					t.Fatal(err)
				}
				q.Set("cursor", cursor)
			}
			for key, n := range seen {
				if n != 1 {
					t.Errorf("%v: %s delivered %d times", walk, key, n)
				}
			}
		}
	})
}

// TestHostile_Timestamps_AcceptedOnlyIfTheyComeBackAcceptable:
// "0001-01-01T00:00:00+14:00" was stored as year 1 BC and pulled as
// "0000-12-31T10:00:00.000Z", which the server then refused, leaving a device
// that re-pushes the row stuck on a never-retry 400; an offset Postgres
// cannot parse failed in the database with no field named.
func TestHostile_Timestamps_AcceptedOnlyIfTheyComeBackAcceptable(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
	event := func(id uuid.UUID, at string) map[string]any {
		return map[string]any{"estimate_events": []any{map[string]any{"id": id, "estimate_id": uuid.New(), "kind": "k", "occurred_at": at}}}
	}
	for _, at := range []string{
		"0001-01-01T00:00:00+14:00",    // year 0 in UTC
		"9999-12-31T23:59:59-23:59",    // offset beyond ±18:00 (and year 10000 in UTC)
		"2025-01-01T00:00:00+18:01",    // offset beyond ±18:00
		"9999-12-31T23:00:00-01:00",    // year 10000 in UTC
		"2025-01-01T00:00:00",          // no offset
		"2025-02-30T00:00:00Z",         // no such day
		"2025-01-01T24:00:00Z",         // no such hour
		"10000-01-01T00:00:00Z",        // five-digit year
		"2025-01-01T00:00:00.123+1:00", // malformed offset
	} {
		e := d.Push(event(uuid.New(), at)).Envelope(t, http.StatusBadRequest, "BAD_REQUEST")
		assertDetails(t, e, wantDetail{"estimate_events", 0, "occurred_at"})
	}
	// Whatever is accepted comes back in a form that is accepted again.
	for at, back := range map[string]string{
		"2025-01-01T00:00:00+17:00":         "2024-12-31T07:00:00.000Z", // an offset Postgres cannot parse itself
		"2025-01-01T00:00:00-18:00":         "2025-01-01T18:00:00.000Z",
		"9999-12-31T23:59:59.9999999Z":      "9999-12-31T23:59:59.999Z", // truncated, never rounded into year 10000
		"0001-01-01T00:00:00Z":              "0001-01-01T00:00:00.000Z",
		"2025-06-01T12:00:00.1234567+02:00": "2025-06-01T10:00:00.123Z",
	} {
		id := uuid.New()
		d.MustPush(event(id, at))
		var pulled map[string]json.RawMessage
		for _, row := range d.PullRows("estimate_events") {
			var rid uuid.UUID
			if json.Unmarshal(row["id"], &rid) == nil && rid == id {
				pulled = row
			}
		}
		if pulled == nil {
			t.Fatalf("%s: row not pulled", at)
		}
		if got := string(pulled["occurred_at"]); got != `"`+back+`"` {
			t.Errorf("%s came back as %s, want %q", at, got, back)
		}
		// A device re-pushes the row as it pulled it.
		echo := map[string]any{}
		for k, v := range pulled {
			echo[k] = v
		}
		body, err := json.Marshal(map[string]any{"estimate_events": []any{echo}})
		if err != nil {
			t.Fatal(err)
		}
		if r := d.Push(body); r.Status != http.StatusOK {
			t.Errorf("%s: re-pushing the pulled row = %d: %s", at, r.Status, bytes.TrimSpace(r.Body))
		}
	}
}
