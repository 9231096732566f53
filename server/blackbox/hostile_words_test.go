package blackbox_test

// Hostile input, round 2: what the server accepts in a query (since, a
// cursor) only if it could have issued it, and what it says back.

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestHostile_Since_ValidatedLikePushedTimestamps: `since=0000-01-01T00:00:00Z`
// reached Postgres (a 400 naming nothing) and `+18:01` was accepted. since
// follows the rules of a pushed timestamp: years 0001-9999 in UTC, offsets
// within ±18:00, else a 400 naming since.
func TestHostile_Since_ValidatedLikePushedTimestamps(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
	for _, since := range []string{
		"0000-01-01T00:00:00Z",
		"2025-01-01T00:00:00+18:01",
		"2025-01-01T00:00:00-23:59",
		"9999-12-31T23:30:00-01:00", // year 10000 in UTC
		"0001-01-01T00:00:00+01:00", // year 0 in UTC
	} {
		e := d.Pull(url.Values{"since": {since}}).Envelope(t, http.StatusBadRequest, "BAD_REQUEST")
		assertDetails(t, e, wantDetail{"", -1, "since"})
	}
	for _, since := range []string{"2025-01-01T00:00:00+18:00", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999Z"} {
		if r := d.Pull(url.Values{"since": {since}}); r.Status != http.StatusOK {
			t.Fatalf("since=%s = %d %s", since, r.Status, r.Body)
		}
	}
}

// forgedCursor encodes a cursor as the server's own are encoded (base64url
// JSON): the shape is public, so a client can write any.
func forgedCursor(json string) string { return base64.RawURLEncoding.EncodeToString([]byte(json)) }

// TestHostile_ForgedCursors_400AndNoneSkipsA410: cursors with a time out of
// range, a base past the contractor's version, or walk and full tables the
// cursor does not cover were accepted, and one shape skipped a 410. A cursor
// the server could not have issued is a 400 naming cursor; every delta is
// checked against the purged tombstones.
func TestHostile_ForgedCursors_400AndNoneSkipsA410(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
	d.MustPush(map[string]any{"costbook_items": []any{map[string]any{"id": uuid.New(), "name": "x"}}})
	version := d.MustPush(map[string]any{"costbook_items": []any{map[string]any{"id": uuid.New(), "name": "y"}}}).Version
	now := time.Now().UnixMicro()
	end := `"k":"ffffffff-ffff-ffff-ffff-ffffffffffff"`
	for name, c := range map[string]string{
		"base past the contractor's version":    fmt.Sprintf(`{"v":2,"b":%d,"ts":"ff01"}`, version+1),
		"horizon past the contractor's version": fmt.Sprintf(`{"v":2,"b":0,"p":true,"h":%d,"t":%d,"ts":"ff01","ws":"ff01","s":0,%s}`, version+100, now, end),
		"horizon time before year 1":            fmt.Sprintf(`{"v":2,"b":0,"p":true,"h":1,"t":%d,"ts":"ff01","ws":"ff01","s":0,%s}`, int64(-62_200_000_000_000_000), end),
		"horizon time after year 9999":          fmt.Sprintf(`{"v":2,"b":0,"p":true,"h":1,"t":%d,"ts":"ff01","ws":"ff01","s":0,%s}`, int64(253_402_300_800_000_001), end),
		"since before year 1":                   fmt.Sprintf(`{"v":2,"b":-1,"p":true,"h":1,"t":%d,"ts":"ff01","ws":"ff01","s":-1,%s,"z":%d}`, now, end, int64(-62_200_000_000_000_000)),
		"walk beyond its tables":                fmt.Sprintf(`{"v":2,"b":0,"p":true,"h":1,"t":%d,"ts":"08","ws":"0c","i":3,"s":0,%s}`, now, end),
		"full beyond its tables":                fmt.Sprintf(`{"v":2,"b":0,"p":true,"h":1,"t":%d,"ts":"08","ws":"08","fs":"04","i":3,"s":0,%s}`, now, end),
		"position outside its walk":             fmt.Sprintf(`{"v":2,"b":0,"p":true,"h":1,"t":%d,"ts":"0c","ws":"08","i":2,"s":0,%s}`, now, end),
		"position behind its base":              fmt.Sprintf(`{"v":2,"b":1,"p":true,"h":2,"t":%d,"ts":"08","ws":"08","i":3,"s":0,%s}`, now, end),
		"resting cursor with paging fields":     fmt.Sprintf(`{"v":2,"b":1,"ts":"08","ws":"08","h":2,"t":%d}`, now),
	} {
		r := d.Pull(url.Values{"cursor": {forgedCursor(c)}})
		if r.Status != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", name, r.Status)
			continue
		}
		assertDetails(t, r.Envelope(t, http.StatusBadRequest, "BAD_REQUEST"), wantDetail{"", -1, "cursor"})
	}

	// Tombstones of this contractor purged up to its current version: any
	// delta from before must answer 410, whatever shape its cursor has.
	sqlExec(t, `UPDATE sync_clock SET purged_seq = seq, purged_at = clock_timestamp() WHERE contractor_id = $1`, d.ContractorID)
	d.Pull(url.Values{"cursor": {forgedCursor(`{"v":2,"b":0,"ts":"ff01"}`)}}).Envelope(t, http.StatusGone, "RESYNC_REQUIRED")
	for name, c := range map[string]string{
		"resting, base -1 (never issued: a resting cursor has a version)": `{"v":2,"b":-1,"ts":"ff01"}`,
		"version 1, resting, base -1":                                     `{"v":1,"b":-1,"m":511}`,
		"paging from -1 without since and not in full":                    fmt.Sprintf(`{"v":2,"b":-1,"p":true,"h":%d,"t":%d,"ts":"ff01","ws":"ff01","s":-1,%s}`, version, now, end),
	} {
		r := d.Pull(url.Values{"cursor": {forgedCursor(c)}})
		if r.Status != http.StatusBadRequest && r.Status != http.StatusGone {
			t.Errorf("%s: %d, want 400 (or 410), never a delta that lacks purged deletions", name, r.Status)
		}
	}
	// What the server issues still works.
	page := d.MustPull(nil)
	if r := d.Pull(url.Values{"cursor": {page.Cursor}}); r.Status != http.StatusOK {
		t.Fatalf("a cursor the server issued = %d %s", r.Status, r.Body)
	}
}

