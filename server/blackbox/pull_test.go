package blackbox_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/syncproxy/syncproxy/gen/api"
	"github.com/syncproxy/syncproxy/internal/devicetest"
)

func TestPull_NewTenant_AllKeysPresentAsEmptyArrays(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
	page := d.PullRaw(nil)
	for _, k := range []string{"ok", "serverTime", "cursor", "hasMore", "deleted"} {
		if _, ok := page[k]; !ok {
			t.Fatalf("pull lacks %q", k)
		}
	}
	if string(page["ok"]) != "true" || string(page["hasMore"]) != "false" {
		t.Fatalf("ok=%s hasMore=%s", page["ok"], page["hasMore"])
	}
	// Only the contractor's own (provisioned) row exists.
	assertOnlyTables(t, page, "contractors")
	var deleted map[string]json.RawMessage
	if err := json.Unmarshal(page["deleted"], &deleted); err != nil {
		t.Fatal(err)
	}
	if len(deleted) != len(deletableTables) {
		t.Fatalf("deleted has keys %v, want %v", keysOf(deleted), deletableTables)
	}
	for _, k := range deletableTables {
		if string(deleted[k]) != "[]" {
			t.Errorf("deleted.%s = %s, want []", k, deleted[k])
		}
	}

	// Filtered to tables with no rows: still every key, all empty.
	page = d.PullRaw(url.Values{"tables": {"costbook_items,pdf_settings"}})
	assertOnlyTables(t, page)
}

