package blackbox_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/google/uuid"

	"github.com/syncproxy/syncproxy/internal/testenv"
)

// rowIDs is one client-generated id per regular table (contractors aside).
type rowIDs map[string]uuid.UUID

func newRowIDs() rowIDs {
	ids := rowIDs{}
	for _, table := range deletableTables {
		ids[table] = uuid.New()
	}
	return ids
}

// deletesOf is a push's `deletes` member naming every id of ids.
func (ids rowIDs) deletesOf() map[string][]uuid.UUID {
	out := map[string][]uuid.UUID{}
	for table, id := range ids {
		out[table] = []uuid.UUID{id}
	}
	return out
}

// fullRows is one row per synced table with every client column set (JSON
// columns nested, decimals with trailing zeros and signs, a date, a timestamp
// with an offset, nulls), tagged so two tenants' rows differ in every text.
// The contractors row has no id: it is always the caller's own.
func fullRows(ids rowIDs, tag string) map[string]map[string]any {
	return map[string]map[string]any{
		"contractors": {
			"name": tag + " Builders", "company_name": tag + " Builders LLC", "email": tag + "@example.com",
			"phone": "+1 555 0100", "address": "1 Main St\nSpringfield", "currency": "EUR",
		},
		"costbook_folders": {
			"id": ids["costbook_folders"], "name": tag + " Framing", "parent_id": nil, "sort_order": 7,
		},
		"costbook_items": {
			"id": ids["costbook_items"], "name": tag + " Drywall ½\"", "folder_id": ids["costbook_folders"],
			"description": "Gypsum board, 4×8 — ünïcödé", "unit": "sheet", "unit_cost": "12.50",
			"markup_percent": "-0.0001", "sku": "DW-48", "taxable": true,
		},
		"estimates": {
			"id": ids["estimates"], "number": tag + "-0001", "title": "Kitchen remodel", "client_name": "Ann Client",
			"client_email": "ann@example.com", "status": "sent",
			"line_items": []any{
				map[string]any{"item": ids["costbook_items"].String(), "qty": "2", "price": "12.50", "tags": []any{"a", nil, true}},
				map[string]any{"note": "labor", "hours": 3.25},
			},
			"notes": nil, "subtotal": "100.00", "tax": "8.25", "total": "123456789012345678.9012345678",
			"valid_until": "2025-02-28",
		},
		"estimate_events": {
			"id": ids["estimate_events"], "estimate_id": ids["estimates"], "kind": "sent",
			"payload":     map[string]any{"to": "ann@example.com", "attempt": 2, "meta": map[string]any{"via": "email"}},
			"occurred_at": "2025-01-15T12:00:00.123+02:00",
		},
		"pdf_settings": {
			"template": tag + " modern", "accent_color": "#FF6600", "show_logo": false,
			"header_text": "Thank you", "footer_text": nil, "terms": "Net 30",
		},
		"pricing_rules": {
			"id": ids["pricing_rules"], "name": tag + " Weekend", "kind": "markup", "value": "15.5",
			"applies_to": []any{"labor", "materials"}, "priority": -3, "enabled": false,
		},
		"step_a_configs": {
			"settings": map[string]any{"mode": tag, "threshold": 1000, "flags": []any{"x"}}, "enabled": false,
		},
		"step_a_rules": {
			"id": ids["step_a_rules"], "name": tag + " Big job", "condition": map[string]any{"field": "total", "gt": 1000},
			"action": nil, "sort_order": 2, "enabled": true,
		},
	}
}

// pushBodyOf puts each row into its table's array.
func pushBodyOf(rows map[string]map[string]any) map[string]any {
	body := map[string]any{}
	for table, row := range rows {
		body[table] = []any{row}
	}
	return body
}

// wireForm is what a pull must return for a pushed value that the server
// normalises: timestamps become UTC with milliseconds.
var wireForm = map[any]any{
	"2025-01-15T12:00:00.123+02:00": "2025-01-15T10:00:00.123Z",
}

// jsonColumns hold client JSON; jsonb may reorder keys and respace them.
var jsonColumns = map[string]bool{
	"line_items": true, "payload": true, "applies_to": true, "settings": true, "condition": true, "action": true,
}

// assertRow compares every pushed column of a pulled row: scalars byte for
// byte (so a decimal must come back as the same JSON string), JSON columns as
// values with numbers compared by their digits.
func assertRow(t *testing.T, table string, got map[string]json.RawMessage, pushed map[string]any) {
	t.Helper()
	for col, v := range pushed {
		if s, ok := v.(string); ok && wireForm[s] != nil {
			v = wireForm[s]
		}
		want := mustJSON(t, v)
		raw, ok := got[col]
		if !ok {
			t.Errorf("%s.%s missing from pull", table, col)
			continue
		}
		if jsonColumns[col] {
			if !testenv.JSONEqual(raw, want) {
				t.Errorf("%s.%s = %s, want %s", table, col, raw, want)
			}
		} else if !bytes.Equal(raw, want) {
			t.Errorf("%s.%s = %s, want %s", table, col, raw, want)
		}
	}
	for _, internal := range []string{"sync_seq", "deleted_at"} {
		if _, ok := got[internal]; ok {
			t.Errorf("%s leaks internal column %s", table, internal)
		}
	}
}
