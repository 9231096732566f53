package blackbox_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/syncproxy/syncproxy/gen/api"
	"github.com/syncproxy/syncproxy/internal/devicetest"
	"github.com/syncproxy/syncproxy/internal/testenv"
)

func TestPush_EveryTable_RoundTripsFieldByField(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
	ids := newRowIDs()
	rows := fullRows(ids, "RT")
	res := d.MustPush(pushBodyOf(rows))
	want := api.TableCounts{Contractors: 1, CostbookFolders: 1, CostbookItems: 1, Estimates: 1, EstimateEvents: 1,
		PdfSettings: 1, PricingRules: 1, StepAConfigs: 1, StepARules: 1}
	if res.Upserted != want || res.Deduped != (api.TableCounts{}) || res.Deleted != (api.DeleteCounts{}) {
		t.Fatalf("push counts = %+v", res)
	}
	stamp := mustJSON(t, res.ServerTime)

	page := d.PullRaw(nil)
	for table, pushed := range rows {
		var got []map[string]json.RawMessage
		if err := json.Unmarshal(page[table], &got); err != nil {
			t.Fatalf("decode %s: %v", table, err)
		}
		if len(got) != 1 {
			t.Fatalf("%s: %d rows, want 1: %s", table, len(got), page[table])
		}
		row := got[0]
		assertRow(t, table, row, pushed)
		if table == "contractors" {
			if want := mustJSON(t, d.ContractorID); !bytes.Equal(row["id"], want) {
				t.Errorf("contractors.id = %s, want %s", row["id"], want)
			}
			if _, ok := row["contractor_id"]; ok {
				t.Errorf("contractors row carries contractor_id")
			}
		} else if want := mustJSON(t, d.ContractorID); !bytes.Equal(row["contractor_id"], want) {
			t.Errorf("%s.contractor_id = %s, want %s", table, row["contractor_id"], want)
		}
		if id, ok := ids[table]; ok && !bytes.Equal(row["id"], mustJSON(t, id)) {
			t.Errorf("%s.id = %s, want %s", table, row["id"], id)
		}
		if !bytes.Equal(row["updated_at"], stamp) {
			t.Errorf("%s.updated_at = %s, want the push's serverTime %s", table, row["updated_at"], stamp)
		}
		if table != "contractors" && !bytes.Equal(row["created_at"], stamp) {
			t.Errorf("%s.created_at = %s, want the push's serverTime %s", table, row["created_at"], stamp)
		}
	}
}

func TestPush_JSONColumns_KeepValuesAndNesting(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
	id := uuid.New()
	// Integers beyond 2^53 must survive: request bodies decode numbers as
	// json.Number (server/jsonnumbers.go), never float64.
	lineItems := `[{"qty":1.10,"max":9007199254740991,"big":12345678901234567890,"tiny":1e-7,"deep":{"a":[{"b":null},[]]},"s":"\u00e9\ud83d\ude00","t":true}]`
	d.MustPush(fmt.Sprintf(`{"estimates":[{"id":%q,"number":"E-1","line_items":%s}]}`, id, lineItems))
	got := d.PullRows("estimates")
	if len(got) != 1 {
		t.Fatalf("estimates = %d rows", len(got))
	}
	if !testenv.JSONEqual(got[0]["line_items"], []byte(lineItems)) {
		t.Fatalf("line_items = %s, want %s", got[0]["line_items"], lineItems)
	}
}

