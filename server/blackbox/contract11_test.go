package blackbox_test

// Contract 1.1 (docs/contract.md, "1.1: no silent data loss"): row versions,
// opt-in conflicts, retention with resync, the replica digest, and what the
// seed's existing client sends. (Partial rows: TestPush_PartialRows_*, and
// TestPush_DuplicateIDs_* for entries of one row merged in order; a cursor
// for fewer tables: TestPull_CursorForFewerTables_*.)

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/syncproxy/syncproxy/server/pgtx"

	"github.com/syncproxy/syncproxy/gen/api"
	"github.com/syncproxy/syncproxy/internal/devicetest"
	"github.com/syncproxy/syncproxy/internal/testenv"
	"github.com/syncproxy/syncproxy/migrations"
	"github.com/syncproxy/syncproxy/server"
	"github.com/syncproxy/syncproxy/server/syncstore"
)

// versionOf is the sync_version of the row with id in a full pull of table.
func versionOf(t *testing.T, d *devicetest.Device, table string, id uuid.UUID) (int64, bool) {
	t.Helper()
	for _, row := range d.PullRows(table) {
		var rid uuid.UUID
		field := "id"
		if table == "pdf_settings" || table == "step_a_configs" {
			field = "contractor_id"
		}
		if json.Unmarshal(row[field], &rid) == nil && rid == id {
			var v int64
			if err := json.Unmarshal(row["sync_version"], &v); err != nil {
				t.Fatalf("%s row %s: sync_version %s: %v", table, id, row["sync_version"], err)
			}
			return v, true
		}
	}
	return 0, false
}

func TestVersions_GrowAndMatchPushReplayAndPull(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
	item := uuid.New()
	body := map[string]any{
		"costbook_items": []any{map[string]any{"id": item, "name": "v1"}},
		"pdf_settings":   []any{map[string]any{"template": "t"}},
	}
	first := d.Push(body, map[string]string{"Idempotency-Key": "versions-1"})
	var res api.SyncPushResponse
	first.Decode(t, &res)
	if first.Status != http.StatusOK || res.Version <= 0 {
		t.Fatalf("push = %d, version %d", first.Status, res.Version)
	}
	// Every row the push wrote carries its version, singletons too.
	if v, _ := versionOf(t, d, "costbook_items", item); v != res.Version {
		t.Errorf("costbook_items sync_version = %d, want the push's %d", v, res.Version)
	}
	if v, _ := versionOf(t, d, "pdf_settings", d.ContractorID); v != res.Version {
		t.Errorf("pdf_settings sync_version = %d, want the push's %d", v, res.Version)
	}
	// A replay answers the same version and writes nothing.
	replay := d.Push(body, map[string]string{"Idempotency-Key": "versions-1"})
	var again api.SyncPushResponse
	replay.Decode(t, &again)
	if replay.Header.Get("Idempotent-Replayed") != "true" || again.Version != res.Version {
		t.Errorf("replay: version %d (replayed %q), want %d", again.Version, replay.Header.Get("Idempotent-Replayed"), res.Version)
	}
	// Versions only grow; an untouched row keeps its own.
	second := d.MustPush(map[string]any{"costbook_items": []any{map[string]any{"id": item, "name": "v2"}}})
	if second.Version <= res.Version {
		t.Errorf("second push version %d, not after %d", second.Version, res.Version)
	}
	if v, _ := versionOf(t, d, "costbook_items", item); v != second.Version {
		t.Errorf("edited row sync_version = %d, want %d", v, second.Version)
	}
	if v, _ := versionOf(t, d, "pdf_settings", d.ContractorID); v != res.Version {
		t.Errorf("untouched singleton moved to version %d, want %d", v, res.Version)
	}
}