func keysOf[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestPull_Full_CurrentStateWithoutTombstones(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
	keep, gone := uuid.New(), uuid.New()
	d.MustPush(map[string]any{"costbook_items": []any{
		map[string]any{"id": keep, "name": "keep"}, map[string]any{"id": gone, "name": "gone"},
	}})
	d.MustPush(map[string]any{"deletes": map[string]any{"costbook_items": []uuid.UUID{gone}}})
	page := d.MustPull(nil)
	if len(page.CostbookItems) != 1 || page.CostbookItems[0].ID != keep {
		t.Fatalf("items = %+v, want only %s", page.CostbookItems, keep)
	}
	if len(page.Deleted.CostbookItems) != 0 {
		t.Fatalf("full pull delivered tombstones %v", page.Deleted.CostbookItems)
	}
}

func TestPull_CursorDeliversChangesAndTombstones(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
	unchanged, updated, deleted, added := uuid.New(), uuid.New(), uuid.New(), uuid.New()
	d.MustPush(map[string]any{
		"costbook_items": []any{
			map[string]any{"id": unchanged, "name": "unchanged"},
			map[string]any{"id": updated, "name": "v1"},
			map[string]any{"id": deleted, "name": "doomed"},
		},
		"pdf_settings": []any{map[string]any{"template": "t1"}},
	})
	base := d.MustPull(nil)
	if base.HasMore || len(base.CostbookItems) != 3 {
		t.Fatalf("base = %d items, hasMore %v", len(base.CostbookItems), base.HasMore)
	}

	change := d.MustPush(map[string]any{
		"costbook_items": []any{map[string]any{"id": updated, "name": "v2"}, map[string]any{"id": added, "name": "new"}},
		"deletes":        map[string]any{"costbook_items": []uuid.UUID{deleted}},
	})
	delta := d.MustPull(url.Values{"cursor": {base.Cursor}})
	got := map[uuid.UUID]string{}
	for _, it := range delta.CostbookItems {
		got[it.ID] = it.Name
	}
	if len(got) != 2 || got[updated] != "v2" || got[added] != "new" {
		t.Fatalf("delta items = %v, want %s=v2 and %s=new only", got, updated, added)
	}
	for _, it := range delta.CostbookItems {
		if it.UpdatedAt.String() != change.ServerTime.String() {
			t.Errorf("%s.updated_at = %s, want the push's %s", it.ID, it.UpdatedAt, change.ServerTime)
		}
	}
	if len(delta.Deleted.CostbookItems) != 1 || delta.Deleted.CostbookItems[0] != deleted {
		t.Fatalf("delta tombstones = %v, want [%s]", delta.Deleted.CostbookItems, deleted)
	}
	if len(delta.Contractors) != 0 || len(delta.PdfSettings) != 0 {
		t.Fatalf("delta re-sent unchanged rows: contractors %d, pdf_settings %d", len(delta.Contractors), len(delta.PdfSettings))
	}

	// Nothing new: an empty delta, and the cursor stays usable.
	empty := d.PullRaw(url.Values{"cursor": {delta.Cursor}})
	assertOnlyTables(t, empty)
	if string(empty["hasMore"]) != "false" {
		t.Fatalf("hasMore = %s", empty["hasMore"])
	}
	// A singleton change comes through a cursor too.
	d.MustPush(map[string]any{"pdf_settings": []any{map[string]any{"template": "t2"}}})
	again := d.MustPull(url.Values{"cursor": {delta.Cursor}})
	if len(again.PdfSettings) != 1 || *again.PdfSettings[0].Template != "t2" || len(again.CostbookItems) != 0 {
		t.Fatalf("singleton delta = %+v items %d", again.PdfSettings, len(again.CostbookItems))
	}
}

func TestPull_Since_DeliversChangesAfterServerTime(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
	old, doomed, updated := uuid.New(), uuid.New(), uuid.New()
	d.MustPush(map[string]any{"costbook_items": []any{
		map[string]any{"id": old, "name": "old"}, map[string]any{"id": doomed, "name": "doomed"},
		map[string]any{"id": updated, "name": "v1"},
	}})
	time.Sleep(5 * time.Millisecond) // serverTime has millisecond precision
	since := d.MustPull(nil).ServerTime
	time.Sleep(5 * time.Millisecond)
	added := uuid.New()
	d.MustPush(map[string]any{
		"costbook_items": []any{map[string]any{"id": updated, "name": "v2"}, map[string]any{"id": added, "name": "new"}},
		"deletes":        map[string]any{"costbook_items": []uuid.UUID{doomed}},
	})
	pages := d.PullAll(url.Values{"since": {since.String()}, "limit": {"1"}})
	got := map[uuid.UUID]string{}
	var tombstones []uuid.UUID
	for _, p := range pages {
		for _, it := range p.CostbookItems {
			got[it.ID] = it.Name
		}
		tombstones = append(tombstones, p.Deleted.CostbookItems...)
		if len(p.Contractors) != 0 {
			t.Errorf("since delivered the contractor row, unchanged since %s", since)
		}
	}
	if len(got) != 2 || got[updated] != "v2" || got[added] != "new" {
		t.Fatalf("since %s: items %v, want only %s=v2 and %s=new", since, got, updated, added)
	}
	if len(tombstones) != 1 || tombstones[0] != doomed {
		t.Fatalf("since tombstones = %v, want [%s]", tombstones, doomed)
	}
	// The cursor a since-walk ends with continues like any other.
	last := pages[len(pages)-1]
	later := uuid.New()
	d.MustPush(map[string]any{"costbook_items": []any{map[string]any{"id": later, "name": "later"}}})
	next := d.MustPull(url.Values{"cursor": {last.Cursor}})
	if len(next.CostbookItems) != 1 || next.CostbookItems[0].ID != later {
		t.Fatalf("after since: %+v", next.CostbookItems)
	}
}

func TestPull_Paging_2500Rows_EveryRowExactlyOnce(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
	const n = 2500
	want := map[uuid.UUID]bool{}
	rows := make([]any, n)
	for i := range rows {
		id := uuid.New()
		want[id] = true
		rows[i] = map[string]any{"id": id, "name": fmt.Sprintf("item %04d", i), "unit_cost": fmt.Sprintf("%d.%02d", i, i%100)}
	}
	d.MustPush(map[string]any{"costbook_items": rows})

	seen := map[uuid.UUID]int{}
	walk := func(q url.Values, wantSizes []int) []api.SyncPullResponse {
		t.Helper()
		pages := d.PullAll(q)
		if len(pages) != len(wantSizes) {
			t.Fatalf("%d pages, want %d", len(pages), len(wantSizes))
		}
		for i, p := range pages {
			if got := len(p.CostbookItems) + len(p.Contractors); got != wantSizes[i] {
				t.Errorf("page %d has %d rows, want %d", i, got, wantSizes[i])
			}
			if wantMore := i < len(pages)-1; p.HasMore != wantMore {
				t.Errorf("page %d hasMore = %v, want %v", i, p.HasMore, wantMore)
			}
		}
		return pages
	}
	for _, p := range walk(url.Values{"limit": {"1000"}, "tables": {"costbook_items"}}, []int{1000, 1000, 500}) {
		for _, it := range p.CostbookItems {
			seen[it.ID]++
		}
	}
	if len(seen) != n {
		t.Fatalf("saw %d distinct rows, want %d", len(seen), n)
	}
	for id, c := range seen {
		if !want[id] || c != 1 {
			t.Fatalf("row %s seen %d times (pushed: %v)", id, c, want[id])
		}
	}

	// Unfiltered, the contractor row counts against the limit too.
	walk(url.Values{"limit": {"1000"}}, []int{1000, 1000, 501})

	// A delta over many changes pages the same way, tombstones included.
	last := d.PullAll(url.Values{"limit": {"5000"}})
	cursor := last[len(last)-1].Cursor
	var ids []uuid.UUID
	for id := range want {
		ids = append(ids, id)
	}
	d.MustPush(map[string]any{"deletes": map[string]any{"costbook_items": ids[:1200]}})
	pages := d.PullAll(url.Values{"cursor": {cursor}, "limit": {"500"}})
	gone := map[uuid.UUID]int{}
	for _, p := range pages {
		for _, id := range p.Deleted.CostbookItems {
			gone[id]++
		}
		if len(p.Deleted.CostbookItems) > 500 {
			t.Fatalf("a page of limit 500 carried %d tombstones", len(p.Deleted.CostbookItems))
		}
	}
	if len(pages) != 3 || len(gone) != 1200 {
		t.Fatalf("delta: %d pages, %d distinct tombstones; want 3 and 1200", len(pages), len(gone))
	}
}

func TestPull_TablesFilter_OnlyThoseTables(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
	d.MustPush(pushBodyOf(fullRows(newRowIDs(), "F")))
	page := d.PullRaw(url.Values{"tables": {"estimates,pdf_settings"}})
	assertOnlyTables(t, page, "estimates", "pdf_settings")

	// A repeated or differently ordered set is the same set.
	full := d.MustPull(url.Values{"tables": {"pdf_settings,estimates"}})
	next := d.MustPull(url.Values{"tables": {"estimates,pdf_settings"}, "cursor": {full.Cursor}})
	if len(next.Estimates)+len(next.PdfSettings) != 0 {
		t.Fatalf("cursor of the same set re-delivered rows")
	}
}

// A cursor issued for fewer tables than a pull asks for is accepted: the
// tables it covers come as a delta, the others in full (without tombstones),
// so a server that gains a table, or an app that syncs one more, never
// strands a device. The cursor it returns covers every table asked for.
func TestPull_CursorForFewerTables_OthersComeInFull(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
	estimate, item, gone := uuid.New(), uuid.New(), uuid.New()
	d.MustPush(map[string]any{
		"estimates":      []any{map[string]any{"id": estimate, "number": "E-1"}},
		"costbook_items": []any{map[string]any{"id": item, "name": "kept"}, map[string]any{"id": gone, "name": "gone"}},
	})
	d.MustPush(map[string]any{"deletes": map[string]any{"costbook_items": []uuid.UUID{gone}}})
	onlyEstimates := d.MustPull(url.Values{"tables": {"estimates"}})
	if len(onlyEstimates.Estimates) != 1 {
		t.Fatalf("first pull: %d estimates", len(onlyEstimates.Estimates))
	}

	both := d.PullAll(url.Values{"tables": {"estimates,costbook_items"}, "cursor": {onlyEstimates.Cursor}, "limit": {"1"}})
	var estimates, items []uuid.UUID
	for _, p := range both {
		for _, e := range p.Estimates {
			estimates = append(estimates, e.ID)
		}
		for _, it := range p.CostbookItems {
			items = append(items, it.ID)
		}
		if len(p.Deleted.CostbookItems) != 0 {
			t.Errorf("a table the cursor did not cover came with tombstones: %v", p.Deleted.CostbookItems)
		}
	}
	if len(estimates) != 0 {
		t.Errorf("estimates, covered by the cursor, were delivered again: %v", estimates)
	}
	if len(items) != 1 || items[0] != item {
		t.Errorf("costbook_items, not covered by the cursor, = %v; want its full state [%s]", items, item)
	}

	// The new cursor covers both tables: a change to either comes as a delta.
	changed := uuid.New()
	d.MustPush(map[string]any{
		"estimates":      []any{map[string]any{"id": estimate, "number": "E-1b"}},
		"costbook_items": []any{map[string]any{"id": changed, "name": "new"}},
	})
	next := d.MustPull(url.Values{"tables": {"costbook_items,estimates"}, "cursor": {both[len(both)-1].Cursor}})
	if len(next.Estimates) != 1 || len(next.CostbookItems) != 1 || next.CostbookItems[0].ID != changed {
		t.Fatalf("delta after the widened cursor: %d estimates, items %+v", len(next.Estimates), next.CostbookItems)
	}

	// And a cursor of every table used for a subset narrows to the subset.
	all := d.MustPull(nil)
	d.MustPush(map[string]any{"costbook_items": []any{map[string]any{"id": uuid.New(), "name": "later"}}})
	sub := d.MustPull(url.Values{"tables": {"estimates"}, "cursor": {all.Cursor}})
	if len(sub.Estimates)+len(sub.CostbookItems) != 0 {
		t.Fatalf("subset pull delivered %d estimates and %d items", len(sub.Estimates), len(sub.CostbookItems))
	}
}

func TestPull_InvalidParams_400(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
	valid := d.MustPull(nil).Cursor
	cases := []struct {
		name  string
		query url.Values
		field string
	}{
		{"limit 0", url.Values{"limit": {"0"}}, "limit"},
		{"limit 5001", url.Values{"limit": {"5001"}}, "limit"},
		{"limit -1", url.Values{"limit": {"-1"}}, "limit"},
		{"limit not a number", url.Values{"limit": {"ten"}}, "limit"},
		{"cursor garbage", url.Values{"cursor": {"!!not-a-cursor!!"}}, "cursor"},
		{"cursor valid base64 of junk", url.Values{"cursor": {"eyJ2Ijo5OX0"}}, "cursor"},
		{"cursor truncated", url.Values{"cursor": {valid[:len(valid)/2]}}, "cursor"},
		{"cursor too long", url.Values{"cursor": {string(make([]byte, 600))}}, "cursor"},
		{"unknown table", url.Values{"tables": {"invoices"}}, "tables"},
		{"one unknown among known", url.Values{"tables": {"estimates,users"}}, "tables"},
		{"cursor and since", url.Values{"cursor": {valid}, "since": {"2025-01-15T12:00:00.000Z"}}, "since"},
		{"since not a time", url.Values{"since": {"yesterday"}}, "since"},
		{"since without zone", url.Values{"since": {"2025-01-15T12:00:00"}}, "since"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := d.As(t).Pull(tc.query).Envelope(t, http.StatusBadRequest, "BAD_REQUEST")
			assertDetails(t, e, wantDetail{"", -1, tc.field})
		})
	}
}

