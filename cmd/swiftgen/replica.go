package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/syncproxy/syncproxy/internal/contract"
)

// replicaFile holds the local SQLite schema of the synced tables and the
// typed accessors of SQLiteReplica. It is generated only for specs that
// describe synced tables (a TableName enum and the pull/push envelopes).
const replicaFile = "ReplicaSchema.swift"

// Columns the server owns: a client never sends them, whatever the write schema allows.
var serverOwnedColumns = map[string]bool{"contractor_id": true, "created_at": true, "updated_at": true}

// Bookkeeping properties of contract 1.1 rows: the replica keeps them in its
// own columns, not as data columns.
const (
	syncVersionProperty = "sync_version" // pull rows: the version of the push that last wrote the row
	baseVersionProperty = "base_version" // write rows: the version an edit started from
)

type replicaTable struct {
	name       string
	keyKind    string // regular, singleton, tenantRow
	keyColumn  string
	deletable  bool
	pullStruct string
	writeType  string
	keyMember  string // Swift property of the key on the pull struct
	columns    []replicaColumn
}

type replicaColumn struct {
	name       string
	kind       string // uuid, text, decimal, integer, bool, timestamp, date, json
	nullable   bool
	role       string // key, serverOwned, required, optional
	defaultLit string // JSON text of the server's default for a new row, "" when none is known
	rules      columnRules
}

// columnRules are the write schema's constraints on a column, which the
// replica checks when an edit is made: what the server would refuse is
// refused on the device, naming the column, before anything is stored.
type columnRules struct {
	notNull              bool // the write schema does not allow null
	minLength, maxLength int  // characters (Unicode scalars, as the server counts); maxLength < 0: none
	pattern              string
	allowed              []string // enum
	minimum, maximum     *int64
	integerDigits        int // decimals: digits before the point; 0: unbounded
	fractionDigits       int // decimals: digits after it (the column's scale); < 0: unbounded
}

func (r columnRules) isZero() bool {
	return !r.notNull && r.minLength == 0 && r.maxLength < 0 && r.pattern == "" && len(r.allowed) == 0 &&
		r.minimum == nil && r.maximum == nil && r.integerDigits == 0 && r.fractionDigits < 0
}

// replicaModel reads the table model of the spec; nil when the spec has none.
func replicaModel(doc *openapi3.T, m *model, b *builder) ([]replicaTable, error) {
	spec := contract.FromDoc(doc)
	if spec.Component(contract.TableNameSchema) == nil {
		return nil, nil
	}
	tables, err := spec.Tables()
	if err != nil {
		return nil, err
	}
	var out []replicaTable
	for _, t := range tables {
		rt := replicaTable{
			name:       t.Name,
			deletable:  t.Deletable,
			pullStruct: b.named[t.Pull.Name],
			writeType:  b.named[t.Write.Name],
		}
		switch t.Key {
		case contract.Regular:
			rt.keyKind, rt.keyColumn = "regular", "id"
		case contract.Singleton:
			rt.keyKind, rt.keyColumn = "singleton", "contractor_id"
		case contract.TenantRow:
			rt.keyKind, rt.keyColumn = "tenantRow", "id"
		}
		rt.keyMember = memberName(rt.keyColumn)
		pull, write := t.Pull.Schema, t.Write.Schema
		required := map[string]bool{}
		for _, r := range write.Required {
			required[r] = true
		}
		for _, prop := range b.order.ordered([]string{"components", "schemas", t.Pull.Name, "properties"}, mapKeys(pull.Properties)) {
			if prop == syncVersionProperty {
				continue
			}
			ref := pull.Properties[prop]
			kind, nullable, err := columnKind(ref)
			if err != nil {
				return nil, fmt.Errorf("%s.properties.%s: %w", t.Pull.Name, prop, err)
			}
			c := replicaColumn{name: prop, kind: kind, nullable: nullable}
			wref, writable := write.Properties[prop]
			switch {
			case prop == rt.keyColumn:
				c.role = "key"
			case serverOwnedColumns[prop] || !writable:
				c.role = "serverOwned"
			case required[prop]:
				c.role = "required"
			default:
				c.role = "optional"
			}
			c.rules = columnRules{maxLength: -1, fractionDigits: -1}
			if writable && c.role != "key" && c.role != "serverOwned" {
				c.defaultLit = defaultLiteral(wref)
				if c.rules, err = rulesOf(wref, kind); err != nil {
					return nil, fmt.Errorf("%s.properties.%s: %w", t.Write.Name, prop, err)
				}
			}
			rt.columns = append(rt.columns, c)
		}
		out = append(out, rt)
	}
	return out, nil
}