// Contract 1.1, partial rows: a pushed row updates only the columns it
// carries. An absent column keeps its value (an app version that does not
// know a column added later cannot wipe it); an explicit null clears it (a
// NOT NULL column with a default goes back to the default); a new row gets
// the column defaults for what it leaves out.
func TestPush_PartialRows_AbsentKeptNullClearedNewDefaults(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
	ids := newRowIDs()
	full := fullRows(ids, "Full")
	d.MustPush(pushBodyOf(full))
	// Only the required columns: everything else must stay as it was.
	d.MustPush(map[string]any{
		"contractors":      []any{map[string]any{"name": "Bare"}},
		"costbook_folders": []any{map[string]any{"id": ids["costbook_folders"], "name": "F"}},
		"costbook_items":   []any{map[string]any{"id": ids["costbook_items"], "name": "I"}},
		"estimates":        []any{map[string]any{"id": ids["estimates"], "number": "N"}},
		"estimate_events":  []any{map[string]any{"id": ids["estimate_events"], "estimate_id": ids["estimates"], "kind": "k"}},
		"pdf_settings":     []any{map[string]any{}},
		"pricing_rules":    []any{map[string]any{"id": ids["pricing_rules"], "name": "P", "kind": "k"}},
		"step_a_configs":   []any{map[string]any{}},
		"step_a_rules":     []any{map[string]any{"id": ids["step_a_rules"], "name": "S"}},
	})
	required := map[string]map[string]any{
		"contractors": {"name": "Bare"}, "costbook_folders": {"name": "F"}, "costbook_items": {"name": "I"},
		"estimates": {"number": "N"}, "estimate_events": {"kind": "k"}, "pricing_rules": {"name": "P", "kind": "k"},
		"step_a_rules": {"name": "S"},
	}
	for table, row := range full {
		kept := map[string]any{}
		for col, v := range row {
			kept[col] = v
		}
		for col, v := range required[table] {
			kept[col] = v
		}
		got := d.PullRows(table)
		if len(got) != 1 {
			t.Fatalf("%s = %d rows, want 1", table, len(got))
		}
		assertRow(t, table, got[0], kept)
	}

	// Explicit nulls clear; a NOT NULL column with a default gets it back.
	d.MustPush(map[string]any{
		"costbook_items": []any{map[string]any{"id": ids["costbook_items"], "name": "I", "description": nil, "unit_cost": nil, "taxable": nil}},
		"estimates":      []any{map[string]any{"id": ids["estimates"], "number": "N", "status": nil, "line_items": nil, "total": nil}},
		"pdf_settings":   []any{map[string]any{"show_logo": nil, "terms": nil}},
		"contractors":    []any{map[string]any{"name": "Bare", "currency": nil, "phone": nil}},
	})
	for table, cols := range map[string]map[string]any{
		"costbook_items": {"description": nil, "unit_cost": nil, "taxable": false, "unit": full["costbook_items"]["unit"]},
		"estimates":      {"status": "draft", "line_items": []any{}, "total": nil, "tax": full["estimates"]["tax"]},
		"pdf_settings":   {"show_logo": true, "terms": nil, "template": full["pdf_settings"]["template"]},
		"contractors":    {"currency": "USD", "phone": nil, "email": full["contractors"]["email"]},
	} {
		assertRow(t, table, d.PullRows(table)[0], cols)
	}

	// A new row: defaults for whatever it leaves out.
	fresh := env.NewTenant(t)
	fresh.MustPush(map[string]any{
		"costbook_folders": []any{map[string]any{"id": uuid.New(), "name": "F"}},
		"costbook_items":   []any{map[string]any{"id": uuid.New(), "name": "I"}},
		"estimates":        []any{map[string]any{"id": uuid.New(), "number": "N"}},
		"estimate_events":  []any{map[string]any{"id": uuid.New(), "estimate_id": uuid.New(), "kind": "k"}},
		"pdf_settings":     []any{map[string]any{}},
		"pricing_rules":    []any{map[string]any{"id": uuid.New(), "name": "P", "kind": "k"}},
		"step_a_configs":   []any{map[string]any{}},
		"step_a_rules":     []any{map[string]any{"id": uuid.New(), "name": "S"}},
	})
	for table, cols := range map[string]map[string]any{
		"costbook_folders": {"name": "F", "parent_id": nil, "sort_order": 0},
		"costbook_items": {"name": "I", "folder_id": nil, "description": nil, "unit": nil, "unit_cost": nil,
			"markup_percent": nil, "sku": nil, "taxable": false},
		"estimates": {"number": "N", "title": nil, "client_name": nil, "client_email": nil, "status": "draft",
			"line_items": []any{}, "notes": nil, "subtotal": nil, "tax": nil, "total": nil, "valid_until": nil},
		"estimate_events": {"kind": "k", "payload": map[string]any{}, "occurred_at": nil},
		"pdf_settings": {"template": nil, "accent_color": nil, "show_logo": true, "header_text": nil,
			"footer_text": nil, "terms": nil},
		"pricing_rules":  {"name": "P", "kind": "k", "value": nil, "applies_to": nil, "priority": 0, "enabled": true},
		"step_a_configs": {"settings": map[string]any{}, "enabled": true},
		"step_a_rules":   {"name": "S", "condition": nil, "action": nil, "sort_order": 0, "enabled": true},
	} {
		got := fresh.PullRows(table)
		if len(got) != 1 {
			t.Fatalf("new %s = %d rows, want 1", table, len(got))
		}
		assertRow(t, table, got[0], cols)
	}
}

