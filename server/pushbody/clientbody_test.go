package pushbody_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/google/uuid"

	"github.com/syncproxy/syncproxy/wire/push"
)

// TestDecode_ClientBuiltBody: a push.Body a client builds (push.Body's
// Upsert, Delete, DeleteAt) and sends as encoding/json writes it (the
// generated client's typed call) decodes into the same rows and deletes,
// in TableName order, with what the decoder reads out of each row.
func TestDecode_ClientBuiltBody(t *testing.T) {
	dec := compileSpec(t)
	folder, item, gone, stale := uuid.New(), uuid.New(), uuid.New(), uuid.New()
	var sent push.Body
	must(t, sent.Upsert("estimates", map[string]any{"id": item, "number": "E-1", "base_version": 3}))
	must(t, sent.Upsert("costbook_folders",
		map[string]any{"id": folder, "name": "a"},
		json.RawMessage(`{"id":"`+folder.String()+`","name":"b <&>"}`)))
	sent.Delete("costbook_items", gone)
	sent.DeleteAt("costbook_items", stale, 5)

	wireBody, err := json.Marshal(sent)
	if err != nil {
		t.Fatal(err)
	}
	var got push.Body
	if err := dec.DecodeBytes(wireBody, &got); err != nil {
		t.Fatalf("decode %s: %v", wireBody, err)
	}
	byName := map[string]push.Table{}
	for _, tb := range got.Tables {
		byName[tb.Name] = tb
	}
	tables := specTables(t)
	if len(got.Tables) != len(tables) {
		t.Fatalf("decoded %d tables, want every table of the spec (%d)", len(got.Tables), len(tables))
	}
	for i, tb := range tables {
		if got.Tables[i].Name != tb.Name {
			t.Errorf("decoded table %d is %s, want %s (TableName order)", i, got.Tables[i].Name, tb.Name)
		}
	}
	est := byName["estimates"].Rows
	if len(est) != 1 || est[0].Key != item || !est[0].HasKey || !est[0].HasBase || est[0].Base != 3 {
		t.Errorf("estimates rows = %+v, want one keyed %s with base 3", est, item)
	}
	folders := byName["costbook_folders"].Rows
	if len(folders) != 2 || folders[1].Index != 1 || folders[1].Source != "costbook_folders" {
		t.Fatalf("costbook_folders rows = %+v, want two, in order", folders)
	}
	var second map[string]string
	if err := json.Unmarshal(folders[1].JSON, &second); err != nil || second["name"] != "b <&>" {
		t.Errorf("second folder = %s (%v), want the name as sent", folders[1].JSON, err)
	}
	dels := byName["costbook_items"].Deletes
	if len(dels) != 2 || dels[0].ID != gone || dels[0].HasBase || dels[1].ID != stale || !dels[1].HasBase || dels[1].Base != 5 {
		t.Errorf("costbook_items deletes = %+v, want %s plain then %s at 5", dels, gone, stale)
	}
	if got.Sum == ([32]byte{}) {
		t.Error("the decoded body carries no Sum (an Idempotency-Key binds to it)")
	}
	again, err := json.Marshal(got)
	if err != nil || !bytes.Contains(again, []byte(`"deletes":{"costbook_items":[`)) {
		t.Errorf("a decoded body writes back as %s (%v)", again, err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
