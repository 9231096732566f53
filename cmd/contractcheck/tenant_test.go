package main

import (
	"strings"
	"testing"
)

func TestTenantScoping_CatchesUnscopedAccess(t *testing.T) {
	keys := map[string]string{"costbook_items": "contractor_id", "estimates": "contractor_id",
		"estimate_events": "contractor_id", "users": "contractor_id", "contractors": "id"}
	cases := []struct {
		name, sql string
		want      string // "" when the query is scoped
	}{
		{"filtered", `SELECT * FROM costbook_items WHERE contractor_id = @contractor_id AND id = @id`, ""},
		{"by id only", `SELECT * FROM costbook_items WHERE id = @id`, "reads costbook_items without"},
		{"filter under OR", `SELECT * FROM costbook_items WHERE contractor_id = @contractor_id OR true`, "reads costbook_items without"},
		{"another parameter", `SELECT * FROM costbook_items WHERE contractor_id = @other_id`, "reads costbook_items without"},
		{"sqlc.arg, cast", `DELETE FROM costbook_items WHERE contractor_id = sqlc.arg(contractor_id)::uuid`, ""},
		{"sqlc.narg", `UPDATE estimates SET title = 'x' WHERE sqlc.narg('contractor_id') = contractor_id`, ""},
		{"update by id", `UPDATE estimates SET title = 'x' WHERE id = @id`, "updates estimates without"},
		{"contractors by own id", `UPDATE contractors AS c SET name = 'x' WHERE c.id = @contractor_id::uuid`, ""},
		{"wrong alias", `SELECT * FROM estimates e, estimate_events v WHERE v.contractor_id = @contractor_id`, "reads estimates without e.contractor_id"},
		{"unfiltered join", `SELECT e.* FROM estimates e JOIN estimate_events ev ON ev.estimate_id = e.id WHERE e.contractor_id = @contractor_id`, "reads estimate_events without ev.contractor_id"},
		{"join filtered in ON", `SELECT e.* FROM estimates e JOIN estimate_events ev ON ev.contractor_id = @contractor_id WHERE e.contractor_id = @contractor_id`, ""},
		{"unfiltered subquery", `SELECT * FROM estimates WHERE contractor_id = @contractor_id AND id IN (SELECT estimate_id FROM estimate_events)`, "reads estimate_events without"},
		{"CTE", `WITH x AS (SELECT id FROM estimates WHERE contractor_id = @contractor_id) SELECT * FROM x`, ""},
		{"insert values", `INSERT INTO users (auth_user_id, contractor_id) VALUES (@auth_user_id, @contractor_id)`, ""},
		{"insert other value", `INSERT INTO users (auth_user_id, contractor_id) VALUES (@auth_user_id, @other)`, "inserts into users with contractor_id not set from @contractor_id"},
		{"insert without key", `INSERT INTO users (auth_user_id) VALUES (@auth_user_id)`, "inserts into users without writing its contractor_id"},
		{"insert select", `INSERT INTO costbook_items (contractor_id, id) SELECT @contractor_id::uuid, r.id FROM jsonb_to_recordset(@rows::jsonb) AS r(id uuid)`, ""},
		{"no tenant table", `SELECT 1`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tree, err := parseTree(tc.sql)
			if err != nil {
				t.Fatal(err)
			}
			q := &query{name: "Q", tree: tree.list("stmts")[0].get("stmt")}
			got := strings.Join(q.unscopedAccesses(keys), "; ")
			switch {
			case tc.want == "" && got != "":
				t.Errorf("want scoped, got %q", got)
			case tc.want != "" && !strings.Contains(got, tc.want):
				t.Errorf("want %q, got %q", tc.want, got)
			}
		})
	}
}