// decimalPattern is the shape of a decimal string's pattern, which gives the
// column's precision: `^-?[0-9]{1,20}(\.[0-9]{1,10})?$` is 20 integer and
// 10 fraction digits.
var decimalPattern = regexp.MustCompile(`^\^-\?\[0-9\]\{1,(\d+)\}\(\\\.\[0-9\]\{1,(\d+)\}\)\?\$$`)

// rulesOf reads the constraints of a write property (kind is how the
// replica stores it). A keyword the replica cannot check is an error, so an
// edit the server refuses can never pass on the device unnoticed.
func rulesOf(ref *openapi3.SchemaRef, kind string) (columnRules, error) {
	r := columnRules{maxLength: -1, fractionDigits: -1}
	if ref == nil || ref.Value == nil {
		return r, nil
	}
	s := ref.Value
	r.notNull = !s.Nullable
	if kind == "decimal" {
		dec := s
		for _, alt := range s.AnyOf {
			if alt.Value != nil && alt.Value.Type.Is("string") {
				dec = alt.Value
			}
		}
		if dec.Pattern != "" {
			m := decimalPattern.FindStringSubmatch(dec.Pattern)
			if m == nil {
				return r, fmt.Errorf("decimal pattern %q does not say the precision as ^-?[0-9]{1,N}(\\.[0-9]{1,M})?$", dec.Pattern)
			}
			r.integerDigits, _ = strconv.Atoi(m[1])
			r.fractionDigits, _ = strconv.Atoi(m[2])
		}
		return r, nil
	}
	switch {
	case s.Type.Is("string"):
		r.minLength = int(s.MinLength)
		if s.MaxLength != nil {
			r.maxLength = int(*s.MaxLength)
		}
		if s.Pattern != "" {
			if _, err := regexp.Compile(s.Pattern); err != nil {
				return r, fmt.Errorf("pattern %q: %w", s.Pattern, err)
			}
			r.pattern = s.Pattern
		}
		for _, v := range s.Enum {
			if str, ok := v.(string); ok {
				r.allowed = append(r.allowed, str)
			}
		}
	case s.Type.Is("integer"):
		lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
		if s.Format == "int32" {
			lo, hi = math.MinInt32, math.MaxInt32
		}
		if s.Min != nil {
			lo = max(lo, int64(math.Ceil(*s.Min)))
		}
		if s.Max != nil {
			hi = min(hi, int64(math.Floor(*s.Max)))
		}
		if lo != math.MinInt64 {
			r.minimum = &lo
		}
		if hi != math.MaxInt64 {
			r.maximum = &hi
		}
	}
	return r, nil
}

// swiftRules is the Swift initializer of r, "" when r constrains nothing.
func (r columnRules) swiftRules() string {
	if r.isZero() {
		return ""
	}
	var args []string
	if r.notNull {
		args = append(args, "notNull: true")
	}
	if r.minLength > 0 {
		args = append(args, fmt.Sprintf("minLength: %d", r.minLength))
	}
	if r.maxLength >= 0 {
		args = append(args, fmt.Sprintf("maxLength: %d", r.maxLength))
	}
	if r.pattern != "" {
		args = append(args, "pattern: "+swiftString(r.pattern))
	}
	if len(r.allowed) > 0 {
		quoted := make([]string, len(r.allowed))
		for i, v := range r.allowed {
			quoted[i] = swiftString(v)
		}
		args = append(args, "allowed: ["+strings.Join(quoted, ", ")+"]")
	}
	if r.minimum != nil {
		args = append(args, fmt.Sprintf("minimum: %d", *r.minimum))
	}
	if r.maximum != nil {
		args = append(args, fmt.Sprintf("maximum: %d", *r.maximum))
	}
	if r.integerDigits > 0 {
		args = append(args, fmt.Sprintf("integerDigits: %d", r.integerDigits))
	}
	if r.fractionDigits >= 0 {
		args = append(args, fmt.Sprintf("fractionDigits: %d", r.fractionDigits))
	}
	return "ReplicaColumnRules(" + strings.Join(args, ", ") + ")"
}

// columnKind is how a pull row property is stored in SQLite.
func columnKind(ref *openapi3.SchemaRef) (string, bool, error) {
	s := ref.Value
	if s == nil {
		return "json", true, nil
	}
	nullable := s.Nullable
	if isDecimalAnyOf(s) {
		return "decimal", nullable, nil
	}
	if s.Type == nil || len(s.Type.Slice()) == 0 {
		return "json", true, nil
	}
	switch {
	case s.Type.Is("string"):
		switch s.Format {
		case "uuid":
			return "uuid", nullable, nil
		case "decimal":
			return "decimal", nullable, nil
		case "date-time":
			return "timestamp", nullable, nil
		case "date":
			return "date", nullable, nil
		}
		return "text", nullable, nil
	case s.Type.Is("integer"):
		return "integer", nullable, nil
	case s.Type.Is("boolean"):
		return "bool", nullable, nil
	case s.Type.Is("number"):
		// A JSON number column would round through Double; the contract keeps
		// numbers as decimal strings, so a float column is not supported.
		return "", false, fmt.Errorf("number columns are not supported by the replica (use a decimal string)")
	case s.Type.Is("array"), s.Type.Is("object"):
		return "json", nullable, nil
	}
	return "", false, fmt.Errorf("unsupported column type %v", s.Type.Slice())
}