func TestPush_InvalidPayload_400NamesTableIndexField(t *testing.T) {
	t.Parallel()
	id := uuid.New()
	cases := []struct {
		name string
		body string
		want []wantDetail
	}{
		{"missing id", `{"costbook_items":[{"name":"Drywall"}]}`,
			[]wantDetail{{"costbook_items", 0, "id"}}},
		{"non-uuid id", `{"costbook_items":[{"id":"not-a-uuid","name":"Drywall"}]}`,
			[]wantDetail{{"costbook_items", 0, "id"}}},
		{"missing required column", fmt.Sprintf(`{"estimates":[{"id":%q}]}`, id),
			[]wantDetail{{"estimates", 0, "number"}}},
		{"name as number", fmt.Sprintf(`{"costbook_items":[{"id":%q,"name":42}]}`, id),
			[]wantDetail{{"costbook_items", 0, "name"}}},
		{"decimal number with 11 fraction digits", fmt.Sprintf(`{"costbook_items":[{"id":%q,"name":"x","unit_cost":0.12345678901}]}`, id),
			[]wantDetail{{"costbook_items", 0, "unit_cost"}}},
		{"decimal number over 20 integer digits", fmt.Sprintf(`{"costbook_items":[{"id":%q,"name":"x","unit_cost":1e400}]}`, id),
			[]wantDetail{{"costbook_items", 0, "unit_cost"}}},
		{"decimal as a boolean", fmt.Sprintf(`{"costbook_items":[{"id":%q,"name":"x","unit_cost":true}]}`, id),
			[]wantDetail{{"costbook_items", 0, "unit_cost"}}},
		{"decimal in exponent form", fmt.Sprintf(`{"pricing_rules":[{"id":%q,"name":"x","kind":"k","value":"1e3"}]}`, id),
			[]wantDetail{{"pricing_rules", 0, "value"}}},
		{"bool as string", fmt.Sprintf(`{"costbook_items":[{"id":%q,"name":"x","taxable":"yes"}]}`, id),
			[]wantDetail{{"costbook_items", 0, "taxable"}}},
		{"int out of int32 range", fmt.Sprintf(`{"costbook_folders":[{"id":%q,"name":"x","sort_order":2147483648}]}`, id),
			[]wantDetail{{"costbook_folders", 0, "sort_order"}}},
		{"bad enum status", fmt.Sprintf(`{"estimates":[{"id":%q,"number":"1","status":"paid"}]}`, id),
			[]wantDetail{{"estimates", 0, "status"}}},
		{"JSON array column given an object", fmt.Sprintf(`{"estimates":[{"id":%q,"number":"1","line_items":{}}]}`, id),
			[]wantDetail{{"estimates", 0, "line_items"}}},
		{"JSON object column given an array", fmt.Sprintf(`{"step_a_configs":[{"settings":[]}]}`),
			[]wantDetail{{"step_a_configs", 0, "settings"}}},
		{"unknown table", fmt.Sprintf(`{"invoices":[{"id":%q}]}`, id),
			[]wantDetail{{"invoices", -1, ""}}},
		{"unknown column", fmt.Sprintf(`{"costbook_items":[{"id":%q,"name":"x","colour":"red"}]}`, id),
			[]wantDetail{{"costbook_items", 0, "colour"}}},
		{"column in another case", fmt.Sprintf(`{"costbook_items":[{"id":%q,"name":"x","Name":"y"}]}`, id),
			[]wantDetail{{"costbook_items", 0, "Name"}}},
		{"malformed JSON", `{"costbook_items":[{"id":`,
			[]wantDetail{{"", -1, ""}}},
		{"a second JSON value after the body", `{}{"costbook_items":[]}`,
			[]wantDetail{{"", -1, ""}}},
		{"trailing garbage", `{"costbook_items":[]} x`,
			[]wantDetail{{"", -1, ""}}},
		{"body is not an object", `[]`,
			[]wantDetail{{"", -1, ""}}},
		{"table is not an array", fmt.Sprintf(`{"costbook_items":{"id":%q,"name":"x"}}`, id),
			[]wantDetail{{"costbook_items", -1, ""}}},
		{"non-object row", `{"costbook_items":["Drywall"]}`,
			[]wantDetail{{"costbook_items", 0, ""}}},
		{"bad date", fmt.Sprintf(`{"estimates":[{"id":%q,"number":"1","valid_until":"2025-02-30"}]}`, id),
			[]wantDetail{{"estimates", 0, "valid_until"}}},
		{"date Postgres cannot store", fmt.Sprintf(`{"estimates":[{"id":%q,"number":"1","valid_until":"0000-01-01"}]}`, id),
			[]wantDetail{{"estimates", 0, "valid_until"}}},
		{"timestamp Postgres cannot store", fmt.Sprintf(`{"estimate_events":[{"id":%q,"estimate_id":%q,"kind":"k","occurred_at":"0000-01-01T00:00:00Z"}]}`, id, id),
			[]wantDetail{{"estimate_events", 0, "occurred_at"}}},
		{"timestamp without zone", fmt.Sprintf(`{"estimate_events":[{"id":%q,"estimate_id":%q,"kind":"k","occurred_at":"2025-01-15T12:00:00"}]}`, id, id),
			[]wantDetail{{"estimate_events", 0, "occurred_at"}}},
		{"NUL inside a JSON column", fmt.Sprintf(`{"estimate_events":[{"id":%q,"estimate_id":%q,"kind":"k","payload":{"note":"a\u0000b"}}]}`, id, id),
			[]wantDetail{{"estimate_events", 0, "payload/note"}}},
		{"second row invalid", fmt.Sprintf(`{"costbook_items":[{"id":%q,"name":"ok"},{"id":%q,"name":""}]}`, id, uuid.New()),
			[]wantDetail{{"costbook_items", 1, "name"}}},
		{"another tenant's contractor row", fmt.Sprintf(`{"contractors":[{"id":%q,"name":"Mine now"}]}`, id),
			[]wantDetail{{"contractors", 0, "id"}}},
		{"contractor_id column on contractors", fmt.Sprintf(`{"contractors":[{"name":"x","contractor_id":%q}]}`, id),
			[]wantDetail{{"contractors", 0, "contractor_id"}}},
		{"delete of a non-uuid", `{"deletes":{"costbook_items":["nope"]}}`,
			[]wantDetail{{"deletes", -1, "costbook_items/0"}}},
		{"delete from a table that cannot be deleted", fmt.Sprintf(`{"deletes":{"contractors":[%q]}}`, id),
			[]wantDetail{{"deletes", -1, "contractors"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := env.NewTenant(t)
			before := d.State()
			e := d.Push(tc.body).Envelope(t, http.StatusBadRequest, "BAD_REQUEST")
			assertDetails(t, e, tc.want...)
			if after := d.State(); after != before {
				t.Fatalf("a rejected push changed the tenant:\nbefore %s\nafter  %s", before, after)
			}
			d.MustCanary() // and the server keeps serving
		})
	}
}

func TestPush_DuplicateIDs_LastWinsAndCounted(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
	a, b, r := uuid.New(), uuid.New(), uuid.New()
	res := d.MustPush(map[string]any{
		"costbook_items": []any{
			map[string]any{"id": a, "name": "a1", "unit_cost": "1.00"},
			map[string]any{"id": b, "name": "b1"},
			map[string]any{"id": a, "name": "a2", "unit_cost": "2.00"},
			map[string]any{"id": a, "name": "a3"},
		},
		"step_a_rules": []any{
			map[string]any{"id": r, "name": "r1", "sort_order": 1},
			map[string]any{"id": r, "name": "r2", "sort_order": 2},
		},
	})
	if res.Upserted.CostbookItems != 2 || res.Deduped.CostbookItems != 2 ||
		res.Upserted.StepARules != 1 || res.Deduped.StepARules != 1 {
		t.Fatalf("upserted %+v deduped %+v, want items 2/2 and rules 1/1", res.Upserted, res.Deduped)
	}
	if (res.Deduped != api.TableCounts{CostbookItems: 2, StepARules: 1}) {
		t.Fatalf("deduped = %+v", res.Deduped)
	}
	items := d.PullRows("costbook_items")
	got := map[string]map[string]json.RawMessage{}
	for _, row := range items {
		var id string
		_ = json.Unmarshal(row["id"], &id)
		got[id] = row
	}
	// Entries of one key merge in order (1.1): a3 carries no unit_cost, so
	// a2's stays.
	if len(items) != 2 || string(got[a.String()]["name"]) != `"a3"` || string(got[a.String()]["unit_cost"]) != `"2.00"` ||
		string(got[b.String()]["name"]) != `"b1"` {
		t.Fatalf("items = %v, want a3 with a2's unit_cost, and b1", items)
	}
	rules := d.PullRows("step_a_rules")
	if len(rules) != 1 || string(rules[0]["name"]) != `"r2"` || string(rules[0]["sort_order"]) != "2" {
		t.Fatalf("rules = %v, want only r2", rules)
	}
}

// TestPush_DuplicateMemberNames_400NamingTheField: one object naming a
// member twice (`{"number":"a","number":"b"}`) has no single meaning: JSON
// parsers disagree on which wins, so the decoder, the merge of entries and
// Postgres could each pick another. A 400 naming where, nothing written;
// entries of one row in an array (TestPush_DuplicateIDs_*) are another thing.
func TestPush_DuplicateMemberNames_400NamingTheField(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
	id := uuid.New()
	before := d.State()
	for _, tc := range []struct {
		name string
		body string
		want wantDetail
	}{
		{"a column of a row", fmt.Sprintf(`{"estimates":[{"id":%q,"number":"a","number":"b"}]}`, id),
			wantDetail{"estimates", 0, "number"}},
		{"the key of a row", fmt.Sprintf(`{"estimates":[{"id":%q,"number":"a","id":%q}]}`, id, uuid.New()),
			wantDetail{"estimates", 0, "id"}},
		{"a singleton's column", `{"pdf_settings":[{"terms":"a","terms":null}]}`,
			wantDetail{"pdf_settings", 0, "terms"}},
		{"a table", fmt.Sprintf(`{"estimates":[{"id":%q,"number":"a"}],"estimates":[]}`, id),
			wantDetail{"estimates", -1, ""}},
	} {
		r := d.Push(tc.body)
		e := r.Envelope(t, http.StatusBadRequest, "BAD_REQUEST")
		assertDetails(t, e, tc.want)
		if !strings.Contains(e.Details[0].Reason, "twice") {
			t.Errorf("%s: reason %q does not say the name is given twice", tc.name, e.Details[0].Reason)
		}
	}
	if d.State() != before {
		t.Fatal("a push with a member named twice wrote")
	}
}

func TestPush_Singletons_TwiceInOnePushAndAgain_OneRowLastValues(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
	res := d.MustPush(map[string]any{
		"pdf_settings":   []any{map[string]any{"template": "one"}, map[string]any{"template": "two", "show_logo": false}},
		"step_a_configs": []any{map[string]any{"settings": map[string]any{"v": 1}}, map[string]any{"settings": map[string]any{"v": 2}, "enabled": false}},
	})
	if res.Upserted.PdfSettings != 1 || res.Deduped.PdfSettings != 1 || res.Upserted.StepAConfigs != 1 || res.Deduped.StepAConfigs != 1 {
		t.Fatalf("upserted %+v deduped %+v, want 1 and 1 for both singletons", res.Upserted, res.Deduped)
	}
	first := d.PullRows("pdf_settings")
	if len(first) != 1 || string(first[0]["template"]) != `"two"` || string(first[0]["show_logo"]) != "false" {
		t.Fatalf("pdf_settings after first push = %v", first)
	}

	second := d.MustPush(map[string]any{
		"pdf_settings":   []any{map[string]any{"template": "three", "show_logo": true, "terms": "Net 15"}},
		"step_a_configs": []any{map[string]any{"settings": map[string]any{"v": 3}}},
	})
	pdf := d.PullRows("pdf_settings")
	cfg := d.PullRows("step_a_configs")
	if len(pdf) != 1 || len(cfg) != 1 {
		t.Fatalf("singletons: %d pdf_settings, %d step_a_configs rows; want 1 each", len(pdf), len(cfg))
	}
	assertRow(t, "pdf_settings", pdf[0], map[string]any{"template": "three", "show_logo": true, "terms": "Net 15",
		"contractor_id": d.ContractorID, "updated_at": second.ServerTime})
	// enabled, left out of the second push, keeps the first push's false.
	assertRow(t, "step_a_configs", cfg[0], map[string]any{"settings": map[string]any{"v": 3}, "enabled": false,
		"contractor_id": d.ContractorID, "updated_at": second.ServerTime})
	// created_at stays the first push's.
	if string(pdf[0]["created_at"]) != string(mustJSON(t, res.ServerTime)) {
		t.Fatalf("pdf_settings.created_at = %s, want first push %s", pdf[0]["created_at"], mustJSON(t, res.ServerTime))
	}
	if n := sqlCount(t, `SELECT count(*) FROM pdf_settings WHERE contractor_id = $1`, d.ContractorID); n != 1 {
		t.Fatalf("pdf_settings rows in the database = %d", n)
	}
}

func TestPush_ServerOwnedFields_IgnoredAndSetByServer(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
	other := env.NewTenant(t)
	id := uuid.New()
	bogus := map[string]any{"contractor_id": other.ContractorID, "created_at": "2001-01-01T00:00:00.000Z", "updated_at": "2099-01-01T00:00:00.000Z"}
	row := func(name string) map[string]any {
		r := map[string]any{"id": id, "name": name}
		for k, v := range bogus {
			r[k] = v
		}
		return r
	}
	first := d.MustPush(map[string]any{
		"costbook_items": []any{row("v1")},
		"pdf_settings":   []any{map[string]any{"template": "t", "contractor_id": other.ContractorID, "created_at": "2001-01-01T00:00:00Z"}},
		"contractors":    []any{map[string]any{"name": "Me", "created_at": "2001-01-01T00:00:00Z", "updated_at": "2099-01-01T00:00:00Z"}},
	})
	second := d.MustPush(map[string]any{"costbook_items": []any{row("v2")}})
	if !second.ServerTime.After(first.ServerTime.Time) {
		t.Fatalf("serverTime did not advance: %s then %s", first.ServerTime, second.ServerTime)
	}
	items := d.PullRows("costbook_items")
	if len(items) != 1 {
		t.Fatalf("items = %d", len(items))
	}
	assertRow(t, "costbook_items", items[0], map[string]any{"name": "v2", "contractor_id": d.ContractorID,
		"created_at": first.ServerTime, "updated_at": second.ServerTime})
	pdf := d.PullRows("pdf_settings")
	assertRow(t, "pdf_settings", pdf[0], map[string]any{"contractor_id": d.ContractorID, "created_at": first.ServerTime})
	me := d.PullRows("contractors")
	assertRow(t, "contractors", me[0], map[string]any{"id": d.ContractorID, "name": "Me", "updated_at": first.ServerTime})
	if string(me[0]["created_at"]) == `"2001-01-01T00:00:00.000Z"` {
		t.Fatalf("contractors.created_at taken from the client")
	}
	// The other tenant got nothing.
	if got := other.PullRows("costbook_items"); len(got) != 0 {
		t.Fatalf("contractor_id in a body wrote into that contractor: %v", got)
	}
	if got := other.PullRows("pdf_settings"); len(got) != 0 {
		t.Fatalf("contractor_id in a singleton wrote into that contractor: %v", got)
	}
}

func TestPush_LegacyItemsAlias(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
	onlyAlias, tie := uuid.New(), uuid.New()
	res := d.MustPush(map[string]any{
		"items": []any{
			map[string]any{"id": onlyAlias, "name": "from items", "unit_cost": "3.10"},
			map[string]any{"id": tie, "name": "items loses"},
		},
		"costbook_items": []any{map[string]any{"id": tie, "name": "costbook_items wins"}},
	})
	if res.Upserted.CostbookItems != 2 || res.Deduped.CostbookItems != 1 {
		t.Fatalf("upserted %+v deduped %+v, want costbook_items 2 and 1", res.Upserted, res.Deduped)
	}
	byID := map[string]string{}
	for _, row := range d.PullRows("costbook_items") {
		var id, name string
		_ = json.Unmarshal(row["id"], &id)
		_ = json.Unmarshal(row["name"], &name)
		byID[id] = name
	}
	if len(byID) != 2 || byID[onlyAlias.String()] != "from items" || byID[tie.String()] != "costbook_items wins" {
		t.Fatalf("costbook_items = %v", byID)
	}
}

func TestPush_Deletes_TombstoneAndCount(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
	ids := newRowIDs()
	d.MustPush(pushBodyOf(fullRows(ids, "Del")))
	res := d.MustPush(map[string]any{"deletes": ids.deletesOf()})
	want := api.DeleteCounts{CostbookFolders: 1, CostbookItems: 1, Estimates: 1, EstimateEvents: 1, PricingRules: 1, StepARules: 1}
	if res.Deleted != want || res.Upserted != (api.TableCounts{}) {
		t.Fatalf("deleted %+v upserted %+v, want one per table", res.Deleted, res.Upserted)
	}
	page := d.PullRaw(nil)
	assertOnlyTables(t, page, "contractors", "pdf_settings", "step_a_configs")
	// Stored as tombstones, not removed: a cursor can still deliver them.
	for _, table := range deletableTables {
		if n := sqlCount(t, `SELECT count(*) FROM `+table+` WHERE contractor_id = $1 AND deleted_at IS NOT NULL`, d.ContractorID); n != 1 {
			t.Errorf("%s tombstones = %d, want 1", table, n)
		}
	}
	// Deleting again is not an error and counts nothing.
	again := d.MustPush(map[string]any{"deletes": ids.deletesOf()})
	if again.Deleted != (api.DeleteCounts{}) {
		t.Fatalf("second delete = %+v, want zeros", again.Deleted)
	}
}

func TestPush_DeleteUnknownIDs_NotAnError(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
	res := d.MustPush(map[string]any{"deletes": newRowIDs().deletesOf()})
	if res.Deleted != (api.DeleteCounts{}) || !res.Ok {
		t.Fatalf("deleted = %+v, want all zero", res.Deleted)
	}
}

func TestPush_UpsertAfterDelete_Revives(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
	id := uuid.New()
	d.MustPush(map[string]any{"costbook_items": []any{map[string]any{"id": id, "name": "v1"}}})
	d.MustPush(map[string]any{"deletes": map[string]any{"costbook_items": []uuid.UUID{id}}})
	d.MustPush(map[string]any{"costbook_items": []any{map[string]any{"id": id, "name": "v2"}}})
	items := d.PullRows("costbook_items")
	if len(items) != 1 || string(items[0]["name"]) != `"v2"` {
		t.Fatalf("items = %v, want v2 alive", items)
	}
}

func TestPush_UpsertAndDeleteSameID_DeleteApplied(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
	id := uuid.New()
	res := d.MustPush(map[string]any{
		"costbook_items": []any{map[string]any{"id": id, "name": "short-lived"}},
		"deletes":        map[string]any{"costbook_items": []uuid.UUID{id}},
	})
	if res.Upserted.CostbookItems != 1 || res.Deleted.CostbookItems != 1 {
		t.Fatalf("push = %+v, want 1 upserted then 1 deleted (the spec applies upserts first)", res)
	}
	if items := d.PullRows("costbook_items"); len(items) != 0 {
		t.Fatalf("items = %v, want none", items)
	}
}

func TestPush_ContractorsRow_UpdatesOnlyTheCallersOwn(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
	withID := d.MustPush(map[string]any{"contractors": []any{map[string]any{"id": d.ContractorID, "name": "With id", "currency": "CAD"}}})
	if withID.Upserted.Contractors != 1 {
		t.Fatalf("upserted = %+v", withID.Upserted)
	}
	rows := d.PullRows("contractors")
	assertRow(t, "contractors", rows[0], map[string]any{"id": d.ContractorID, "name": "With id", "currency": "CAD", "updated_at": withID.ServerTime})

	without := d.MustPush(map[string]any{"contractors": []any{map[string]any{"name": "Without id", "email": "me@example.com"}}})
	rows = d.PullRows("contractors")
	if len(rows) != 1 {
		t.Fatalf("contractors = %d rows, want exactly the caller's", len(rows))
	}
	// Partial (1.1): the currency it leaves out stays.
	assertRow(t, "contractors", rows[0], map[string]any{"id": d.ContractorID, "name": "Without id", "email": "me@example.com",
		"currency": "CAD", "updated_at": without.ServerTime})

	e := d.Push(map[string]any{"contractors": []any{map[string]any{"id": d.ContractorID, "name": "x", "currency": "usd"}}}).
		Envelope(t, http.StatusBadRequest, "BAD_REQUEST")
	assertDetails(t, e, wantDetail{"contractors", 0, "currency"})

	// A second row for a new id would create a contractor: refused.
	e = d.Push(map[string]any{"contractors": []any{
		map[string]any{"id": d.ContractorID, "name": "Mine"},
		map[string]any{"id": uuid.New(), "name": "New tenant"},
	}}).Envelope(t, http.StatusBadRequest, "BAD_REQUEST")
	assertDetails(t, e, wantDetail{"contractors", 1, "id"})
	if n := sqlCount(t, `SELECT count(*) FROM contractors WHERE name = 'New tenant'`); n != 0 {
		t.Fatalf("a push created a contractor")
	}
}

func TestPush_IdempotencyKey_ReplaysFirstResponseAndAppliesNothing(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
	id := uuid.New()
	body := map[string]any{"costbook_items": []any{map[string]any{"id": id, "name": "original"}, map[string]any{"id": id, "name": "original"}}}
	key := map[string]string{"Idempotency-Key": "push-" + uuid.NewString()}

	first := d.Push(body, key)
	if first.Status != http.StatusOK || first.Header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("first push = %d replayed=%q: %s", first.Status, first.Header.Get("Idempotent-Replayed"), first.Body)
	}
	// Another device changes the row in between.
	between := d.MustPush(map[string]any{"costbook_items": []any{map[string]any{"id": id, "name": "changed"}}})

	replay := d.Push(body, key)
	if replay.Status != http.StatusOK || replay.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay = %d replayed=%q: %s", replay.Status, replay.Header.Get("Idempotent-Replayed"), replay.Body)
	}
	if !bytes.Equal(replay.Body, first.Body) {
		t.Fatalf("replayed body differs:\nfirst  %s\nreplay %s", first.Body, replay.Body)
	}
	items := d.PullRows("costbook_items")
	assertRow(t, "costbook_items", items[0], map[string]any{"name": "changed", "updated_at": between.ServerTime})

	// Same key, another body: 422, and that body is not applied either.
	other := map[string]any{"costbook_items": []any{map[string]any{"id": uuid.New(), "name": "other"}}}
	d.Push(other, key).Envelope(t, http.StatusUnprocessableEntity, "IDEMPOTENCY_KEY_REUSED")
	if items := d.PullRows("costbook_items"); len(items) != 1 {
		t.Fatalf("items = %d, the 422 body was applied", len(items))
	}
}

