package push_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/syncproxy/syncproxy/wire/push"
)

// A Go client builds a push from its own row types and sends it with the
// generated client's typed call:
//
//	res, err := client.PushChanges(ctx, &api.PushChangesParams{}, body)
func ExampleBody() {
	type folder struct {
		ID   uuid.UUID `json:"id"`
		Name string    `json:"name"`
	}
	var body push.Body
	if err := body.Upsert("costbook_folders", folder{uuid.MustParse("0190a0a0-0000-7000-8000-000000000001"), "Drywall"}); err != nil {
		panic(err)
	}
	// A partial row: the columns it leaves out keep their stored values.
	if err := body.Upsert("estimates", json.RawMessage(`{"id":"0190a0a0-0000-7000-8000-000000000002","title":"Kitchen"}`)); err != nil {
		panic(err)
	}
	body.Delete("costbook_items", uuid.MustParse("0190a0a0-0000-7000-8000-000000000003"))
	body.DeleteAt("estimates", uuid.MustParse("0190a0a0-0000-7000-8000-000000000004"), 7)

	out, _ := json.Marshal(body)
	fmt.Println(string(out))
	// Output:
	// {"costbook_folders":[{"id":"0190a0a0-0000-7000-8000-000000000001","name":"Drywall"}],"estimates":[{"id":"0190a0a0-0000-7000-8000-000000000002","title":"Kitchen"}],"deletes":{"estimates":[{"id":"0190a0a0-0000-7000-8000-000000000004","base_version":7}],"costbook_items":["0190a0a0-0000-7000-8000-000000000003"]}}
}

func TestUpsert_RefusesWhatIsNotAnObject(t *testing.T) {
	for name, row := range map[string]any{
		"array":         []int{1},
		"string":        "x",
		"raw array":     json.RawMessage(`[{"id":1}]`),
		"broken object": []byte(`{"id":`),
		"empty":         json.RawMessage(nil),
	} {
		var b push.Body
		err := b.Upsert("estimates", row)
		if err == nil || !strings.Contains(err.Error(), "push estimates: row 0: ") {
			t.Errorf("%s: Upsert = %v, want an error naming table and row", name, err)
		}
	}
}

func TestUnmarshal_Refused(t *testing.T) {
	var b push.Body
	if err := json.Unmarshal([]byte(`{"estimates":[]}`), &b); err == nil {
		t.Fatal("encoding/json decoded a push body: only the server's validating decoder may")
	}
}