// defaultLiteral is the server's default of a write property as JSON text
// (contract.Default), or "".
func defaultLiteral(ref *openapi3.SchemaRef) string {
	if ref == nil {
		return ""
	}
	v, ok := contract.Default(ref.Value)
	if !ok {
		return ""
	}
	data, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(data)
}

// decimalCollation is the SQLite collation of decimal columns, registered by
// the Swift runtime on each connection (Runtime/Replica/DecimalCollation.swift).
const decimalCollation = "DECIMAL"

var sqlTypes = map[string]string{
	"uuid": "TEXT", "text": "TEXT", "decimal": "TEXT", "integer": "INTEGER",
	"bool": "INTEGER", "timestamp": "TEXT", "date": "TEXT", "json": "TEXT",
}

func quoteSQL(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }

// createSQL is the local table of t: every pull column (nullable, so later
// columns can be added with ALTER TABLE), keyed like the server, plus the
// row's sync_version.
func (t replicaTable) createSQL() string {
	parts := make([]string, 0, len(t.columns)+1)
	for _, c := range t.columns {
		p := quoteSQL(c.name) + " " + sqlTypes[c.kind]
		if c.kind == "decimal" {
			// Exact numeric order and comparison (the runtime registers the
			// collation on every connection): as TEXT, "9.5" > "10".
			p += " COLLATE " + decimalCollation
		}
		if c.role == "key" {
			p += " NOT NULL PRIMARY KEY"
		}
		parts = append(parts, p)
	}
	parts = append(parts, quoteSQL(syncVersionProperty)+" INTEGER")
	return "CREATE TABLE IF NOT EXISTS " + quoteSQL(t.name) + " (" + strings.Join(parts, ", ") + ")"
}

// bookkeepingSQL creates the replica's own tables. Their shape does not depend
// on the spec, but they belong to the same generated schema so one file shows
// everything the replica stores.
var bookkeepingSQL = []string{
	// key/value state: cursor, identity, schema fingerprint, resync flag.
	`CREATE TABLE IF NOT EXISTS "_sync_state" ("key" TEXT NOT NULL PRIMARY KEY, "value" TEXT)`,
	// Unsent local changes, oldest first. One entry per row and batch: edits
	// coalesce into the entry with batch_id NULL; an entry in a batch is frozen
	// until the server acknowledged it. columns holds the changed columns,
	// base_values their values before the first edit (the base of a merge;
	// for a delete, the row as it was). txn groups the entries of one
	// `replica.write { }` transaction, which are pushed together.
	`CREATE TABLE IF NOT EXISTS "_outbox" ("seq" INTEGER PRIMARY KEY AUTOINCREMENT, "tbl" TEXT NOT NULL, "row_id" TEXT NOT NULL, ` +
		`"op" TEXT NOT NULL, "columns" TEXT NOT NULL, "base_values" TEXT NOT NULL, "base_version" INTEGER, "batch_id" INTEGER, "txn" INTEGER)`,
	`CREATE INDEX IF NOT EXISTS "_outbox_row" ON "_outbox" ("tbl", "row_id")`,
	// A push as sent: its exact body and Idempotency-Key, kept until acknowledged
	// so a restarted app replays the same bytes under the same key.
	`CREATE TABLE IF NOT EXISTS "_batches" ("id" INTEGER PRIMARY KEY AUTOINCREMENT, "idempotency_key" TEXT NOT NULL, "body" BLOB NOT NULL, "created_at" TEXT NOT NULL)`,
	// Changes the server rejected (400) or that conflicted beyond merging, and
	// pulled rows this SDK could not read: kept for the app, never retried by itself.
	`CREATE TABLE IF NOT EXISTS "_quarantine" ("id" INTEGER PRIMARY KEY AUTOINCREMENT, "tbl" TEXT NOT NULL, "row_id" TEXT NOT NULL, ` +
		`"reason" TEXT NOT NULL, "message" TEXT NOT NULL, "op" TEXT, "columns" TEXT, "base_values" TEXT, "base_version" INTEGER, ` +
		`"server_row" TEXT, "created_at" TEXT NOT NULL)`,
	// Keys seen during a full pull, to remove local rows the server no longer has.
	`CREATE TABLE IF NOT EXISTS "_resync_seen" ("tbl" TEXT NOT NULL, "row_id" TEXT NOT NULL, PRIMARY KEY ("tbl", "row_id"))`,
	// A change counter per table (and for the outbox and quarantine), raised
	// by triggers on every row written, whichever connection or process
	// wrote it: observers compare it to tell which tables a commit touched.
	`CREATE TABLE IF NOT EXISTS "_table_versions" ("tbl" TEXT NOT NULL PRIMARY KEY, "version" INTEGER NOT NULL)`,
}

