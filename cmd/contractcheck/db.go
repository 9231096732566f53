package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/syncproxy/syncproxy/internal/contract"
	"github.com/syncproxy/syncproxy/migrations"
)

func runDB(ctx context.Context, r *report, args []string) error {
	flags := flag.NewFlagSet("db", flag.ContinueOnError)
	specPath := flags.String("spec", "openapi.yaml", "the OpenAPI document")
	clusterURL := flags.String("cluster-url", "", "use this running cluster (URL of a database to connect to) instead of a throwaway one")
	if err := flags.Parse(args); err != nil {
		return err
	}
	s, err := contract.Load(ctx, *specPath)
	if err != nil {
		r.problem("%v", err)
		return r.verdict("", *specPath+" does not load", "fix "+*specPath)
	}
	r.comparing("applying %s (migrations.Apply) to a throwaway Postgres; comparing information_schema with the %d x-table schemas of %s",
		plural(len(migrations.Versions()), "migration", "migrations"), len(s.Rows), *specPath)
	tables, err := migratedTables(ctx, *clusterURL)
	var drift *driftError
	if errors.As(err, &drift) {
		r.problem("%v", drift)
		return r.verdict("", "the migrations do not apply", "fix the newest migration (migrations are append-only: never edit one that is on main)")
	}
	if err != nil {
		return err
	}
	nTables, nColumns := compareSpecWithTables(r, s, tables)
	return r.verdict(
		fmt.Sprintf("%d tables, %d columns, %d row schemas", nTables, nColumns, len(s.Rows)),
		fmt.Sprintf("%s between %s and migrations/", plural(len(r.problems), "mismatch", "mismatches"), *specPath),
		"make them agree: add a migration (never edit one on main) or edit "+*specPath+", then run make generate")
}

// pushNonTables are the SyncPushRequest properties that are not a table: the
// deletes, and deprecated aliases whose items are another table's rows
// (`items` for costbook_items).
func pushNonTables(s *contract.Spec) map[string]string {
	skip := map[string]string{}
	for k, v := range contract.PushNonTables {
		skip[k] = v
	}
	env := s.Component(contract.PushRequestSchema)
	for prop, row := range s.TableArrays(contract.PushRequestSchema, contract.PushNonTables) {
		if row != nil && row.Table != prop && env.Properties[prop].Value.Deprecated {
			skip[prop] = "deprecated alias of " + row.Table
		}
	}
	return skip
}

// Columns of every synced table that never reach the wire under their own
// name: the tombstone (sqlc.yaml tags it json:"-") and the change cursor,
// which is the row's version on the wire (contract 1.1).
var bookkeeping = map[string]bool{"sync_seq": true, "deleted_at": true}

// wireNames are bookkeeping columns a pulled row carries, under another name.
var wireNames = map[string]string{"sync_seq": "sync_version"}

// versionProps are the properties of a pushed row that are not columns: the
// version the edit started from, and a pulled row's version pushed back.
var versionProps = map[string]bool{"base_version": true, "sync_version": true}

// Server-owned fields: a pushed row may carry them (clients echo what they
// pulled) but the server ignores them, so their push schema is loose.
var serverOwned = map[string]bool{"contractor_id": true, "created_at": true, "updated_at": true}

// Columns a push need not send although they are NOT NULL without a default,
// because the server supplies them from the token.
var tokenSupplied = map[string]map[string]bool{
	"contractors": {"id": true}, // the caller's contractor id
}

// wireTypes maps a column's type (information_schema udt_name) to the
// property types (see wireType) that carry it on the wire. Money and
// percentages are decimal strings; JSON columns are any JSON value.
var wireTypes = map[string][]string{
	"uuid":        {"string/uuid"},
	"text":        {"string"},
	"varchar":     {"string"},
	"numeric":     {"string/decimal"},
	"int2":        {"integer", "integer/int32"},
	"int4":        {"integer", "integer/int32"},
	"int8":        {"integer", "integer/int64"},
	"bool":        {"boolean"},
	"timestamptz": {"string/date-time"},
	"date":        {"string/date"},
	"jsonb":       {"any", "object", "array"},
	"json":        {"any", "object", "array"},
}

