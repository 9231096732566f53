package blackbox_test

// Hostile input, round 2 (docs/contract.md, "1.2: hostile input, round 2",
// issue 17): requests of one signed-in tenant that made the server answer,
// store or compute far more than they sent. Each test is the attack of the issue,
// scaled down, over real HTTP.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/syncproxy/syncproxy/internal/devicetest"
	"github.com/syncproxy/syncproxy/internal/testenv"
	"github.com/syncproxy/syncproxy/server/syncstore"
)

// htmlEscapes are the forms encoding/json gives <, > and & by default: six
// bytes for one, and never what the client stored.
var htmlEscapes = []string{`\u003c`, `\u003e`, `\u0026`}

// TestHostile_Conflict409_BoundedInBytes: 28 estimates of ~1 MiB of '<'
// each, pushed back with a stale base_version, made a 2.4 KB push answer a
// 176 MB 409 (every conflicting row in full, each '<' escaped to six bytes).
// The rows of a 409 are bounded like a pull page (SYNC_MAX_PAGE_BYTES): past
// the bound, conflicts come without their row and say so (rowOmitted), and
// the message tells the client to pull them.
func TestHostile_Conflict409_BoundedInBytes(t *testing.T) {
	const pageBytes = 1 << 20
	base, _ := env.Listen(t, env.DefaultConfig(t, map[string]string{
		"SYNC_MAX_BODY_BYTES": "4194304", "SYNC_MAX_PAGE_BYTES": fmt.Sprint(pageBytes), "SYNC_RATE_LIMIT": "0",
	}), env.Pool, nil)
	d := env.NewTenant(t).On(base)
	lt := strings.Repeat("<", 300<<10)
	ids := uuids(8)
	for i := 0; i < len(ids); i += 4 {
		var rows []string // by hand: encoding/json would send each '<' as six bytes
		for _, id := range ids[i : i+4] {
			rows = append(rows, fmt.Sprintf(`{"id":%q,"number":"E","line_items":[%q]}`, id, lt))
		}
		d.MustPush(`{"estimates":[` + strings.Join(rows, ",") + `]}`)
	}
	var stale []any
	for _, id := range ids {
		stale = append(stale, map[string]any{"id": id, "number": "E", "base_version": 999999})
	}
	r := d.Push(map[string]any{"estimates": stale})
	e := r.Envelope(t, http.StatusConflict, "CONFLICT")
	// 8 rows of 300 KiB are 2.4 MiB (14 MiB escaped); the bound is 1 MiB of
	// rows, plus the envelope and the eight conflicts' own fields.
	if len(r.Body) > pageBytes+16<<10 {
		t.Fatalf("the 409 is %d bytes; its rows are bounded to %d", len(r.Body), pageBytes)
	}
	if leak, ok := hasAny(string(r.Body), htmlEscapes...); ok {
		t.Fatalf("the 409 escapes stored text as %s", leak)
	}
	var body struct {
		Conflicts []struct {
			ID             uuid.UUID       `json:"id"`
			CurrentVersion int64           `json:"currentVersion"`
			Deleted        bool            `json:"deleted"`
			Row            json.RawMessage `json:"row"`
			RowOmitted     *bool           `json:"rowOmitted"`
		} `json:"conflicts"`
	}
	r.Decode(t, &body)
	if len(body.Conflicts) != len(ids) {
		t.Fatalf("%d conflicts, want one per pushed row (%d)", len(body.Conflicts), len(ids))
	}
	withRow, omitted := 0, 0
	for _, c := range body.Conflicts {
		if c.CurrentVersion == 0 || c.Deleted {
			t.Errorf("conflict %s: currentVersion %d deleted %v, want the stored version of a live row", c.ID, c.CurrentVersion, c.Deleted)
		}
		switch {
		case string(c.Row) != "null" && len(c.Row) > 0:
			withRow++
			if c.RowOmitted != nil && *c.RowOmitted {
				t.Errorf("conflict %s carries its row and says rowOmitted", c.ID)
			}
			if !strings.Contains(string(c.Row), lt[:1000]) {
				t.Errorf("conflict %s: the row does not carry the stored text as it was stored", c.ID)
			}
		case c.RowOmitted != nil && *c.RowOmitted:
			omitted++
		default:
			t.Errorf("conflict %s of a live row has no row and does not say it was omitted", c.ID)
		}
	}
	if withRow == 0 || omitted == 0 {
		t.Fatalf("%d conflicts with their row, %d omitted; want some of each (3 rows of 300 KiB fit in 1 MiB)", withRow, omitted)
	}
	if !strings.Contains(e.Message, "pull") {
		t.Errorf("message %q does not tell the client to pull the omitted rows", e.Message)
	}
	// What held: nothing of the refused push was written.
	for _, row := range d.PullRows("estimates") {
		if !strings.Contains(string(row["line_items"]), "<<<") {
			t.Fatal("a refused push wrote")
		}
	}
}