func TestPush_IdempotencyKey_RejectedPushDoesNotUseTheKey(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
	key := map[string]string{"Idempotency-Key": "retry-" + uuid.NewString()}
	d.Push(map[string]any{"costbook_items": []any{map[string]any{"name": "no id"}}}, key).
		Envelope(t, http.StatusBadRequest, "BAD_REQUEST")
	fixed := map[string]any{"costbook_items": []any{map[string]any{"id": uuid.New(), "name": "fixed"}}}
	r := d.Push(fixed, key)
	if r.Status != http.StatusOK || r.Header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("fixed push with the same key = %d replayed=%q: %s", r.Status, r.Header.Get("Idempotent-Replayed"), r.Body)
	}
	if got := d.PullRows("costbook_items"); len(got) != 1 {
		t.Fatalf("items = %d, want 1", len(got))
	}
}

func TestPush_WrongContentType_415(t *testing.T) {
	t.Parallel()
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "", "application/jsonx"} {
		t.Run("content-type="+ct, func(t *testing.T) {
			t.Parallel()
			d := env.NewTenant(t)
			before := d.State()
			body := fmt.Sprintf(`{"costbook_items":[{"id":%q,"name":"x"}]}`, uuid.New())
			headers := map[string]string{"Content-Type": ct}
			d.Do(http.MethodPost, "/api/sync/push", body, headers).Envelope(t, http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE")
			if d.State() != before {
				t.Fatal("a 415 push wrote")
			}
		})
	}
	t.Run("charset parameter is fine", func(t *testing.T) {
		t.Parallel()
		d := env.NewTenant(t)
		r := d.Do(http.MethodPost, "/api/sync/push", `{}`, map[string]string{"Content-Type": "application/json; charset=utf-8"})
		if r.Status != http.StatusOK {
			t.Fatalf("push = %d %s", r.Status, r.Body)
		}
	})
}