// TestConflicts_TwoDevices is the contract's scenario: A and B pull; A edits
// with its base (200); B edits with the same base (409 carrying A's row,
// nothing of B's push written, not stored under its key); B re-pushes with
// the new base (200).
func TestConflicts_TwoDevices(t *testing.T) {
	t.Parallel()
	a := env.NewTenant(t)
	b := a.WithToken(a.Token) // a second device of the same account
	id := uuid.New()
	created := a.MustPush(map[string]any{"estimates": []any{map[string]any{"id": id, "number": "E-1", "title": "start"}}})
	base, _ := versionOf(t, a, "estimates", id)
	if base != created.Version {
		t.Fatalf("base %d != push version %d", base, created.Version)
	}

	editA := a.MustPush(map[string]any{"estimates": []any{map[string]any{"id": id, "number": "E-1", "title": "A's", "base_version": base}}})
	other := uuid.New()
	before := b.State()
	r := b.Push(map[string]any{
		"costbook_items": []any{map[string]any{"id": other, "name": "written only if the whole push is"}},
		"estimates":      []any{map[string]any{"id": id, "number": "E-1", "notes": "B's", "base_version": base}},
	}, map[string]string{"Idempotency-Key": "b-edit"})
	conflicts := conflictOf(t, r)
	if len(conflicts) != 1 {
		t.Fatalf("conflicts = %+v, want one", conflicts)
	}
	c := conflicts[0]
	if c.Table != "estimates" || c.ID != id || c.BaseVersion != base || c.CurrentVersion != editA.Version || c.Deleted {
		t.Errorf("conflict = %+v, want estimates %s base %d current %d", c, id, base, editA.Version)
	}
	var row map[string]json.RawMessage
	if err := json.Unmarshal(c.Row, &row); err != nil || string(row["title"]) != `"A's"` || string(row["sync_version"]) != fmt.Sprint(editA.Version) {
		t.Errorf("conflict row = %s, want A's row as a pull delivers it", c.Row)
	}
	if after := b.State(); after != before {
		t.Fatalf("a 409 push wrote:\nbefore %s\nafter  %s", before, after)
	}
	// The 409 is not stored under the key: the merged push may reuse it.
	merged := b.Push(map[string]any{
		"costbook_items": []any{map[string]any{"id": other, "name": "written only if the whole push is"}},
		"estimates":      []any{map[string]any{"id": id, "number": "E-1", "notes": "B's", "base_version": c.CurrentVersion}},
	}, map[string]string{"Idempotency-Key": "b-edit"})
	if merged.Status != http.StatusOK || merged.Header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("merged push = %d (replayed %q): %s", merged.Status, merged.Header.Get("Idempotent-Replayed"), devicetest.Truncate(merged.Body))
	}
	got := b.PullRows("estimates")[0]
	if string(got["title"]) != `"A's"` || string(got["notes"]) != `"B's"` {
		t.Errorf("after the merge: title %s, notes %s; want A's title and B's notes", got["title"], got["notes"])
	}
}