// sqlTypeNames spells udt names the way migrations do.
var sqlTypeNames = map[string]string{"int2": "smallint", "int4": "integer", "int8": "bigint", "bool": "boolean"}

func describeColumn(c column) string {
	t := c.udt
	if n, ok := sqlTypeNames[t]; ok {
		t = n
	}
	if c.nullable {
		return t + " NULL"
	}
	if c.hasDefault {
		return t + " NOT NULL DEFAULT " + c.defaultSQL
	}
	return t + " NOT NULL"
}

// compareSpecWithTables reports every disagreement between the spec's synced
// tables and the migrated database, and returns what it compared.
func compareSpecWithTables(r *report, s *contract.Spec, tables map[string]*table) (nTables, nColumns int) {
	pull := s.TableArrays(contract.PullResponseSchema, nil)
	nonTables := pushNonTables(s)
	push := s.TableArrays(contract.PushRequestSchema, nonTables)
	checkEnvelope(r, contract.PullResponseSchema, pull)
	checkEnvelope(r, contract.PushRequestSchema, push)

	used := map[string]bool{}
	for _, row := range pull {
		if row != nil {
			used[row.Name] = true
		}
	}
	for _, row := range push {
		if row != nil {
			used[row.Name] = true
		}
	}
	xTables := map[string]bool{}
	for _, name := range sortedKeys(s.Rows) {
		row := s.Rows[name]
		xTables[row.Table] = true
		if !used[row.Name] {
			r.problem("schema %s (x-table: %s) is an item of neither %s nor %s: reference it there, or drop x-table",
				row.Name, row.Table, contract.PullResponseSchema, contract.PushRequestSchema)
		}
	}

	synced := compareSets(r, "table", []namedSet{
		{"x-table schemas", xTables},
		{contract.PullResponseSchema + " properties", keys(pull)},
		{contract.PushRequestSchema + " properties (without " + strings.Join(sortedKeys(nonTables), ", ") + ")", keys(push)},
		{contract.TableNameSchema + " enum", setOf(contract.EnumStrings(s.Component(contract.TableNameSchema)))},
	})

	deletable := map[string]bool{}
	for _, name := range synced {
		t := tables[name]
		if t == nil {
			r.problem("table %s: openapi.yaml syncs it, but the migrations create no such table", name)
			continue
		}
		if _, ok := t.column("deleted_at"); ok {
			deletable[name] = true
		}
	}
	// Every other schema that lists the tables (TableCounts, TableDigests,
	// DeletedIds, ...: contract.TableLists) lists exactly these.
	for _, p := range s.TableListProblems(contract.PropertyLists(), synced, deletable) {
		r.problem("%s", p)
	}
	for _, p := range s.UnlistedTableLists(synced) {
		r.problem("%s", p)
	}

	for _, name := range synced {
		t := tables[name]
		if t == nil {
			continue
		}
		nTables++
		nColumns += len(t.columns)
		if row := pull[name]; row != nil && row.Table == name {
			comparePullRow(r, t, row)
		}
		if row := push[name]; row != nil && row.Table == name {
			comparePushRow(r, t, row)
		}
	}
	return nTables, nColumns
}

// checkEnvelope checks that each table property's items are rows of that table.
func checkEnvelope(r *report, envelope string, arrays map[string]*contract.RowSchema) {
	for _, prop := range sortedKeys(arrays) {
		row := arrays[prop]
		switch {
		case row == nil:
			r.problem("%s.%s: its items are not a component schema with x-table: %s", envelope, prop, prop)
		case row.Table != prop:
			r.problem("%s.%s: its items are %s, whose x-table is %s", envelope, prop, row.Name, row.Table)
		}
	}
}

