package proof_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/syncproxy/syncproxy/internal/devicetest"
)

// pushSeeds are valid and broken push bodies the fuzzer starts from; %[1]s is
// a fresh uuid, %[2]s another one.
var pushSeeds = []string{
	`{}`,
	`{"costbook_items":[{"id":"%[1]s","name":"Drywall","unit_cost":"12.50","markup_percent":"-0.5","taxable":true,"folder_id":"%[2]s"}]}`,
	`{"items":[{"id":"%[1]s","name":"alias"}],"costbook_items":[{"id":"%[1]s","name":"wins"}]}`,
	`{"costbook_items":[{"id":"%[1]s","name":"a"},{"id":"%[1]s","name":"b"}],"deletes":{"costbook_items":["%[2]s"]}}`,
	`{"contractors":[{"name":"Acme","currency":"EUR","email":"a@b.c"}],"pdf_settings":[{"accent_color":"#ff0000"},{"template":"b","show_logo":false}]}`,
	`{"estimates":[{"id":"%[1]s","number":"E-1","status":"sent","line_items":[{"qty":"2"}],"total":"10.00","valid_until":"2025-01-31"}],` +
		`"estimate_events":[{"id":"%[2]s","estimate_id":"%[1]s","kind":"sent","payload":{"to":"x"},"occurred_at":"2025-01-15T12:00:00.000Z"}]}`,
	`{"costbook_folders":[{"id":"%[1]s","name":"f","parent_id":null,"sort_order":2147483647}],` +
		`"pricing_rules":[{"id":"%[2]s","name":"r","kind":"markup","value":"1.5","applies_to":{"a":[1]},"priority":1,"enabled":true}],` +
		`"step_a_configs":[{"settings":{"k":true},"enabled":true}],"step_a_rules":[{"id":"%[1]s","name":"s","condition":null,"action":[1],"sort_order":-1}]}`,
	`{"deletes":{"costbook_folders":["%[1]s"],"estimates":[],"estimate_events":["%[2]s"],"pricing_rules":["%[1]s"],"step_a_rules":["%[2]s"]}}`,
	`{"costbook_items":[{"id":"%[1]s","name":"x","contractor_id":"%[2]s","created_at":"1999-01-01T00:00:00Z","updated_at":"x"}]}`,
	// Broken.
	``,
	`null`,
	`[]`,
	`"push"`,
	`{"costbook_items":[{"id":`,
	`{"costbook_items":[{"name":"no id"}]}`,
	`{"costbook_items":[{"id":"not-a-uuid","name":"x"}]}`,
	`{"costbook_items":[{"id":"%[1]s"}]}`,
	`{"costbook_items":[{"id":"%[1]s","name":"x","bogus":1}]}`,
	`{"costbook_items":[{"id":"%[1]s","name":"x","unit_cost":12.5}]}`,
	`{"costbook_items":[{"id":"%[1]s","name":"x","unit_cost":"1e999"}]}`,
	`{"costbook_items":[{"id":"%[1]s","name":"nul\u0000byte"}]}`,
	`{"costbook_items":{"id":"%[1]s"}}`,
	`{"no_such_table":[]}`,
	`{"estimates":[{"id":"%[1]s","number":"1","status":"bogus"}]}`,
	`{"estimates":[{"id":"%[1]s","number":"1","valid_until":"0000-01-01"}]}`,
	`{"estimates":[{"id":"%[1]s","number":"1","line_items":{"not":"array"}}]}`,
	`{"estimate_events":[{"id":"%[1]s","estimate_id":"%[2]s","kind":"k","payload":[],"occurred_at":"2025-13-01T00:00:00Z"}]}`,
	`{"estimate_events":[{"id":"%[1]s","estimate_id":"%[2]s","kind":"k","payload":{"s":"\u0000"}}]}`,
	`{"contractors":[{"id":"%[1]s","name":"someone else"}]}`,
	`{"contractors":[{"name":"x","currency":"usd"}]}`,
	`{"costbook_folders":[{"id":"%[1]s","name":"f","sort_order":2147483648}]}`,
	`{"step_a_configs":[{"settings":"not an object"}]}`,
	`{"deletes":{"costbook_items":["not-a-uuid"],"contractors":["%[1]s"]}}`,
	`{"deletes":{"pdf_settings":["%[1]s"]}}`,
	`{"costbook_items":[{"id":"00000000-0000-0000-0000-000000000000","name":"nil uuid"}]}`,
	`{"costbook_items":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`,
	`{"costbook_items":[{"id":"%[1]s","name":"x"}]}{"trailing":true}`,
	// JSON columns at and past their bounds: 32 levels deep, the byte limit.
	`{"estimates":[{"id":"%[1]s","number":"1","line_items":` + strings.Repeat("[", 32) + strings.Repeat("]", 32) + `}]}`,
	`{"estimates":[{"id":"%[1]s","number":"1","line_items":` + strings.Repeat("[", 33) + strings.Repeat("]", 33) + `}]}`,
	`{"step_a_rules":[{"id":"%[1]s","name":"s","condition":` + strings.Repeat(`{"a":`, 40) + `1` + strings.Repeat("}", 40) + `}]}`,
	`{"pricing_rules":[{"id":"%[1]s","name":"r","kind":"k","applies_to":["` + strings.Repeat("x", fuzzMaxJSONBytes-4) + `"]}]}`,
	`{"pricing_rules":[{"id":"%[1]s","name":"r","kind":"k","applies_to":["` + strings.Repeat("x", fuzzMaxJSONBytes) + `"]}]}`,
}