// TestHostile_JSONOutput_NotHTMLEscaped: encoding/json writes <, > and & as
// \u003c, \u003e, \u0026 (six bytes for one) unless told not to; rows,
// conflicts and error details left the server that way. Every body carries
// the client's text as it was stored.
func TestHostile_JSONOutput_NotHTMLEscaped(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
	text := `<b>Kitchen & Bath</b>`
	id := uuid.New()
	d.MustPush(map[string]any{"estimates": []any{map[string]any{"id": id, "number": "E-1", "title": text, "line_items": []any{text}}}})
	pull := d.Pull(url.Values{"tables": {"estimates"}})
	conflict := d.Push(map[string]any{"estimates": []any{map[string]any{"id": id, "number": "E-1", "base_version": 999}}})
	unknown := d.Push(map[string]any{"estimates": []any{map[string]any{"id": id, "number": "E-1", "<notes>&": "x"}}})
	for name, r := range map[string]devicetest.Response{"pull": pull, "409": conflict, "400 naming an unknown column": unknown} {
		if leak, ok := hasAny(string(r.Body), htmlEscapes...); ok {
			t.Errorf("%s (%d) carries %s: %s", name, r.Status, leak, devicetest.Truncate(r.Body))
		}
	}
	if pull.Status != http.StatusOK || strings.Count(string(pull.Body), text) != 2 {
		t.Fatalf("the pull (%d) does not carry %q twice, as stored: %s", pull.Status, text, devicetest.Truncate(pull.Body))
	}
	conflict.Envelope(t, http.StatusConflict, "CONFLICT")
	if !strings.Contains(string(conflict.Body), text) {
		t.Fatalf("the 409 does not carry %q as stored: %s", text, devicetest.Truncate(conflict.Body))
	}
	e := unknown.Envelope(t, http.StatusBadRequest, "BAD_REQUEST")
	assertDetails(t, e, wantDetail{"estimates", 0, "<notes>&"})
}

// TestHostile_JSONNumbers_BoundedInDigitsAsStored: Postgres stores a JSON
// number in full, so `1e131071` (8 bytes) became 131,072 digits on every
// read; 1,500 of them made one pull page 196 MB, and 8,200 made Postgres
// itself fail (out of memory) on every later read of the row. `1e131072`
// failed in the database: a 400 with no field named. A number is bounded in
// digits as Postgres writes it out, and a value in size as stored; beyond
// either, a 400 names table, index and the field inside the value.
func TestHostile_JSONNumbers_BoundedInDigitsAsStored(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
	before := d.State()
	estimate := func(lineItems string) string {
		return fmt.Sprintf(`{"estimates":[{"id":%q,"number":"E-1","line_items":%s}]}`, uuid.New(), lineItems)
	}
	event := func(payload string) string {
		return fmt.Sprintf(`{"estimate_events":[{"id":%q,"estimate_id":%q,"kind":"k","payload":%s}]}`, uuid.New(), uuid.New(), payload)
	}
	many := func(n int, number string) string {
		return "[" + strings.TrimSuffix(strings.Repeat(number+",", n), ",") + "]"
	}
	for _, tc := range []struct {
		name, body string
		want       wantDetail
	}{
		{"1e131071", estimate(`[1, 1e131071]`), wantDetail{"estimates", 0, "line_items/1"}},
		{"1e131072, beyond numeric", estimate(`[1e131072]`), wantDetail{"estimates", 0, "line_items/0"}},
		{"1E+500 in an object", event(`{"a":{"b":1E+500}}`), wantDetail{"estimate_events", 0, "payload/a/b"}},
		{"fraction digits: 1e-20000", estimate(`[1e-20000]`), wantDetail{"estimates", 0, "line_items/0"}},
		{"1,500 × 1e131071", estimate(many(1500, "1e131071")), wantDetail{"estimates", 0, "line_items/0"}},
		// Each number is allowed, but the value written out in full is
		// 4,000 × 301 digits: over SYNC_MAX_JSON_VALUE_BYTES as stored.
		{"4,000 × 1e300", estimate(many(4000, "1e300")), wantDetail{"estimates", 0, "line_items"}},
	} {
		r := d.Push(tc.body)
		e := r.Envelope(t, http.StatusBadRequest, "BAD_REQUEST")
		assertDetails(t, e, tc.want)
	}
	if d.State() != before {
		t.Fatal("a rejected push wrote")
	}
	// Every float64 a JSON encoder writes, in any notation, is accepted and
	// comes back with the same value.
	for _, n := range []string{"1.7976931348623157e308", "-1.7976931348623157E+308", "5e-324", "2.2250738585072014e-308", "12.50", "-0.0", "1e300"} {
		id := uuid.New()
		d.MustPush(fmt.Sprintf(`{"estimates":[{"id":%q,"number":"E-2","line_items":[%s]}]}`, id, n))
		found := false
		for _, row := range d.PullRows("estimates") {
			if string(row["id"]) == `"`+id.String()+`"` {
				found = true
				if !testenv.JSONEqual(row["line_items"], []byte("["+n+"]")) {
					t.Errorf("%s came back as %.80s", n, row["line_items"])
				}
			}
		}
		if !found {
			t.Fatalf("%s: row not pulled", n)
		}
	}
}