// comparePullRow: a pulled row is exactly the table's columns minus
// bookkeeping, every property always present, null where the column is.
func comparePullRow(r *report, t *table, row *contract.RowSchema) {
	required := setOf(row.Schema.Required)
	for _, c := range t.columns {
		if wire, ok := wireNames[c.name]; ok {
			ref, inSpec := row.Schema.Properties[wire]
			switch {
			case !inSpec:
				r.problem("%s.%s: pulled rows carry it as %s, but %s has no property %s: add it (integer, int64, required)", t.name, c.name, wire, row.Name, wire)
			case contract.WireType(ref.Value) != "integer/int64" || ref.Value.Nullable:
				r.problem("%s.%s: must be integer/int64, not nullable, as column %s.%s (bigint NOT NULL)", row.Name, wire, t.name, c.name)
			case !required[wire]:
				r.problem("%s.%s: not in required of %s (a pulled row always carries its version)", row.Name, wire, row.Name)
			}
			continue
		}
		ref, inSpec := row.Schema.Properties[c.name]
		switch {
		case bookkeeping[c.name] && inSpec:
			r.problem("%s.%s: bookkeeping column, never sent, but %s has a property %s: remove it", t.name, c.name, row.Name, c.name)
			continue
		case bookkeeping[c.name]:
			continue
		case !inSpec:
			r.problem("%s.%s: column (%s) has no property in %s: add it to %s (and to the push schema), or drop the column in a new migration",
				t.name, c.name, describeColumn(c), row.Name, row.Name)
			continue
		}
		prop := ref.Value
		compareType(r, t, c, row, prop)
		if c.nullable != prop.Nullable {
			r.problem("%s.%s: column is %s, but %s.%s has nullable: %t",
				t.name, c.name, describeColumn(c), row.Name, c.name, prop.Nullable)
		}
		if !required[c.name] {
			r.problem("%s.%s: not in required of %s (a pulled row always carries every column)", row.Name, c.name, row.Name)
		}
	}
	for _, p := range contract.PropertyNames(row.Schema) {
		if _, ok := t.column(p); !ok && !isWireName(p) {
			r.problem("%s.%s: property has no column %s.%s: add the column in a new migration, or remove the property", row.Name, p, t.name, p)
		}
	}
}

func isWireName(p string) bool {
	for _, w := range wireNames {
		if w == p {
			return true
		}
	}
	return false
}

// comparePushRow: a pushed row may carry any column but the bookkeeping
// ones; it must be able to set every column the server does not own; what it
// requires must be NOT NULL without a default, and the reverse.
func comparePushRow(r *report, t *table, row *contract.RowSchema) {
	required := setOf(row.Schema.Required)
	for _, p := range contract.PropertyNames(row.Schema) {
		c, ok := t.column(p)
		switch {
		case !ok && versionProps[p]:
			prop := row.Schema.Properties[p].Value
			if contract.WireType(prop) != "integer/int64" {
				r.problem("%s.%s: a row version is integer/int64, not %s", row.Name, p, contract.WireType(prop))
			}
			continue
		case !ok:
			r.problem("%s.%s: property has no column %s.%s: add the column in a new migration, or remove the property", row.Name, p, t.name, p)
			continue
		case bookkeeping[p]:
			r.problem("%s.%s: %s.%s is bookkeeping, owned by the server: remove the property", row.Name, p, t.name, p)
			continue
		case serverOwned[p]:
			continue // accepted and ignored: any shape will do
		}
		prop := row.Schema.Properties[p].Value
		compareType(r, t, c, row, prop)
		if !tokenSupplied[t.name][c.name] {
			compareDefault(r, t, c, row, p, prop)
		}
		if prop.Nullable && !c.nullable && !c.hasDefault {
			r.problem("%s.%s: nullable, but column %s.%s is %s: a null cannot be stored", row.Name, p, t.name, p, describeColumn(c))
		}
		if required[p] && (c.nullable || c.hasDefault) {
			r.problem("%s.%s: required, but column %s.%s is %s: drop it from required, or make the column NOT NULL without a default in a new migration",
				row.Name, p, t.name, p, describeColumn(c))
		}
	}
	for _, req := range row.Schema.Required {
		if _, ok := row.Schema.Properties[req]; !ok {
			r.problem("%s: requires %s, which is not one of its properties", row.Name, req)
		}
	}
	for _, c := range t.columns {
		if bookkeeping[c.name] || serverOwned[c.name] || tokenSupplied[t.name][c.name] {
			continue
		}
		if _, ok := row.Schema.Properties[c.name]; !ok {
			r.problem("%s.%s: column (%s) has no property in %s, so a push (which replaces the row) can never set it: add it",
				t.name, c.name, describeColumn(c), row.Name)
			continue
		}
		if !c.nullable && !c.hasDefault && !required[c.name] {
			r.problem("%s.%s: must be required: column %s.%s is NOT NULL without a default", row.Name, c.name, t.name, c.name)
		}
	}
}