// fuzzMaxJSONBytes is the fuzzed server's SYNC_MAX_JSON_VALUE_BYTES.
const fuzzMaxJSONBytes = 4096

// maxJSONDepth is the contract's nesting bound of a JSON column value.
const maxJSONDepth = 32

// FuzzPushDecodeValidate sends arbitrary bytes as a push body through the real
// handler (server.New: body limit, JSON check, spec validation, planning, the
// transaction on a real database). Whatever the bytes, the server must not
// panic or fail: a body is either applied (200, and only if it is valid JSON)
// or rejected with a 4xx that carries the contract's envelope — never a 500.
func FuzzPushDecodeValidate(f *testing.F) {
	for _, s := range pushSeeds {
		f.Add([]byte(fmt.Sprintf(s, uuid.New(), uuid.New())))
	}
	d := env.NewTenant(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/api/sync/push", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+d.Token)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		env.Handler.ServeHTTP(rec, req)
		r := devicetest.Response{Status: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
		if err := checkPushOutcome(body, r); err != nil {
			t.Fatalf("push body %q: %v", body, err)
		}
	})
}

// checkPushOutcome is the fuzzing property.
func checkPushOutcome(body []byte, r devicetest.Response) error {
	switch r.Status {
	case http.StatusOK:
		// A body that is not one JSON document was not understood: applying
		// part of it (e.g. the first of two concatenated objects) and answering
		// 200 silently drops the rest.
		if !json.Valid(body) {
			return fmt.Errorf("a body that is not valid JSON was applied: 200 %s", r.Body)
		}
		var ok struct {
			Ok       bool            `json:"ok"`
			Upserted json.RawMessage `json:"upserted"`
			Deleted  json.RawMessage `json:"deleted"`
			Deduped  json.RawMessage `json:"deduped"`
		}
		if err := json.Unmarshal(r.Body, &ok); err != nil || !ok.Ok || ok.Upserted == nil || ok.Deleted == nil || ok.Deduped == nil {
			return fmt.Errorf("200 with body %s", r.Body)
		}
		return jsonColumnsWithinBounds(body)
	case http.StatusBadRequest:
		return r.CheckEnvelope(r.Status, "BAD_REQUEST")
	case http.StatusRequestEntityTooLarge:
		return r.CheckEnvelope(r.Status, "PAYLOAD_TOO_LARGE")
	case http.StatusUnsupportedMediaType:
		return r.CheckEnvelope(r.Status, "UNSUPPORTED_MEDIA_TYPE")
	case http.StatusUnprocessableEntity:
		return r.CheckEnvelope(r.Status, "IDEMPOTENCY_KEY_REUSED")
	}
	return fmt.Errorf("status %d (want 200 or a 400/413/415/422 envelope): %s", r.Status, r.Body)
}

// jsonColumnsWithinBounds: an applied push stored no JSON column value deeper
// than 32 levels or larger than the limit. Inside a row only JSON columns
// hold objects and arrays, so every such value of a row is checked.
func jsonColumnsWithinBounds(body []byte) error {
	var push map[string]json.RawMessage
	if err := json.Unmarshal(body, &push); err != nil {
		return nil // not an object: nothing was stored
	}
	for table, raw := range push {
		var rows []map[string]json.RawMessage
		if table == "deletes" || json.Unmarshal(raw, &rows) != nil {
			continue
		}
		for i, row := range rows {
			for col, v := range row {
				if len(v) == 0 || (v[0] != '{' && v[0] != '[') {
					continue
				}
				if len(v) > fuzzMaxJSONBytes {
					return fmt.Errorf("applied %s[%d].%s of %d bytes, over the %d-byte bound", table, i, col, len(v), fuzzMaxJSONBytes)
				}
				if d := nesting(v); d > maxJSONDepth {
					return fmt.Errorf("applied %s[%d].%s nested %d levels deep, over %d", table, i, col, d, maxJSONDepth)
				}
			}
		}
	}
	return nil
}

// nesting is the depth of a valid JSON value's brackets, outside strings.
func nesting(v []byte) int {
	d, deepest, inString, escaped := 0, 0, false, false
	for _, c := range v {
		switch {
		case inString && escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case inString && c == '"':
			inString = false
		case inString:
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			d++
			deepest = max(deepest, d)
		case c == '}' || c == ']':
			d--
		}
	}
	return deepest
}