// bigPush is a valid-looking push of more than n bytes.
func bigPush(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"costbook_items":[`)
	for i := 0; b.Len() < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":%q,"name":"item %d","description":%q}`, uuid.New(), i, strings.Repeat("d", 5000))
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

func TestPush_BodyOverLimit_413(t *testing.T) {
	t.Parallel()
	body := bigPush(int(env.Config.MaxBodyBytes) + 1)
	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprintf("chunked=%v", chunked), func(t *testing.T) {
			t.Parallel()
			d := env.NewTenant(t)
			before := d.State()
			var reader io.Reader = bytes.NewReader(body)
			if chunked {
				reader = io.MultiReader(reader) // length unknown to the client: sent chunked
			}
			req, err := http.NewRequest(http.MethodPost, env.URL+"/api/sync/push", reader)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+d.Token)
			req.Header.Set("Content-Type", "application/json")
			d.Send(req).Envelope(t, http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE")
			if d.State() != before {
				t.Fatal("a 413 push wrote")
			}
		})
	}
}

func TestPush_BodyJustUnderLimit_Accepted(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
	body := bigPush(int(env.Config.MaxBodyBytes) - 6000)
	if len(body) > int(env.Config.MaxBodyBytes) {
		t.Fatalf("fixture too big: %d", len(body))
	}
	r := d.Push(body)
	if r.Status != http.StatusOK {
		t.Fatalf("push of %d bytes = %d: %s", len(body), r.Status, devicetest.Truncate(r.Body))
	}
}