// fingerprint identifies the local schema: it changes when a table or column
// is added, removed or retyped, which makes an open replica migrate.
func fingerprint(tables []replicaTable) string {
	h := sha256.New()
	for _, t := range tables {
		fmt.Fprintf(h, "%s\n", t.createSQL())
	}
	for _, s := range bookkeepingSQL {
		fmt.Fprintf(h, "%s\n", s)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func renderReplica(tables []replicaTable) string {
	w := &writer{}
	w.line("import Foundation")
	w.line("")
	w.open("extension ReplicaSchema {")
	w.line("/// The synced tables of this SDK version, as openapi.yaml describes them.")
	w.open("public static let current = ReplicaSchema(")
	w.line("fingerprint: %s,", swiftString(fingerprint(tables)))
	w.open("bookkeepingSQL: [")
	for _, s := range bookkeepingSQL {
		w.line("%s,", swiftString(s))
	}
	w.close("],")
	w.open("tables: [")
	for _, t := range tables {
		w.open("ReplicaTableSchema(")
		w.line("name: %s,", swiftString(t.name))
		w.line("key: .%s,", t.keyKind)
		w.line("deletable: %t,", t.deletable)
		w.line("createSQL: %s,", swiftString(t.createSQL()))
		w.open("columns: [")
		for _, c := range t.columns {
			def := "nil"
			if c.defaultLit != "" {
				def = swiftString(c.defaultLit)
			}
			rules := ""
			if r := c.rules.swiftRules(); r != "" {
				rules = ", rules: " + r
			}
			w.line("ReplicaColumn(name: %s, kind: .%s, nullable: %t, role: .%s, defaultJSON: %s%s),",
				swiftString(c.name), c.kind, c.nullable, c.role, def, rules)
		}
		w.close("]")
		w.close("),")
	}
	w.close("]")
	w.close(")")
	w.close("}")
	for i, t := range tables {
		w.line("")
		w.open("extension %s: ReplicaRow, Identifiable {", t.pullStruct)
		w.line("public static var replicaTable: ReplicaTableSchema { ReplicaSchema.current.tables[%d] }", i)
		if t.keyMember != "id" {
			w.line("/// The row's key: the contractor it belongs to (one row per contractor).")
			w.line("public var id: UUID { %s }", ident(t.keyMember))
		}
		w.close("}")
		w.line("")
		w.open("extension %s: ReplicaWrite {", t.writeType)
		w.line("public static var replicaTable: ReplicaTableSchema { ReplicaSchema.current.tables[%d] }", i)
		w.close("}")
	}
	w.line("")
	w.open("extension SQLiteReplica {")
	for i, t := range tables {
		if i > 0 {
			w.line("")
		}
		w.line("/// Rows of `%s`.", t.name)
		w.line("public var %s: ReplicaTable<%s> { ReplicaTable(replica: self) }", ident(memberName(t.name)), t.pullStruct)
	}
	w.close("}")
	w.line("")
	w.open("extension ReplicaTransaction {")
	for i, t := range tables {
		if i > 0 {
			w.line("")
		}
		w.line("/// Rows of `%s`, inside `replica.write { tx in … }`.", t.name)
		w.line("public var %s: ReplicaTransactionTable<%s> { ReplicaTransactionTable(transaction: self) }", ident(memberName(t.name)), t.pullStruct)
	}
	w.close("}")
	return w.b.String()
}

// isDecimalAnyOf matches contract 1.1's decimal write columns, which accept a
// decimal string or a JSON number: `anyOf: [{type: string, format: decimal}, {type: number}]`.
// The SDK keeps sending strings (a number would pass through Double).
func isDecimalAnyOf(s *openapi3.Schema) bool {
	if len(s.AnyOf) != 2 || len(s.OneOf) > 0 || len(s.AllOf) > 0 {
		return false
	}
	var str, num bool
	for _, ref := range s.AnyOf {
		if ref.Value == nil || ref.Value.Type == nil {
			return false
		}
		switch {
		case ref.Value.Type.Is("string") && ref.Value.Format == "decimal":
			str = true
		case ref.Value.Type.Is("number"):
			num = true
		}
	}
	return str && num
}
