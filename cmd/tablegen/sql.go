package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/syncproxy/syncproxy/internal/contract"
)

// sqlTable is what the query template needs of one table.
type sqlTable struct {
	Name, Go       string
	Key            contract.KeyKind
	Regular        bool
	Deletable      bool
	Scope          string   // the column that says whose a row is
	DigestKey      string   // the id the digest hashes
	Columns        []column // the payload columns, by name
	Blank          []string // "column = blank" of a tombstone, by column name
	Kept           []string // payload columns a tombstone keeps
	Template, Spec string   // what the file is generated from
}

// column is one payload column as the upsert writes it.
type column struct {
	Name  string
	Type  string // its SQL type, as jsonb_to_record reads it
	Value string // what a pushed row writes: r.<name>, or COALESCE(r.<name>, <default>)
}

// notPayload are the pulled columns that are not payload: the key, the
// owner, the times and the version, which the server sets (and a tombstone
// keeps).
var notPayload = map[string]bool{"id": true, "contractor_id": true, "created_at": true, "updated_at": true, "sync_version": true}

// renderQueries fills the query template in for every table: the statements
// the registry calls besides the hand-written upsert, by file name.
func renderQueries(tables []contract.Table, templatePath, specPath string) (map[string][]byte, error) {
	src, err := os.ReadFile(templatePath)
	if err != nil {
		return nil, err
	}
	tmpl, err := template.New(filepath.Base(templatePath)).
		Funcs(template.FuncMap{"join": strings.Join}).
		Option("missingkey=error").
		Parse(string(src))
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	for _, t := range tables {
		v, err := sqlView(t)
		if err != nil {
			return nil, err
		}
		v.Template, v.Spec = filepath.ToSlash(templatePath), filepath.Base(specPath)
		var buf bytes.Buffer
		if err := tmpl.Execute(&buf, v); err != nil {
			return nil, fmt.Errorf("%s: table %s: %w", templatePath, t.Name, err)
		}
		files[t.Name+".gen.sql"] = buf.Bytes()
	}
	return files, nil
}

func sqlView(t contract.Table) (sqlTable, error) {
	v := sqlTable{Name: t.Name, Go: goName(t.Name), Key: t.Key, Deletable: t.Deletable,
		Scope: "contractor_id", DigestKey: "id"}
	switch t.Key {
	case contract.Regular:
		v.Regular = true
		if !t.Deletable {
			// Pulls of rows with an id walk tombstones and the conflict
			// check reads them: such a table has deleted_at.
			return v, fmt.Errorf("table %s: rows with an id are deleted through sync: give it a deleted_at column and list it in %s, %s and %s",
				t.Name, contract.DeletedIDsSchema, contract.DeleteRequestSchema, contract.DeleteCountsSchema)
		}
	case contract.Singleton:
		v.DigestKey = "contractor_id"
	case contract.TenantRow:
		v.Scope = "id"
	}
	cols, err := payloadColumns(t)
	if err != nil {
		return v, err
	}
	v.Columns = cols
	if t.Deletable {
		v.Blank, v.Kept = tombstoneColumns(t)
	}
	return v, nil
}

// payloadColumns are the columns a push writes, from the spec: the pull
// row's properties (exactly the table's columns, check-db says) but the
// server's. A column that is NOT NULL with a default (not nullable, and not
// required of a write row) gets the default when a new row leaves it out or
// a row sends null; the spec states it (contract.Default), and check-db
// holds it to the migration's.
func payloadColumns(t contract.Table) ([]column, error) {
	required := map[string]bool{}
	for _, r := range t.Write.Schema.Required {
		required[r] = true
	}
	var cols []column
	for _, name := range contract.PropertyNames(t.Pull.Schema) {
		if notPayload[name] {
			continue
		}
		prop := t.Pull.Schema.Properties[name].Value
		typ, err := sqlType(prop)
		if err != nil {
			return nil, fmt.Errorf("table %s: %s.%s: %w", t.Name, t.Pull.Name, name, err)
		}
		c := column{Name: name, Type: typ, Value: "r." + name}
		if !prop.Nullable && !required[name] {
			wref := t.Write.Schema.Properties[name]
			if wref == nil {
				return nil, fmt.Errorf("table %s: %s has no property %s, so a push cannot write the column", t.Name, t.Write.Name, name)
			}
			def, ok := contract.Default(wref.Value)
			if !ok {
				return nil, fmt.Errorf("table %s: %s.%s: not required, so the column has a default: state it (`default:`, or \"Default X.\" in its description)", t.Name, t.Write.Name, name)
			}
			lit, err := sqlLiteral(def, typ)
			if err != nil {
				return nil, fmt.Errorf("table %s: %s.%s: default %v: %w", t.Name, t.Write.Name, name, def, err)
			}
			c.Value = fmt.Sprintf("COALESCE(r.%s, %s)", name, lit)
		}
		cols = append(cols, c)
	}
	return cols, nil
}