var wireTimestamp = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)

var decimalColumns = map[string]bool{"unit_cost": true, "markup_percent": true, "subtotal": true, "tax": true, "total": true, "value": true}

var wireDecimal = regexp.MustCompile(`^-?\d+(\.\d+)?$`)

func TestPull_TimestampsHaveMillisAndZ_DecimalsAreStrings(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
	ids := newRowIDs()
	rows := fullRows(ids, "W")
	rows["estimate_events"]["occurred_at"] = "2025-06-01T08:30:00+05:30" // no fraction, an offset
	rows["costbook_items"]["unit_cost"] = "10"
	d.MustPush(pushBodyOf(rows))
	time.Sleep(2 * time.Millisecond)
	d.MustPush(map[string]any{"deletes": map[string]any{"pricing_rules": []uuid.UUID{ids["pricing_rules"]}}})

	for _, q := range []url.Values{nil, {"since": {"2000-01-01T00:00:00Z"}}} {
		r := d.Pull(q)
		var page map[string]json.RawMessage
		r.Decode(t, &page)
		var serverTime string
		_ = json.Unmarshal(page["serverTime"], &serverTime)
		if !wireTimestamp.MatchString(serverTime) {
			t.Errorf("serverTime = %q", serverTime)
		}
		checked := 0
		for _, table := range tableArrays {
			var list []map[string]json.RawMessage
			if err := json.Unmarshal(page[table], &list); err != nil {
				t.Fatal(err)
			}
			for _, row := range list {
				for col, raw := range row {
					var s *string
					isString := json.Unmarshal(raw, &s) == nil
					switch {
					case col == "created_at" || col == "updated_at" || col == "occurred_at":
						if !isString || s == nil || !wireTimestamp.MatchString(*s) {
							t.Errorf("%s.%s = %s, want 2025-01-15T12:00:00.000Z form", table, col, raw)
						}
						checked++
					case decimalColumns[col]:
						if !isString || (s != nil && !wireDecimal.MatchString(*s)) {
							t.Errorf("%s.%s = %s, want a decimal string", table, col, raw)
						}
						checked++
					}
				}
			}
		}
		if checked < 20 {
			t.Fatalf("only %d timestamp/decimal values checked", checked)
		}
	}
	events := d.PullRows("estimate_events")
	if string(events[0]["occurred_at"]) != `"2025-06-01T03:00:00.000Z"` {
		t.Fatalf("occurred_at = %s, want UTC with .000", events[0]["occurred_at"])
	}
	items := d.PullRows("costbook_items")
	if string(items[0]["unit_cost"]) != `"10"` {
		t.Fatalf("unit_cost = %s, want \"10\" exactly as pushed", items[0]["unit_cost"])
	}
}

