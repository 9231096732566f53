package main

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/syncproxy/syncproxy/internal/contract"
)

func specTables(t *testing.T) map[string]contract.Table {
	t.Helper()
	spec, err := contract.Load(context.Background(), "../../openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tables, err := spec.Tables()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]contract.Table{}
	for _, tb := range tables {
		byName[tb.Name] = tb
	}
	return byName
}

// TestTombstoneColumns_FromTheSpec: a tombstone's blank values follow from
// the pull and write schemas (nullable → NULL, a default → DEFAULT, required
// text → the empty string), and a required column with no blank value (a uuid) is kept.
func TestTombstoneColumns_FromTheSpec(t *testing.T) {
	tables := specTables(t)
	for name, want := range map[string]struct{ blank, kept []string }{
		"estimate_events":  {[]string{"kind = ''", "occurred_at = NULL", "payload = DEFAULT"}, []string{"estimate_id"}},
		"costbook_folders": {[]string{"name = ''", "parent_id = NULL", "sort_order = DEFAULT"}, nil},
	} {
		blank, kept := tombstoneColumns(tables[name])
		if !slices.Equal(blank, want.blank) || !slices.Equal(kept, want.kept) {
			t.Errorf("%s: blank %q kept %q, want blank %q kept %q", name, blank, kept, want.blank, want.kept)
		}
	}
}

// TestRenderQueries_EveryShape: one template gives each key kind its shape:
// a regular table pages by (seq, id) and has tombstones, a singleton's
// digest hashes its contractor, the tenant row is scoped by its id.
func TestRenderQueries_EveryShape(t *testing.T) {
	tables := specTables(t)
	files, err := renderQueries([]contract.Table{tables["estimates"], tables["pdf_settings"], tables["contractors"]},
		"../../queries/table.sql.tmpl", "openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for file, wants := range map[string][]string{
		"estimates.gen.sql":    {"(sync_seq, id) > (@after_seq::bigint, @after_id::uuid)", "-- name: DeleteEstimates :execrows", "-- name: VersionsEstimates :many", "uuid_send(id)"},
		"pdf_settings.gen.sql": {"uuid_send(contractor_id)", "WHERE contractor_id = @contractor_id;"},
		"contractors.gen.sql":  {"WHERE id = @contractor_id\n", "uuid_send(id)"},
	} {
		got := string(files[file])
		for _, w := range wants {
			if !strings.Contains(got, w) {
				t.Errorf("%s lacks %q:\n%s", file, w, got)
			}
		}
		if file != "estimates.gen.sql" && strings.Contains(got, "deleted_at") {
			t.Errorf("%s mentions deleted_at, which its table has not:\n%s", file, got)
		}
	}
}

// TestSQLView_RowsWithAnIDNeedTombstones: a table keyed by id but without
// deleted_at is refused with what to add (the registry pulls and checks
// versions through tombstones).
func TestSQLView_RowsWithAnIDNeedTombstones(t *testing.T) {
	tb := specTables(t)["estimates"]
	tb.Deletable = false
	if _, err := sqlView(tb); err == nil || !strings.Contains(err.Error(), "deleted_at") {
		t.Fatalf("sqlView = %v, want an error naming deleted_at", err)
	}
}

// TestPayloadColumns_DefaultsFromTheSpec: a column that is NOT NULL with a
// default gets the spec's default in the upsert, typed as the column; one
// the spec states no default for is refused with what to add.
func TestPayloadColumns_DefaultsFromTheSpec(t *testing.T) {
	tables := specTables(t)
	cols, err := payloadColumns(tables["estimates"])
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]string{}
	for _, c := range cols {
		values[c.Name] = c.Type + " " + c.Value
	}
	for name, want := range map[string]string{
		"status":      "text COALESCE(r.status, 'draft'::text)",
		"line_items":  "jsonb COALESCE(r.line_items, '[]'::jsonb)",
		"subtotal":    "numeric r.subtotal",
		"valid_until": "date r.valid_until",
		"number":      "text r.number",
	} {
		if values[name] != want {
			t.Errorf("%s: %q, want %q", name, values[name], want)
		}
	}
	if _, ok := values["id"]; ok {
		t.Error("id is a payload column; the upsert writes it as the key")
	}

	tb := tables["costbook_folders"]
	write := *tb.Write.Schema
	write.Properties = maps.Clone(write.Properties)
	sortOrder := *write.Properties["sort_order"].Value
	sortOrder.Description = ""
	write.Properties["sort_order"] = &openapi3.SchemaRef{Value: &sortOrder}
	tb.Write = &contract.RowSchema{Name: tb.Write.Name, Table: tb.Name, Schema: &write}
	if _, err := payloadColumns(tb); err == nil || !strings.Contains(err.Error(), "sort_order") || !strings.Contains(err.Error(), "default") {
		t.Fatalf("payloadColumns without the stated default = %v, want an error naming sort_order and its default", err)
	}
}