// sqlType is the SQL type of a column from its pull property, as check-db
// maps them (cmd/contractcheck wireTypes).
func sqlType(prop *openapi3.Schema) (string, error) {
	switch wt := contract.WireType(prop); wt {
	case "string/uuid":
		return "uuid", nil
	case "string/decimal":
		return "numeric", nil
	case "string/date":
		return "date", nil
	case "string/date-time":
		return "timestamptz", nil
	case "integer/int32":
		return "integer", nil
	case "integer", "integer/int64":
		return "bigint", nil
	case "boolean":
		return "boolean", nil
	case "any", "object", "array":
		return "jsonb", nil
	default:
		if wt == "string" || strings.HasPrefix(wt, "string/") {
			return "text", nil
		}
		return "", fmt.Errorf("type %s has no column type (numbers are decimal strings)", wt)
	}
}

// sqlLiteral writes a default (a JSON value) as SQL of type typ.
func sqlLiteral(v any, typ string) (string, error) {
	switch x := v.(type) {
	case bool:
		if typ == "boolean" {
			return fmt.Sprint(x), nil
		}
	case float64:
		if typ == "integer" || typ == "bigint" || typ == "numeric" {
			return strconv.FormatFloat(x, 'f', -1, 64), nil
		}
	case string:
		if typ != "jsonb" {
			return quote(x) + "::" + typ, nil
		}
	}
	if typ == "jsonb" {
		b, err := json.Marshal(v)
		if err != nil {
			return "", err
		}
		return quote(string(b)) + "::jsonb", nil
	}
	return "", fmt.Errorf("not a value of the column's type %s", typ)
}

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// tombstoneColumns decides each payload column's value in a tombstone from
// the spec, which check-db holds to the migrations: a pull row's property is
// nullable exactly when its column is, and a write row requires exactly the
// columns that are NOT NULL without a default. So: nullable → NULL; not
// required (it has a default) → DEFAULT; else text the empty string, numbers 0, booleans
// false; anything else (a uuid, a date, JSON) has no blank value and is kept.
func tombstoneColumns(t contract.Table) (blank, kept []string) {
	required := map[string]bool{}
	for _, r := range t.Write.Schema.Required {
		required[r] = true
	}
	names := contract.PropertyNames(t.Pull.Schema)
	sort.Strings(names)
	for _, name := range names {
		if notPayload[name] {
			continue
		}
		prop := t.Pull.Schema.Properties[name].Value
		value := ""
		switch wt := contract.WireType(prop); {
		case prop.Nullable:
			value = "NULL"
		case !required[name]:
			value = "DEFAULT"
		case wt == "string/decimal", strings.HasPrefix(wt, "integer"), wt == "number" || strings.HasPrefix(wt, "number/"):
			value = "0"
		case wt == "boolean":
			value = "false"
		case wt == "string" || (strings.HasPrefix(wt, "string/") && !hasIdentity(wt)):
			value = "''"
		default:
			kept = append(kept, name)
			continue
		}
		blank = append(blank, name+" = "+value)
	}
	return blank, kept
}

// hasIdentity: strings of these formats name or date something; ” is not
// one of their values.
func hasIdentity(wireType string) bool {
	switch wireType {
	case "string/uuid", "string/date", "string/date-time":
		return true
	}
	return false
}

// writeQueries makes dir hold exactly files: stale generated files of a
// table no longer in the spec are removed.
func writeQueries(dir string, files map[string][]byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	old, err := filepath.Glob(filepath.Join(dir, "*.gen.sql"))
	if err != nil {
		return err
	}
	for _, f := range old {
		if _, keep := files[filepath.Base(f)]; !keep {
			if err := os.Remove(f); err != nil {
				return err
			}
		}
	}
	for name, content := range files {
		if err := writeIfChanged(filepath.Join(dir, name), content); err != nil {
			return err
		}
	}
	return nil
}

// writeIfChanged leaves a file that is already current untouched (its
// modification time too, which keeps make and editors quiet).
func writeIfChanged(path string, content []byte) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, content) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, content, 0o644)
}