// compareDefault: the default a write property states (contract.Default) is
// the column's, evaluated by Postgres. A new row that leaves the column out
// gets it: the generated upsert writes the spec's, the Swift replica shows
// it before the row comes back, so a default in a migration only would be
// silently overridden.
func compareDefault(r *report, t *table, c column, row *contract.RowSchema, p string, prop *openapi3.Schema) {
	stated, ok := contract.Default(prop)
	switch {
	case !ok && c.hasDefault:
		r.problem("%s.%s: column is %s, but %s.%s states no default: add `default: ...` (or \"Default X.\" to its description)",
			t.name, c.name, describeColumn(c), row.Name, p)
	case ok && !c.hasDefault:
		r.problem("%s.%s: states the default %s, but column %s.%s is %s: remove it, or give the column that default in a new migration",
			row.Name, p, jsonText(stated), t.name, c.name, describeColumn(c))
	case ok && !sameJSON(stated, c.defaultJSON):
		r.problem("%s.%s: states the default %s, but column %s.%s defaults to %s (%s): make them agree",
			row.Name, p, jsonText(stated), t.name, c.name, c.defaultSQL, orUnknown(c.defaultJSON))
	}
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func orUnknown(s string) string {
	if s == "" {
		return "not evaluable alone"
	}
	return s
}

// sameJSON compares a stated default with the column's as JSON; a decimal
// is stated as a string and evaluates to a number.
func sameJSON(stated any, column string) bool {
	if column == "" {
		return false
	}
	var got any
	if err := json.Unmarshal([]byte(column), &got); err != nil {
		return false
	}
	if s, ok := stated.(string); ok {
		if _, isNumber := got.(float64); isNumber {
			return s == column
		}
	}
	return reflect.DeepEqual(normalJSON(stated), got)
}

// normalJSON is v as encoding/json decodes it (numbers float64, objects
// map[string]any), so values from YAML and from Postgres compare.
func normalJSON(v any) any {
	var out any
	if err := json.Unmarshal([]byte(jsonText(v)), &out); err != nil {
		return v
	}
	return out
}

func compareType(r *report, t *table, c column, row *contract.RowSchema, prop *openapi3.Schema) {
	allowed, known := wireTypes[c.udt]
	if !known {
		r.problem("%s.%s: column type %s has no wire mapping: add one to wireTypes in cmd/contractcheck/db.go", t.name, c.name, c.udt)
		return
	}
	got := contract.WireType(prop)
	for _, a := range allowed {
		if got == a {
			return
		}
	}
	r.problem("%s.%s: column is %s, but %s.%s is %s (expected %s)",
		t.name, c.name, describeColumn(c), row.Name, c.name, got, strings.Join(allowed, " or "))
}

// namedSet is one place in the spec (or database) that lists tables.
type namedSet struct {
	name string
	set  map[string]bool
}

// compareSets reports each table that some sets list and others do not, and
// returns the union, sorted.
func compareSets(r *report, noun string, sets []namedSet) []string {
	union := map[string]bool{}
	for _, s := range sets {
		for k := range s.set {
			union[k] = true
		}
	}
	all := sortedKeys(union)
	for _, name := range all {
		var in, out []string
		for _, s := range sets {
			if s.set[name] {
				in = append(in, s.name)
			} else {
				out = append(out, s.name)
			}
		}
		if len(out) > 0 {
			r.problem("%s %s: missing from %s (but in %s)", noun, name, strings.Join(out, ", "), strings.Join(in, ", "))
		}
	}
	return all
}

func keys[V any](m map[string]V) map[string]bool {
	set := make(map[string]bool, len(m))
	for k := range m {
		set[k] = true
	}
	return set
}

func setOf(list []string) map[string]bool {
	set := make(map[string]bool, len(list))
	for _, v := range list {
		set[v] = true
	}
	return set
}

func sortedKeys[V any](m map[string]V) []string {
	list := make([]string, 0, len(m))
	for k := range m {
		list = append(list, k)
	}
	sort.Strings(list)
	return list
}