func TestConflicts_DeletedSinceAndBaseZeroAndDisagreeingEntries(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
	id := uuid.New()
	created := d.MustPush(map[string]any{"costbook_items": []any{map[string]any{"id": id, "name": "x"}}})

	// base_version 0 says "new", but the row exists.
	c := conflictOf(t, d.Push(map[string]any{"costbook_items": []any{map[string]any{"id": id, "name": "y", "base_version": 0}}}))
	if len(c) != 1 || c[0].CurrentVersion != created.Version || c[0].Deleted || c[0].Row == nil {
		t.Errorf("base 0 on an existing row: %+v", c)
	}
	// A row missing on the server is version 0: base 0 creates it.
	fresh := uuid.New()
	d.MustPush(map[string]any{"costbook_items": []any{map[string]any{"id": fresh, "name": "new", "base_version": 0}}})

	// Deleted since the base: a conflict whose row is null.
	del := d.MustPush(map[string]any{"deletes": map[string]any{"costbook_items": []uuid.UUID{id}}})
	c = conflictOf(t, d.Push(map[string]any{"costbook_items": []any{map[string]any{"id": id, "name": "z", "base_version": created.Version}}}))
	if len(c) != 1 || !c[0].Deleted || c[0].CurrentVersion != del.Version || string(c[0].Row) != "null" {
		t.Errorf("edit of a row deleted since: %+v", c)
	}
	// A singleton's key is the contractor.
	d.MustPush(map[string]any{"pdf_settings": []any{map[string]any{"template": "a"}}})
	c = conflictOf(t, d.Push(map[string]any{"pdf_settings": []any{map[string]any{"template": "b", "base_version": 0}}}))
	if len(c) != 1 || c[0].Table != "pdf_settings" || c[0].ID != d.ContractorID {
		t.Errorf("singleton conflict: %+v", c)
	}
	// Entries of one row that disagree on base_version describe no one edit.
	e := d.Push(map[string]any{"costbook_items": []any{
		map[string]any{"id": fresh, "name": "a", "base_version": 1},
		map[string]any{"id": fresh, "name": "b", "base_version": 2},
	}}).Envelope(t, http.StatusBadRequest, "BAD_REQUEST")
	assertDetails(t, e, wantDetail{"costbook_items", 1, "base_version"})
	// Without base_version: last write wins, as in 1.0.
	d.MustPush(map[string]any{"costbook_items": []any{map[string]any{"id": fresh, "name": "lww"}}})
}

// TestConflicts_RetriedPushThatSucceeded_ReplaysNot409: a device whose
// push with a base_version succeeded, but whose response was lost, retries
// it with the same Idempotency-Key. Its base is now stale, against its own
// write; the retry must get the first response (the replay), not a 409.
func TestConflicts_RetriedPushThatSucceeded_ReplaysNot409(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
	id := uuid.New()
	base := d.MustPush(map[string]any{"estimates": []any{map[string]any{"id": id, "number": "E-1"}}}).Version
	body := map[string]any{
		"estimates":    []any{map[string]any{"id": id, "number": "E-1", "title": "edited", "base_version": base}},
		"pdf_settings": []any{map[string]any{"terms": "net 30", "base_version": 0}},
	}
	headers := map[string]string{"Idempotency-Key": "edit-with-base"}
	first := d.Push(body, headers)
	if first.Status != http.StatusOK {
		t.Fatalf("first push = %d: %s", first.Status, devicetest.Truncate(first.Body))
	}
	var applied api.SyncPushResponse
	first.Decode(t, &applied)
	state := d.State()

	retry := d.Push(body, headers)
	if retry.Status != http.StatusOK || retry.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry = %d (replayed %q), want the first response replayed: %s",
			retry.Status, retry.Header.Get("Idempotent-Replayed"), devicetest.Truncate(retry.Body))
	}
	var replayed api.SyncPushResponse
	retry.Decode(t, &replayed)
	if replayed.Version != applied.Version || replayed.Upserted != applied.Upserted {
		t.Errorf("replay = version %d %+v, want the first response's %d %+v", replayed.Version, replayed.Upserted, applied.Version, applied.Upserted)
	}
	if d.State() != state {
		t.Error("the replay wrote")
	}
	// Without the key the same body is a new push, and its base is stale.
	conflictOf(t, d.Push(body))
}

// rowConflict is one entry of a 409's conflicts.
type rowConflict struct {
	Table          string          `json:"table"`
	ID             uuid.UUID       `json:"id"`
	BaseVersion    int64           `json:"baseVersion"`
	CurrentVersion int64           `json:"currentVersion"`
	Deleted        bool            `json:"deleted"`
	Row            json.RawMessage `json:"row"`
}

func conflictOf(t *testing.T, r devicetest.Response) []rowConflict {
	t.Helper()
	r.Envelope(t, http.StatusConflict, "CONFLICT")
	var body struct {
		Conflicts []rowConflict `json:"conflicts"`
	}
	r.Decode(t, &body)
	return body.Conflicts
}