func TestPull_LimitCountsTombstones(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
	ids := uuids(5)
	rows := []any{}
	for _, id := range ids {
		rows = append(rows, map[string]any{"id": id, "name": "x"})
	}
	d.MustPush(map[string]any{"costbook_items": rows})
	base := d.MustPull(nil)
	d.MustPush(map[string]any{"deletes": map[string]any{"costbook_items": ids}})
	pages := d.PullAll(url.Values{"cursor": {base.Cursor}, "limit": {"2"}})
	var got []uuid.UUID
	for _, p := range pages {
		if n := len(p.Deleted.CostbookItems) + len(p.CostbookItems); n > 2 {
			t.Fatalf("page carried %d rows with limit 2", n)
		}
		got = append(got, p.Deleted.CostbookItems...)
	}
	if len(pages) != 3 || fmt.Sprint(sortedStrings(got)) != fmt.Sprint(sortedStrings(ids)) {
		t.Fatalf("%d pages, tombstones %v; want 3 pages and %v", len(pages), got, ids)
	}
}

// TestPull_CursorNeverMissesConcurrentCommits follows cursors while other
// devices push: every committed row must arrive (twice is allowed, never zero).
// It stays under the per-contractor rate limit's burst (< 100 requests).
func TestPull_CursorNeverMissesConcurrentCommits(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
	cursor := d.MustPull(nil).Cursor
	const writers, pushes, maxPulls = 3, 10, 30
	var wg sync.WaitGroup
	pushed := make(chan uuid.UUID, writers*pushes*2)
	errs := make(chan string, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < pushes; i++ {
				a, b := uuid.New(), uuid.New()
				if status := pushQuiet(d, map[string]any{"costbook_items": []any{
					map[string]any{"id": a, "name": "a"}, map[string]any{"id": b, "name": "b"},
				}}); status != http.StatusOK {
					errs <- fmt.Sprintf("push = %d", status)
					return
				}
				pushed <- a
				pushed <- b
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	seen := map[uuid.UUID]bool{}
	pulls := 0
	follow := func() {
		for _, p := range d.PullAll(url.Values{"cursor": {cursor}, "limit": {"4"}}) {
			pulls++
			for _, it := range p.CostbookItems {
				seen[it.ID] = true
			}
			cursor = p.Cursor
		}
	}
	for running := true; running && pulls < maxPulls; {
		select {
		case <-done:
			running = false
		default:
			follow()
			time.Sleep(time.Millisecond)
		}
	}
	<-done
	follow() // one more walk after the last commit
	close(pushed)
	select {
	case e := <-errs:
		t.Fatal(e)
	default:
	}
	n := 0
	for id := range pushed {
		n++
		if !seen[id] {
			t.Errorf("committed row %s never delivered through cursors", id)
		}
	}
	if n != writers*pushes*2 {
		t.Fatalf("pushed %d rows, want %d", n, writers*pushes*2)
	}
	t.Logf("%d pulls interleaved with %d pushes", pulls, writers*pushes)
}

// pushQuiet pushes from a goroutine, where t.Fatal must not be called; a
// response outside the spec counts as no answer (0).
func pushQuiet(d *devicetest.Device, body any) int {
	r, err := d.Exchange(http.MethodPost, devicetest.PushPath, body, nil)
	if err != nil {
		return 0
	}
	return r.Status
}

// TestPull_SinceFromServerTime_PushThatWaitedOnAReaderIsNotSkipped: a push
// that reaches the clock while a pull holds it FOR SHARE waits, commits after
// the pull answered its serverTime, and must still carry a later time than
// that serverTime, or a device following serverTime as since never gets it.
// Regression: the push's time was taken in the clock UPDATE's SET list,
// which is evaluated before the lock wait.
func TestPull_SinceFromServerTime_PushThatWaitedOnAReaderIsNotSkipped(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
	ctx := context.Background()
	// The pull's read of the clock (ReadClock: FOR SHARE, then its time).
	tx, err := env.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // committed below; a no-op then
	if _, err := tx.Exec(ctx, `SELECT seq FROM sync_clock WHERE contractor_id = $1 FOR SHARE`, d.ContractorID); err != nil {
		t.Fatal(err)
	}
	id := uuid.New()
	pushed := make(chan devicetest.Response, 1)
	go func() {
		pushed <- d.Push(map[string]any{"costbook_items": []any{map[string]any{"id": id, "name": "waited"}}})
	}()
	env.AwaitLockWaiters(t, 1, "name: AdvanceClock") // the push, on the clock row held above
	// serverTime has millisecond precision: let the clock pass the push's
	// arrival by more than that, so a time taken before the wait is earlier.
	time.Sleep(20 * time.Millisecond)
	var serverTime time.Time
	if err := tx.QueryRow(ctx, `SELECT clock_timestamp()`).Scan(&serverTime); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if r := <-pushed; r.Status != http.StatusOK {
		t.Fatalf("push = %d: %s", r.Status, devicetest.Truncate(r.Body))
	}
	since := serverTime.UTC().Format("2006-01-02T15:04:05.000Z")
	for _, p := range d.PullAll(url.Values{"since": {since}}) {
		for _, it := range p.CostbookItems {
			if it.ID == id {
				return
			}
		}
	}
	t.Fatalf("a pull since %s (the serverTime handed out while the push waited) missed the push", since)
}