// TestHostile_Tombstones_KeepNoPayload: deleting a row kept its payload for
// the whole retention period (90 days), so a row whose values made every read
// fail could not be got rid of, and a deleted row's data stayed on the server.
// A delete blanks every payload column of every deletable table: JSON columns
// to their defaults, nullable columns to NULL, required text to the empty
// string.
func TestHostile_Tombstones_KeepNoPayload(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
	samples, err := testenv.Samples()
	if err != nil {
		t.Fatal(err)
	}
	for _, table := range syncstore.Tables() {
		if !table.Deletable {
			continue
		}
		t.Run(table.Name, func(t *testing.T) {
			id := uuid.New()
			row, err := samples.Row(table.Name, id, 1)
			if err != nil {
				t.Fatal(err)
			}
			d.As(t).MustPush(map[string]any{table.Name: []any{row}})
			d.As(t).MustPush(map[string]any{"deletes": map[string]any{table.Name: []uuid.UUID{id}}})
			assertBlankTombstone(t, env.Pool, table.Name, d.ContractorID, id)
		})
	}
}

// TestMigration0004_BlanksTombstonesWrittenBefore: tombstones written before
// deletes blanked their payload keep it until the migration blanks them. It
// runs the migration's statements again, in a transaction rolled back after
// the check, over tombstones written the old way (deleted_at set, payload
// kept).
func TestMigration0004_BlanksTombstonesWrittenBefore(t *testing.T) {
	t.Parallel()
	migration, err := os.ReadFile("../../migrations/0004_tombstones_keep_no_payload.sql")
	if err != nil {
		t.Fatal(err)
	}
	d := env.NewTenant(t)
	samples, err := testenv.Samples()
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]uuid.UUID{}
	for _, table := range syncstore.Tables() {
		if table.Deletable {
			ids[table.Name] = uuid.New()
			row, err := samples.Row(table.Name, ids[table.Name], 1)
			if err != nil {
				t.Fatal(err)
			}
			d.MustPush(map[string]any{table.Name: []any{row}})
		}
	}
	ctx := context.Background()
	tx, err := env.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // the check only reads what the migration did
	for table := range ids {
		if _, err := tx.Exec(ctx, `UPDATE `+table+` SET deleted_at = clock_timestamp() WHERE contractor_id = $1`, d.ContractorID); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tx.Exec(ctx, string(migration)); err != nil {
		t.Fatalf("migration: %v", err)
	}
	for table, id := range ids {
		assertBlankTombstone(t, tx, table, d.ContractorID, id)
	}
}