// TestResync_AfterTombstonesArePurged runs a server whose retention is one
// second on a database of its own (its purge would otherwise retire the
// tombstones of every other test), with a tenant per table that has
// tombstones (each table raises the contractor's low-water marks with its
// own statement). Once the purge has run:
//   - a cursor or since from before the purged deletion answers 410, and so
//     does a since exactly at it (since T delivers the changes at T too);
//   - a cursor or since from after the deletion is still good, also after
//     later pushes: the marks rise to the newest purged deletion, not to now;
//   - a full pull works and holds the live rows.
func TestResync_AfterTombstonesArePurged(t *testing.T) {
	t.Parallel()
	base, pool := isolatedServer(t, map[string]string{
		"SYNC_TOMBSTONE_RETENTION": "1s", "SYNC_TOMBSTONE_PURGE_INTERVAL": "1s", "SYNC_REQUEST_TIMEOUT": "2s",
	})
	// One purge serves every table: the scenarios are set up side by side.
	type scenario struct {
		tb                     syncstore.Table
		d                      *devicetest.Device
		kept, doomed, later    uuid.UUID
		old                    api.SyncPullResponse
		afterCursor, afterTime string
	}
	var all []*scenario
	for _, tb := range syncstore.Tables() {
		if tb.Deletable {
			s := &scenario{tb: tb, d: tenantOn(t, base, pool), kept: uuid.New(), doomed: uuid.New(), later: uuid.New()}
			s.d.MustPush(map[string]any{tb.Name: []any{sampleRow(t, tb, s.kept, 1), sampleRow(t, tb, s.doomed, 1)}})
			s.old = s.d.MustPull(url.Values{"tables": {tb.Name}})
			all = append(all, s)
		}
	}
	time.Sleep(5 * time.Millisecond)
	for _, s := range all {
		s.d.MustPush(map[string]any{"deletes": map[string]any{s.tb.Name: []uuid.UUID{s.doomed}}})
	}
	time.Sleep(5 * time.Millisecond)
	for _, s := range all {
		after := s.d.PullRaw(url.Values{"tables": {s.tb.Name}, "cursor": {s.old.Cursor}})
		if _, gone := tableRows(t, s.tb, after); len(gone) != 1 || gone[0] != s.doomed {
			t.Fatalf("%s: the delta before the purge: tombstones %v, want %s", s.tb.Name, gone, s.doomed)
		}
		if json.Unmarshal(after["cursor"], &s.afterCursor) != nil || json.Unmarshal(after["serverTime"], &s.afterTime) != nil {
			t.Fatalf("%s: page without cursor or serverTime", s.tb.Name)
		}
		s.d.MustPush(map[string]any{s.tb.Name: []any{sampleRow(t, s.tb, s.later, 1)}})
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, s := range all {
		for sqlCountOn(t, pool, fmt.Sprintf(`SELECT count(*) FROM %s WHERE contractor_id = $1 AND id = $2`, s.tb.Name), s.d.ContractorID, s.doomed) > 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the tombstone was not purged within 30s (retention 1s, every 1s)", s.tb.Name)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	for _, s := range all {
		t.Run(s.tb.Name, func(t *testing.T) {
			tb, d := s.tb, s.d.As(t)
			pullOf := func(q url.Values) url.Values {
				q.Set("tables", tb.Name)
				return q
			}
			d.Pull(pullOf(url.Values{"cursor": {s.old.Cursor}})).Envelope(t, http.StatusGone, "RESYNC_REQUIRED")
			d.Pull(pullOf(url.Values{"since": {s.old.ServerTime.String()}})).Envelope(t, http.StatusGone, "RESYNC_REQUIRED")

			// The time mark is the purged deletion's time, to the microsecond.
			var mark time.Time
			if err := pool.QueryRow(context.Background(), `SELECT purged_at FROM sync_clock WHERE contractor_id = $1`, d.ContractorID).Scan(&mark); err != nil {
				t.Fatal(err)
			}
			d.Pull(pullOf(url.Values{"since": {mark.UTC().Format(time.RFC3339Nano)}})).Envelope(t, http.StatusGone, "RESYNC_REQUIRED")
			if r := d.Pull(pullOf(url.Values{"since": {mark.Add(time.Microsecond).UTC().Format(time.RFC3339Nano)}})); r.Status != http.StatusOK {
				t.Errorf("since one microsecond after the purged deletion = %d: %s", r.Status, devicetest.Truncate(r.Body))
			}

			// From after the deletion, with a push since: nothing was lost.
			for _, q := range []url.Values{{"cursor": {s.afterCursor}}, {"since": {s.afterTime}}} {
				r := d.Pull(pullOf(q))
				if r.Status != http.StatusOK {
					t.Errorf("%v, from after the purged deletion = %d: %s", q, r.Status, devicetest.Truncate(r.Body))
					continue
				}
				var page map[string]json.RawMessage
				r.Decode(t, &page)
				if live, gone := tableRows(t, tb, page); len(live) != 1 || keyOf(t, tb, live[0]) != s.later || len(gone) != 0 {
					t.Errorf("%v: %d rows, tombstones %v; want only the later row %s", q, len(live), gone, s.later)
				}
			}
			live, gone, _, _ := walkTable(t, d, tb, url.Values{"limit": {"5000"}})
			if len(live) != 2 || live[s.kept] == nil || live[s.later] == nil || len(gone) != 0 {
				t.Errorf("full pull after the purge: %d rows, tombstones %v; want %s and %s", len(live), gone, s.kept, s.later)
			}
		})
	}
}

// TestPurge_WaitsGraceBetweenMarkAndDelete: a purge first raises the
// low-water marks, then waits the grace (the longest a request may run) and
// only then deletes, so a pull that read the old marks and is still walking
// the tables finds every tombstone it must deliver. Watched on a database
// of its own: once the mark is up, a cursor from before the deletion gets
// 410 at once, while the tombstone stays for the grace.
func TestPurge_WaitsGraceBetweenMarkAndDelete(t *testing.T) {
	t.Parallel()
	pool, _ := isolatedPool(t)
	base, _ := env.Listen(t, env.DefaultConfig(t, nil), pool, nil)
	d := tenantOn(t, base, pool)
	doomed := uuid.New()
	d.MustPush(map[string]any{"costbook_items": []any{map[string]any{"id": doomed, "name": "doomed"}}})
	old := d.MustPull(nil)
	deleted := d.MustPush(map[string]any{"deletes": map[string]any{"costbook_items": []uuid.UUID{doomed}}})
	tombstones := func() int {
		return sqlCountOn(t, pool, `SELECT count(*) FROM costbook_items WHERE contractor_id = $1 AND id = $2`, d.ContractorID, doomed)
	}
	time.Sleep(10 * time.Millisecond) // the purge's cutoff (now, retention 0) is after the deletion

	const grace = 2 * time.Second
	type outcome struct {
		purged  syncstore.Purged
		err     error
		elapsed time.Duration
	}
	done := make(chan outcome, 1)
	start := time.Now()
	go func() {
		p, err := syncstore.New(pool, syncstore.Options{}).PurgeTombstones(context.Background(), 0, grace)
		done <- outcome{p, err, time.Since(start)}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for sqlCountOn(t, pool, `SELECT count(*) FROM sync_clock WHERE contractor_id = $1 AND purged_seq >= $2`, d.ContractorID, deleted.Version) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the purge did not raise the mark within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	d.Pull(url.Values{"cursor": {old.Cursor}}).Envelope(t, http.StatusGone, "RESYNC_REQUIRED")
	time.Sleep(grace / 2)
	if tombstones() != 1 {
		t.Fatalf("the tombstone was deleted within %s of the mark rising; the grace is %s", time.Since(start), grace)
	}
	o := <-done
	if o.err != nil || o.purged.Deleted != 1 || o.elapsed < grace {
		t.Fatalf("purge = %+v, %v after %s; want 1 deleted, after at least the grace %s", o.purged, o.err, o.elapsed, grace)
	}
	if tombstones() != 0 {
		t.Fatal("the tombstone is still there after the purge")
	}
}

// isolatedServer runs server.Serve (with its background purges) with vars on
// a fresh database of the harness cluster, and returns its URL and a pool.
func isolatedServer(t *testing.T, vars map[string]string) (string, *pgtx.Pool) {
	t.Helper()
	pool, url := isolatedPool(t)
	all := map[string]string{"DATABASE_URL": url}
	for k, v := range vars {
		all[k] = v
	}
	addr, _ := env.Serve(t, env.DefaultConfig(t, all), pool)
	return "http://" + addr, pool
}

// isolatedPool is a pool on a fresh, migrated database of the harness
// cluster, and its URL: for what acts on every contractor of a database
// (the purges).
func isolatedPool(t *testing.T) (*pgtx.Pool, string) {
	t.Helper()
	ctx := context.Background()
	name := "iso_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
	if err := env.Cluster.CreateDatabase(ctx, name); err != nil {
		t.Fatal(err)
	}
	url := env.Cluster.URL(name)
	pool, err := server.OpenPool(ctx, env.DefaultConfig(t, map[string]string{"DATABASE_URL": url}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := migrations.Apply(ctx, pool, (&testenv.LogBuffer{}).Logger(slog.LevelWarn)); err != nil {
		t.Fatal(err)
	}
	return pool, url
}

// tenantOn provisions a tenant on pool and returns its device on base.
func tenantOn(t *testing.T, base string, pool *pgtx.Pool) *devicetest.Device {
	t.Helper()
	contractor, owner, err := testenv.NewTenant(context.Background(), pool, "Contractor "+t.Name())
	if err != nil {
		t.Fatal(err)
	}
	return env.DeviceFor(t, owner, contractor).On(base)
}

func sqlCountOn(t *testing.T, pool *pgtx.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("sql %q: %v", sql, err)
	}
	return n
}

// TestDigest_EqualsOneComputedFromAFullPull computes the contract's digest
// on the client's side from a full pull and compares it with the server's.
func TestDigest_EqualsOneComputedFromAFullPull(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
	for _, tb := range syncstore.Tables() {
		pushRows(t, d, tb, 3, 1)
	}
	gone := uuid.New()
	d.MustPush(map[string]any{"costbook_items": []any{map[string]any{"id": gone, "name": "gone"}}})
	d.MustPush(map[string]any{"deletes": map[string]any{"costbook_items": []uuid.UUID{gone}}})

	r := d.Do(http.MethodGet, "/api/sync/digest", nil, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("digest = %d: %s", r.Status, devicetest.Truncate(r.Body))
	}
	var all struct {
		Tables map[string]api.TableDigest `json:"tables"`
	}
	r.Decode(t, &all)
	page := d.PullRaw(url.Values{"limit": {"5000"}})
	for _, tb := range syncstore.Tables() {
		var rows []map[string]json.RawMessage
		if err := json.Unmarshal(page[tb.Name], &rows); err != nil {
			t.Fatal(err)
		}
		count, digest := clientDigest(t, tb, rows)
		if fig := all.Tables[tb.Name]; fig.Count != count || fig.Digest != digest {
			t.Errorf("%s: server count %d digest %s; client %d rows digest %s", tb.Name, fig.Count, fig.Digest, count, digest)
		}
	}
	// Filtered, and at a horizon a delta from its cursor continues.
	r = d.Do(http.MethodGet, "/api/sync/digest?tables=estimates,pdf_settings", nil, nil)
	var sub struct {
		Cursor string                     `json:"cursor"`
		Tables map[string]json.RawMessage `json:"tables"`
	}
	r.Decode(t, &sub)
	if len(sub.Tables) != 2 || sub.Tables["estimates"] == nil || sub.Tables["pdf_settings"] == nil {
		t.Errorf("filtered digest tables = %v", keysOf(sub.Tables))
	}
	later := uuid.New()
	d.MustPush(map[string]any{"estimates": []any{map[string]any{"id": later, "number": "later"}}})
	next := d.MustPull(url.Values{"tables": {"estimates,pdf_settings"}, "cursor": {sub.Cursor}})
	if len(next.Estimates) != 1 || next.Estimates[0].ID != later {
		t.Errorf("delta from the digest's cursor: %+v", next.Estimates)
	}
}

// serverDigest asks the server for table's figures.
func serverDigest(t *testing.T, d *devicetest.Device, table string) api.TableDigest {
	t.Helper()
	_, figures := d.MustDigest(table)
	fig, ok := figures[table]
	if !ok {
		t.Fatalf("digest lacks %s: %v", table, figures)
	}
	return fig
}

// clientDigest computes the contract's figures over pulled rows of tb, as a
// device does over its replica: the count, and the sum mod 2^64 of the
// first 8 bytes of SHA-256(id ‖ sync_version), as a decimal string.
func clientDigest(t *testing.T, tb syncstore.Table, rows []map[string]json.RawMessage) (int64, string) {
	t.Helper()
	var sum uint64
	for _, row := range rows {
		id := keyOf(t, tb, row)
		var v int64
		if err := json.Unmarshal(row["sync_version"], &v); err != nil {
			t.Fatal(err)
		}
		var buf [24]byte
		copy(buf[:16], id[:])
		binary.BigEndian.PutUint64(buf[16:], uint64(v))
		h := sha256.Sum256(buf[:])
		sum += binary.BigEndian.Uint64(h[:8]) // wraps: the sum is mod 2^64
	}
	return int64(len(rows)), fmt.Sprint(sum)
}

// TestSeedClient_EmptySinceAndDecimalNumbers: the seed's iPad client sends
// `pull?since=` on its first sync and money as JSON numbers (Codable).
func TestSeedClient_EmptySinceAndDecimalNumbers(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
	id := uuid.New()
	d.MustPush(map[string]any{"costbook_items": []any{map[string]any{"id": id, "name": "x"}}})
	first := d.PullRaw(url.Values{"since": {""}})
	var items []json.RawMessage
	if err := json.Unmarshal(first["costbook_items"], &items); err != nil || len(items) != 1 {
		t.Fatalf("pull?since= = %s, want the full state", first["costbook_items"])
	}
	for lit, want := range map[string]string{
		"12.50":                           "12.50",
		"12":                              "12",
		"-0.0001":                         "-0.0001",
		"1.25e1":                          "12.5",
		"12345678901234567890.1234567890": "12345678901234567890.1234567890", // beyond float64
		"9007199254740993":                "9007199254740993",
	} {
		row := uuid.New()
		d.MustPush(fmt.Sprintf(`{"estimates":[{"id":%q,"number":"N","total":%s,"tax":"%s"}]}`, row, lit, want))
		for _, got := range d.PullRows("estimates") {
			var rid uuid.UUID
			if json.Unmarshal(got["id"], &rid) != nil || rid != row {
				continue
			}
			if string(got["total"]) != `"`+want+`"` || string(got["tax"]) != `"`+want+`"` {
				t.Errorf("total %s came back %s (tax as a string: %s), want %q", lit, got["total"], got["tax"], want)
			}
		}
	}
	for _, lit := range []string{"1e400", "0.12345678901", "123456789012345678901", "NaN", `"12,50"`} {
		e := d.Push(fmt.Sprintf(`{"estimates":[{"id":%q,"number":"N","total":%s}]}`, uuid.New(), lit)).Envelope(t, http.StatusBadRequest, "BAD_REQUEST")
		if lit != "NaN" {
			assertDetails(t, e, wantDetail{"estimates", 0, "total"})
		}
	}
}
