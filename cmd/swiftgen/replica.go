package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
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
			if writable && c.role != "key" && c.role != "serverOwned" {
				c.defaultLit = defaultLiteral(wref, kind)
			}
			rt.columns = append(rt.columns, c)
		}
		out = append(out, rt)
	}
	return out, nil
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

// defaultPattern finds "Default false." or "; default USD." in a description:
// the spec writes the server's column defaults in prose.
var defaultPattern = regexp.MustCompile(`(?i)(?:^|[.;]\s*)default ([^\s.;][^;]*?)\.?\s*$`)

// defaultLiteral is the server's default of a write property as JSON text:
// the `default` keyword, else the description's "Default X.", else "".
func defaultLiteral(ref *openapi3.SchemaRef, kind string) string {
	if ref == nil || ref.Value == nil {
		return ""
	}
	s := ref.Value
	if s.Default != nil {
		if data, err := json.Marshal(s.Default); err == nil {
			return string(data)
		}
	}
	match := defaultPattern.FindStringSubmatch(strings.TrimSpace(s.Description))
	if match == nil {
		return ""
	}
	text := strings.TrimSpace(match[1])
	switch kind {
	case "text", "uuid", "decimal", "timestamp", "date":
		data, _ := json.Marshal(text)
		return string(data)
	}
	var v any
	if json.Unmarshal([]byte(text), &v) != nil {
		return ""
	}
	data, _ := json.Marshal(v)
	return string(data)
}

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
	// base_values their values before the first edit (the base of a merge).
	`CREATE TABLE IF NOT EXISTS "_outbox" ("seq" INTEGER PRIMARY KEY AUTOINCREMENT, "tbl" TEXT NOT NULL, "row_id" TEXT NOT NULL, ` +
		`"op" TEXT NOT NULL, "columns" TEXT NOT NULL, "base_values" TEXT NOT NULL, "base_version" INTEGER, "batch_id" INTEGER)`,
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
			w.line("ReplicaColumn(name: %s, kind: .%s, nullable: %t, role: .%s, defaultJSON: %s),",
				swiftString(c.name), c.kind, c.nullable, c.role, def)
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