func TestPush_MoreRowsThanLimit_413(t *testing.T) {
	t.Parallel()
	rowsOf := func(n int) map[string]any {
		rows := make([]any, n)
		for i := range rows {
			rows[i] = map[string]any{"id": uuid.New(), "name": "r"}
		}
		return map[string]any{"costbook_items": rows}
	}
	d := env.NewTenant(t)
	before := d.State()
	e := d.Push(rowsOf(env.Config.MaxPushRows+1)).Envelope(t, http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE")
	if !strings.Contains(e.Message, fmt.Sprint(env.Config.MaxPushRows)) {
		t.Errorf("message %q does not state the limit", e.Message)
	}
	// Deletes count as rows too.
	del := rowsOf(env.Config.MaxPushRows)
	del["deletes"] = map[string]any{"costbook_items": []uuid.UUID{uuid.New()}}
	d.Push(del).Envelope(t, http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE")
	if d.State() != before {
		t.Fatal("a 413 push wrote")
	}
	res := d.MustPush(rowsOf(env.Config.MaxPushRows))
	if res.Upserted.CostbookItems != env.Config.MaxPushRows {
		t.Fatalf("upserted %d at the limit, want %d", res.Upserted.CostbookItems, env.Config.MaxPushRows)
	}
}

func TestPush_EmptyPush_OKWithZeroCounts(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
	for _, body := range []string{`{}`, `{"costbook_items":[],"deletes":{}}`} {
		res := d.MustPush(body)
		if !res.Ok || res.Upserted != (api.TableCounts{}) || res.Deleted != (api.DeleteCounts{}) || res.Deduped != (api.TableCounts{}) {
			t.Fatalf("push %s = %+v", body, res)
		}
	}
	d.Push("").Envelope(t, http.StatusBadRequest, "BAD_REQUEST")
}

func TestPush_LastWriteWins_InCommitOrder(t *testing.T) {
	t.Parallel()
	owner := env.NewTenant(t)
	id := uuid.New()
	for i := 1; i <= 3; i++ {
		owner.MustPush(map[string]any{"costbook_items": []any{map[string]any{"id": id, "name": fmt.Sprintf("v%d", i)}}})
	}
	page := owner.MustPull(url.Values{"tables": {"costbook_items"}})
	if len(page.CostbookItems) != 1 || page.CostbookItems[0].Name != "v3" {
		t.Fatalf("items = %+v", page.CostbookItems)
	}
}
