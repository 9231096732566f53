package main

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// The schemas of openapi.yaml that describe the synced tables as a whole.
const (
	pullResponseSchema  = "SyncPullResponse" // one array of pull rows per table
	pushRequestSchema   = "SyncPushRequest"  // one array of push rows per table
	tableNameSchema     = "TableName"        // the enum of table names (pull's ?tables=)
	deletedIDsSchema    = "DeletedIds"       // pull: tombstone ids per deletable table
	deleteRequestSchema = "DeleteRequest"    // push: ids to delete per deletable table
	tableCountsSchema   = "TableCounts"      // push response: upserts per table
	deleteCountsSchema  = "DeleteCounts"     // push response: deletes per deletable table
)

// pushNonTables are SyncPushRequest properties that are not a table: the
// deprecated alias of costbook_items and the deletes.
var pushNonTables = map[string]string{
	"items":   "deprecated alias of costbook_items",
	"deletes": "the ids to delete",
}

// spec is what openapi.yaml says about the synced tables.
type spec struct {
	doc *openapi3.T
	// rows are the component schemas carrying the x-table extension (the
	// table a schema's objects are rows of), by schema name.
	rows map[string]*rowSchema
}

type rowSchema struct {
	name   string // component name, e.g. CostbookItemWrite
	table  string // x-table
	schema *openapi3.Schema
}

func loadSpec(ctx context.Context, path string) (*spec, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	if err := doc.Validate(ctx); err != nil {
		return nil, fmt.Errorf("validate %s: %w", path, err)
	}
	s := &spec{doc: doc, rows: map[string]*rowSchema{}}
	for name, ref := range doc.Components.Schemas {
		if ref.Value == nil {
			continue
		}
		table, ok := ref.Value.Extensions["x-table"].(string)
		if !ok {
			continue
		}
		s.rows[name] = &rowSchema{name: name, table: table, schema: ref.Value}
	}
	return s, nil
}

// component returns a component schema, or nil.
func (s *spec) component(name string) *openapi3.Schema {
	ref := s.doc.Components.Schemas[name]
	if ref == nil {
		return nil
	}
	return ref.Value
}

// tableArrays returns, for an envelope like SyncPullResponse, the row schema
// named by each array property's items (nil when the items carry no x-table).
func (s *spec) tableArrays(envelope string, skip map[string]string) map[string]*rowSchema {
	env := s.component(envelope)
	if env == nil {
		return nil
	}
	arrays := map[string]*rowSchema{}
	for prop, ref := range env.Properties {
		if _, ok := skip[prop]; ok || ref.Value == nil || !ref.Value.Type.Is("array") {
			continue
		}
		items := ref.Value.Items
		if items == nil || items.Value == nil || !items.Value.Type.Is("object") {
			continue
		}
		arrays[prop] = s.rowByRef(items)
	}
	return arrays
}

// rowByRef finds the x-table row schema a $ref points to.
func (s *spec) rowByRef(ref *openapi3.SchemaRef) *rowSchema {
	name := strings.TrimPrefix(ref.Ref, "#/components/schemas/")
	if row, ok := s.rows[name]; ok && ref.Ref != "" {
		return row
	}
	return nil
}

// propertyNames returns a schema's property names, sorted.
func propertyNames(schema *openapi3.Schema) []string {
	if schema == nil {
		return nil
	}
	names := make([]string, 0, len(schema.Properties))
	for n := range schema.Properties {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// enumStrings returns a string enum's values, sorted.
func enumStrings(schema *openapi3.Schema) []string {
	if schema == nil {
		return nil
	}
	var values []string
	for _, v := range schema.Enum {
		if s, ok := v.(string); ok {
			values = append(values, s)
		}
	}
	sort.Strings(values)
	return values
}

// wireType describes a property schema as "type" or "type/format", and
// "any" when it has no type (a JSON value of any kind).
func wireType(schema *openapi3.Schema) string {
	if schema == nil || schema.Type == nil || len(schema.Type.Slice()) == 0 {
		return "any"
	}
	t := strings.Join(schema.Type.Slice(), "|")
	if schema.Format != "" {
		t += "/" + schema.Format
	}
	return t
}
