// Package contract is what openapi.yaml says about the synced tables, read
// with kin-openapi: the x-table row schemas, the envelopes that list one array
// per table, and the tables themselves in their stable order. The generators
// (cmd/tablegen, cmd/swiftgen) and the drift checks (cmd/contractcheck) read
// the spec through it, so they cannot disagree about what a table is.
package contract

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// The schemas of openapi.yaml that describe the synced tables as a whole.
const (
	PullResponseSchema  = "SyncPullResponse" // one array of pull rows per table
	PushRequestSchema   = "SyncPushRequest"  // one array of push rows per table
	TableNameSchema     = "TableName"        // the enum of table names, in their stable order
	DeletedIDsSchema    = "DeletedIds"       // pull: tombstone ids per deletable table
	DeleteRequestSchema = "DeleteRequest"    // push: ids to delete per deletable table
	TableCountsSchema   = "TableCounts"      // push response: upserts per table
	TableDigestsSchema  = "TableDigests"     // digest response: count and digest per table
	DeleteCountsSchema  = "DeleteCounts"     // push response: deletes per deletable table
)

// PushNonTables are SyncPushRequest properties that are neither a table nor an
// alias of one: the deletes.
var PushNonTables = map[string]string{
	"deletes": "the ids to delete",
}

// Spec is openapi.yaml, loaded and validated.
type Spec struct {
	Doc *openapi3.T
	// Rows are the component schemas carrying the x-table extension (the
	// table a schema's objects are rows of), by schema name.
	Rows map[string]*RowSchema
}

// RowSchema is a component schema whose objects are rows of one table.
type RowSchema struct {
	Name   string // component name, e.g. CostbookItemWrite
	Table  string // x-table
	Schema *openapi3.Schema
}

// Load reads and validates the OpenAPI document at path.
func Load(ctx context.Context, path string) (*Spec, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	if err := doc.Validate(ctx); err != nil {
		return nil, fmt.Errorf("validate %s: %w", path, err)
	}
	return FromDoc(doc), nil
}

// FromDoc wraps an already loaded document (e.g. the spec embedded in gen/api).
func FromDoc(doc *openapi3.T) *Spec {
	s := &Spec{Doc: doc, Rows: map[string]*RowSchema{}}
	if doc.Components == nil {
		return s
	}
	for name, ref := range doc.Components.Schemas {
		if ref.Value == nil {
			continue
		}
		table, ok := ref.Value.Extensions["x-table"].(string)
		if !ok {
			continue
		}
		s.Rows[name] = &RowSchema{Name: name, Table: table, Schema: ref.Value}
	}
	return s
}

// Component returns a component schema, or nil.
func (s *Spec) Component(name string) *openapi3.Schema {
	if s.Doc.Components == nil {
		return nil
	}
	ref := s.Doc.Components.Schemas[name]
	if ref == nil {
		return nil
	}
	return ref.Value
}

// TableArrays returns, for an envelope like SyncPullResponse, the row schema
// named by each array property's items (nil when the items carry no x-table).
func (s *Spec) TableArrays(envelope string, skip map[string]string) map[string]*RowSchema {
	env := s.Component(envelope)
	if env == nil {
		return nil
	}
	arrays := map[string]*RowSchema{}
	for prop, ref := range env.Properties {
		if _, ok := skip[prop]; ok || ref.Value == nil || !ref.Value.Type.Is("array") {
			continue
		}
		items := ref.Value.Items
		if items == nil || items.Value == nil || !items.Value.Type.Is("object") {
			continue
		}
		arrays[prop] = s.RowByRef(items)
	}
	return arrays
}

// RowByRef finds the x-table row schema a $ref points to.
func (s *Spec) RowByRef(ref *openapi3.SchemaRef) *RowSchema {
	name := strings.TrimPrefix(ref.Ref, "#/components/schemas/")
	if row, ok := s.Rows[name]; ok && ref.Ref != "" {
		return row
	}
	return nil
}

// PropertyNames returns a schema's property names, sorted.
func PropertyNames(schema *openapi3.Schema) []string {
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

// EnumStrings returns a string enum's values in the order the spec lists them.
func EnumStrings(schema *openapi3.Schema) []string {
	if schema == nil {
		return nil
	}
	var values []string
	for _, v := range schema.Enum {
		if s, ok := v.(string); ok {
			values = append(values, s)
		}
	}
	return values
}

// WireType describes a property schema as "type" or "type/format", and
// "any" when it has no type (a JSON value of any kind). A decimal accepted as
// a string or a number (anyOf) is "string/decimal": its string form is the
// one the server sends.
func WireType(schema *openapi3.Schema) string {
	if schema != nil && len(schema.AnyOf) > 0 {
		var dec *openapi3.Schema
		for _, alt := range schema.AnyOf {
			switch v := alt.Value; {
			case v == nil:
				return "any"
			case v.Type.Is("string") && v.Format == "decimal":
				dec = v
			case v.Type.Is("number"):
			default:
				return "any"
			}
		}
		if dec != nil {
			return WireType(dec)
		}
		return "any"
	}
	if schema == nil || schema.Type == nil || len(schema.Type.Slice()) == 0 {
		return "any"
	}
	t := strings.Join(schema.Type.Slice(), "|")
	if schema.Format != "" {
		t += "/" + schema.Format
	}
	return t
}