// TestHostile_Messages_ForTheClient_CodesMatchStatuses: the 422 message
// carried a Go error chain ("push: transaction: ..."), details quoted the
// validator's regular expressions, and an unsupported Transfer-Encoding was a
// 501 whose code said BAD_REQUEST.
func TestHostile_Messages_ForTheClient_CodesMatchStatuses(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
	key := map[string]string{"Idempotency-Key": "k-" + uuid.NewString()}
	d.Push(limItem(), key)
	r := d.Push(limItem(), key)
	e := r.Envelope(t, http.StatusUnprocessableEntity, "IDEMPOTENCY_KEY_REUSED")
	if leak, ok := hasAny(e.Message, "push:", "transaction:", ": "); ok {
		t.Errorf("422 message %q carries %q", e.Message, leak)
	}
	assertDetails(t, e, wantDetail{"", -1, "Idempotency-Key"})

	for _, tc := range []struct {
		name string
		body map[string]any
		want wantDetail
	}{
		{"currency not ISO 4217", map[string]any{"contractors": []any{map[string]any{"name": "n", "currency": "usd"}}}, wantDetail{"contractors", 0, "currency"}},
		{"decimal string not a decimal", map[string]any{"costbook_items": []any{map[string]any{"id": uuid.New(), "name": "n", "unit_cost": "12,50"}}}, wantDetail{"costbook_items", 0, "unit_cost"}},
	} {
		e := d.Push(tc.body).Envelope(t, http.StatusBadRequest, "BAD_REQUEST")
		assertDetails(t, e, tc.want)
		for _, detail := range e.Details {
			if leak, ok := hasAny(detail.Reason, "^", "$", "[0-9]", "[A-Z]", "{1,"); ok {
				t.Errorf("%s: reason %q quotes the pattern (%q)", tc.name, detail.Reason, leak)
			}
		}
	}

	addr, _ := env.Serve(t, env.DefaultConfig(t, nil), nil)
	conn := dial(t, addr)
	write(t, conn, "POST /api/sync/push HTTP/1.1\r\nHost: syncproxy\r\nTransfer-Encoding: bogus\r\n\r\n")
	raw := readRaw(t, conn)
	if code := string(raw.Envelope(t, raw.Status, "BAD_REQUEST").Error); raw.Status != http.StatusBadRequest {
		t.Errorf("unsupported Transfer-Encoding = %d %s, want the code's status 400", raw.Status, code)
	}
	if strings.Contains(string(raw.Body), "Not Implemented") {
		t.Errorf("net/http's words reached the body: %s", raw.Body)
	}
}