// tombstoneColumns is a stored row of table, tombstone or not, as a map.
func tombstoneColumns(t *testing.T, q querier, table string, contractorID, id uuid.UUID) map[string]any {
	t.Helper()
	var raw []byte
	err := q.QueryRow(context.Background(),
		`SELECT to_jsonb(t) FROM `+table+` t WHERE contractor_id = $1 AND id = $2`, contractorID, id).Scan(&raw)
	if err != nil {
		t.Fatalf("read %s %s: %v", table, id, err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// assertBlankTombstone fails unless the row is a tombstone whose payload
// columns are all NULL, empty or their column's default.
func assertBlankTombstone(t *testing.T, q querier, table string, contractorID, id uuid.UUID) {
	t.Helper()
	dead := tombstoneColumns(t, q, table, contractorID, id)
	if dead["deleted_at"] == nil {
		t.Fatalf("%s %s was not deleted", table, id)
	}
	defaults := columnDefaults(t, table)
	for column, value := range dead {
		switch column {
		case "contractor_id", "id", "created_at", "updated_at", "deleted_at", "sync_seq":
			continue
		}
		switch v := fmt.Sprint(value); {
		case value == nil, v == "", v == "[]", v == "map[]", v == defaults[column]:
		case column == "estimate_id":
			// A reference, 16 bytes: kept so a tombstone still says which
			// estimate the event belonged to.
		default:
			t.Errorf("the %s tombstone keeps %s = %.60s", table, column, v)
		}
	}
}

// columnDefaults are the constant defaults of table's columns as text
// ('draft'::text is draft, 0 is 0, true is true).
func columnDefaults(t *testing.T, table string) map[string]string {
	t.Helper()
	rows, err := env.Pool.Query(context.Background(), `
		SELECT column_name, regexp_replace(regexp_replace(column_default, '::[a-z ]+$', ''), '^''(.*)''$', '\1')
		FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = $1 AND column_default IS NOT NULL`, table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var name, def string
		if err := rows.Scan(&name, &def); err != nil {
			t.Fatal(err)
		}
		out[name] = def
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestHostile_TablesParameter_BoundedBeforePerItemWork: `tables=` with 900 KB
// of `x,` cost 531 MiB (kin-openapi builds one error per item), and
// `tables=estimates,estimates,…` was a 200. The list has at most as many
// items as there are tables (maxItems in the spec) and no repeats
// (uniqueItems), checked on the raw query before anything else, even before
// the token.
func TestHostile_TablesParameter_BoundedBeforePerItemWork(t *testing.T) {
	d := env.NewTenant(t)
	many := strings.Repeat("x,", 30_000) + "x"
	repeated := strings.TrimSuffix(strings.Repeat("estimates,", 41), ",")
	tooMany := strings.Join(append(slicesOf(tableArrays), "estimates"), ",")
	// Distinct items: no repeat gives the list away, only its length.
	distinct := make([]string, 5000)
	for i := range distinct {
		distinct[i] = fmt.Sprintf("x%d", i)
	}
	oneUnknown := strings.Join(append(slicesOf(tableArrays), "site_visits"), ",")
	for _, path := range []string{"/api/sync/pull", "/api/sync/digest"} {
		for name, tc := range map[string]struct{ value, reason string }{
			"30,001 unknown items":               {many, ""},
			"estimates 41 times":                 {repeated, ""},
			"every table and one more":           {tooMany, ""},
			"5,000 distinct unknown items":       {strings.Join(distinct, ","), "at most"},
			"every table and an unknown one too": {oneUnknown, "at most"},
		} {
			value := tc.value
			var r devicetest.Response
			alloc := allocatedDuring(func() { r = d.Do(http.MethodGet, path+"?tables="+value, nil, nil) })
			e := r.Envelope(t, http.StatusBadRequest, "BAD_REQUEST")
			assertDetails(t, e, wantDetail{"", -1, "tables"})
			// A list longer than there are tables is refused for its length,
			// before any item is looked at.
			if tc.reason != "" && !strings.Contains(e.Details[0].Reason, tc.reason) {
				t.Errorf("%s %s: reason %q, want it to say %q", path, name, e.Details[0].Reason, tc.reason)
			}
			if alloc > 8<<20 {
				t.Errorf("%s %s: the process allocated %d MiB answering it", path, name, alloc>>20)
			}
			// Found before any per-item work, and before the token.
			anon := d.WithToken("")
			anon.Do(http.MethodGet, path+"?tables="+value, nil, nil).Envelope(t, http.StatusBadRequest, "BAD_REQUEST")
		}
		// Every table once is still a valid list.
		if r := d.Do(http.MethodGet, path+"?tables="+strings.Join(slicesOf(tableArrays), ","), nil, nil); r.Status != http.StatusOK {
			t.Fatalf("%s with every table once = %d %s", path, r.Status, devicetest.Truncate(r.Body))
		}
	}
}

func slicesOf(s []string) []string { return append([]string(nil), s...) }
