package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/syncproxy/syncproxy/internal/contract"
)

// A query may touch tenant data without being scoped to one contractor by
// @contractor_id only when it says why, next to its SQL, in a comment line
//
//	-- tenant-exempt: <the reason a reviewer accepts>
//
// (tenant resolution, provisioning, housekeeping across tenants). Every other
// query that reads or writes a tenant table is scoped, so a forgotten WHERE can
// never leak one contractor's rows to another. The reason lives in the query
// file, so a new table's housekeeping queries need no Go edit.
var exemptComment = regexp.MustCompile(`(?m)^\s*--\s*tenant-exempt:\s*(\S.*?)\s*$`)

// A table is scoped to a contractor by its contractor_id column, except the
// table of the tenants themselves, which is scoped by its id.
const tenantsTable = "contractors"

func runTenant(ctx context.Context, r *report, args []string) error {
	flags := flag.NewFlagSet("tenant", flag.ContinueOnError)
	specPath := flags.String("spec", "openapi.yaml", "the OpenAPI document (its x-table tables must be tenant tables)")
	migrationsDir := flags.String("migrations", "migrations", "directory of the schema migrations")
	queriesDirs := flags.String("queries", "", "comma-separated directories of the sqlc queries (default: the queries of sqlc.yaml, hand-written and generated)")
	if err := flags.Parse(args); err != nil {
		return err
	}
	dirs, err := queryDirs(*queriesDirs)
	if err != nil {
		return err
	}
	tenantKeys, err := tenantTables(*migrationsDir)
	if err != nil {
		return err
	}
	queries, err := loadQueries(dirs)
	if err != nil {
		return err
	}
	r.comparing("parsing the %s in %s/ with PostgreSQL's parser (as sqlc does); tenant tables (a contractor_id column in %s/, or contractors itself): %s",
		plural(len(queries), "query", "queries"), strings.Join(dirs, "/, "), *migrationsDir,
		strings.Join(sortedKeys(tenantKeys), ", "))
	exempted := 0
	for _, q := range queries {
		if q.exempt != "" {
			exempted++
			r.note("exempt %s: %s", q.name, q.exempt)
		}
	}

	if s, err := contract.Load(ctx, *specPath); err != nil {
		r.problem("%v", err)
	} else {
		for _, name := range sortedKeys(s.Rows) {
			row := s.Rows[name]
			if _, ok := tenantKeys[row.Table]; !ok {
				r.problem("table %s: synced (x-table of %s) but has no contractor_id column", row.Table, row.Name)
			}
		}
	}

	scoped := 0
	for _, q := range queries {
		violations := q.unscopedAccesses(tenantKeys)
		reason, exempt := q.exempt, q.exempt != ""
		switch {
		case exempt && len(violations) == 0:
			r.problem("%s %s: exempt (%q) but scoped after all: remove its tenant-exempt comment", q.pos, q.name, reason)
		case exempt:
		case len(violations) > 0:
			for _, v := range violations {
				r.problem("%s %s: %s", q.pos, q.name, v)
			}
		default:
			if q.touchesTenantData(tenantKeys) {
				scoped++
			}
		}
	}
	return r.verdict(
		fmt.Sprintf("%d queries scoped by @contractor_id, %d exempt, %d touch no tenant table", scoped, exempted, len(queries)-scoped-exempted),
		plural(len(r.problems), "tenant-scoping problem", "tenant-scoping problems"),
		"filter every tenant table by @contractor_id (WHERE t.contractor_id = @contractor_id; INSERT it as contractor_id), or, if a query must cross tenants, say why in a `-- tenant-exempt: <reason>` line in its comment")
}

// tenantTables finds, in the migrations, every table a contractor owns and
// the column that says which.
func tenantTables(dir string) (map[string]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.sql"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	keys := map[string]string{}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		tree, err := parseTree(string(src))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		walk(tree, func(n node) {
			switch {
			case n.has("CreateStmt"):
				stmt := n.get("CreateStmt")
				name := stmt.get("relation").str("relname")
				for _, el := range stmt.list("tableElts") {
					if el.get("ColumnDef").str("colname") == "contractor_id" {
						keys[name] = "contractor_id"
					}
				}
				if name == tenantsTable {
					keys[name] = "id"
				}
			case n.has("AlterTableStmt"):
				stmt := n.get("AlterTableStmt")
				for _, cmd := range stmt.list("cmds") {
					if cmd.get("AlterTableCmd").get("def").get("ColumnDef").str("colname") == "contractor_id" {
						keys[stmt.get("relation").str("relname")] = "contractor_id"
					}
				}
			}
		})
	}
	return keys, nil
}

// query is one named statement of a queries/*.sql file.
type query struct {
	name   string
	pos    string // file:line of its -- name: comment
	tree   node
	exempt string // the reason of its tenant-exempt comment, if any
}

var queryName = regexp.MustCompile(`--\s*name:\s*(\w+)\s+:\w+`)

// queryDirs is the comma-separated list, or else every query path of
// sqlc.yaml: what sqlc compiles is what is checked.
func queryDirs(list string) ([]string, error) {
	if list != "" {
		return strings.Split(list, ","), nil
	}
	cfg, err := readSqlcConfig("sqlc.yaml")
	if err != nil {
		return nil, err
	}
	var dirs []string
	for _, s := range cfg.SQL {
		dirs = append(dirs, s.Queries...)
	}
	if len(dirs) == 0 {
		return nil, fmt.Errorf("sqlc.yaml: no queries")
	}
	return dirs, nil
}

func loadQueries(dirs []string) ([]*query, error) {
	var files []string
	for _, dir := range dirs {
		found, err := filepath.Glob(filepath.Join(dir, "*.sql"))
		if err != nil {
			return nil, err
		}
		sort.Strings(found)
		files = append(files, found...)
	}
	var queries []*query
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		text := string(src)
		tree, err := parseTree(text)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		for _, raw := range tree.list("stmts") {
			start := int(raw.num("stmt_location"))
			end := len(text)
			if n := int(raw.num("stmt_len")); n > 0 {
				end = start + n
			}
			m := queryName.FindStringSubmatchIndex(text[start:end])
			if m == nil {
				continue // sqlc rejects unnamed queries itself
			}
			line := 1 + strings.Count(text[:start+m[0]], "\n")
			q := &query{
				name: text[start+m[2] : start+m[3]],
				pos:  fmt.Sprintf("%s:%d", filepath.ToSlash(f), line),
				tree: raw.get("stmt"),
			}
			if e := exemptComment.FindStringSubmatch(text[start:end]); e != nil {
				q.exempt = e[1]
			}
			queries = append(queries, q)
		}
	}
	return queries, nil
}

// tableRef is a tenant table read or written by one statement.
type tableRef struct {
	table, alias string
}

func (t tableRef) qualifier() string {
	if t.alias != "" {
		return t.alias
	}
	return t.table
}

// touchesTenantData reports whether any statement of q names a tenant table.
func (q *query) touchesTenantData(keys map[string]string) bool {
	found := false
	walk(q.tree, func(n node) {
		// A RangeVar: {"RangeVar": {...}} in a FROM list, bare as a relation.
		if _, ok := keys[n.str("relname")]; ok {
			found = true
		}
	})
	return found
}

// unscopedAccesses checks every SELECT, UPDATE, DELETE and INSERT in q, at
// any depth (CTEs, subqueries): each tenant table it reads, updates or
// deletes from must be filtered by a top-level conjunct
// `[alias.]key = @contractor_id` of that statement's WHERE (or JOIN ON); each
// it inserts into must receive @contractor_id as its key.
func (q *query) unscopedAccesses(keys map[string]string) []string {
	return q.accessesWithout(keys, isContractorParam, "@contractor_id")
}

// accessesWithout is unscopedAccesses with another test of the value the
// key must equal, named value in problems (check-distributable takes any
// parameter or constant).
func (q *query) accessesWithout(keys map[string]string, isValue func(node) bool, value string) []string {
	var problems []string
	walk(q.tree, func(n node) {
		var verb string
		var refs []tableRef
		var where []node
		switch {
		case n.has("SelectStmt"):
			stmt := n.get("SelectStmt")
			verb = "reads"
			for _, from := range stmt.list("fromClause") {
				collectFrom(from, &refs, &where)
			}
			where = append(where, conjuncts(stmt.get("whereClause"))...)
		case n.has("UpdateStmt"):
			stmt := n.get("UpdateStmt")
			verb = "updates"
			refs = append(refs, refOf(stmt.get("relation")))
			for _, from := range stmt.list("fromClause") {
				collectFrom(from, &refs, &where)
			}
			where = append(where, conjuncts(stmt.get("whereClause"))...)
		case n.has("DeleteStmt"):
			stmt := n.get("DeleteStmt")
			verb = "deletes from"
			refs = append(refs, refOf(stmt.get("relation")))
			for _, from := range stmt.list("usingClause") {
				collectFrom(from, &refs, &where)
			}
			where = append(where, conjuncts(stmt.get("whereClause"))...)
		case n.has("InsertStmt"):
			if p := insertProblem(n.get("InsertStmt"), keys, isValue, value); p != "" {
				problems = append(problems, p)
			}
			return
		default:
			return
		}
		for _, ref := range refs {
			key, tenant := keys[ref.table]
			if !tenant || filtersBy(where, ref, key, isValue) {
				continue
			}
			problems = append(problems, fmt.Sprintf("%s %s without %s.%s = %s", verb, ref.table, ref.qualifier(), key, value))
		}
	})
	return problems
}

// insertProblem checks that an INSERT into a tenant table writes
// @contractor_id (what isValue accepts, named value) into its key column, in
// every VALUES row or the SELECT list.
func insertProblem(stmt node, keys map[string]string, isValue func(node) bool, value string) string {
	table := stmt.get("relation").str("relname")
	key, tenant := keys[table]
	if !tenant {
		return ""
	}
	idx := -1
	for i, col := range stmt.list("cols") {
		if col.get("ResTarget").str("name") == key {
			idx = i
		}
	}
	if idx < 0 {
		return fmt.Sprintf("inserts into %s without writing its %s", table, key)
	}
	sel := stmt.get("selectStmt").get("SelectStmt")
	var values []node
	if rows := sel.list("valuesLists"); len(rows) > 0 {
		for _, row := range rows {
			items := row.get("List").list("items")
			if idx >= len(items) {
				return fmt.Sprintf("inserts into %s: VALUES row shorter than its column list", table)
			}
			values = append(values, items[idx])
		}
	} else {
		targets := sel.list("targetList")
		if idx >= len(targets) {
			return fmt.Sprintf("inserts into %s: SELECT list shorter than its column list", table)
		}
		values = append(values, targets[idx].get("ResTarget").get("val"))
	}
	for _, v := range values {
		if !isValue(v) {
			return fmt.Sprintf("inserts into %s with %s not set from %s", table, key, value)
		}
	}
	return ""
}

// collectFrom gathers the tables of a FROM item (through joins, not into
// subqueries, which are statements of their own) and the join conditions.
func collectFrom(from node, refs *[]tableRef, where *[]node) {
	switch {
	case from.has("RangeVar"):
		*refs = append(*refs, refOf(from))
	case from.has("JoinExpr"):
		join := from.get("JoinExpr")
		collectFrom(join.get("larg"), refs, where)
		collectFrom(join.get("rarg"), refs, where)
		*where = append(*where, conjuncts(join.get("quals"))...)
	}
}

func refOf(n node) tableRef {
	rv := n
	if n.has("RangeVar") {
		rv = n.get("RangeVar")
	}
	return tableRef{table: rv.str("relname"), alias: rv.get("alias").str("aliasname")}
}

// conjuncts splits a condition on its top-level ANDs: only those filter
// every row (a condition under OR or NOT does not).
func conjuncts(cond node) []node {
	if cond == nil {
		return nil
	}
	if b := cond.get("BoolExpr"); b != nil && b.str("boolop") == "AND_EXPR" {
		var all []node
		for _, arg := range b.list("args") {
			all = append(all, conjuncts(arg)...)
		}
		return all
	}
	return []node{cond}
}

// filtersBy looks for `[qualifier.]key = <value>` (either way round) among
// the conjuncts, where isValue says what a value is.
func filtersBy(where []node, ref tableRef, key string, isValue func(node) bool) bool {
	for _, c := range where {
		e := c.get("A_Expr")
		if e == nil || e.str("kind") != "AEXPR_OP" || operator(e) != "=" {
			continue
		}
		l, r := e.get("lexpr"), e.get("rexpr")
		if isColumn(l, ref, key) && isValue(r) || isColumn(r, ref, key) && isValue(l) {
			return true
		}
	}
	return false
}

func operator(e node) string {
	names := e.list("name")
	if len(names) == 0 {
		return ""
	}
	return names[len(names)-1].get("String").str("sval")
}

// isColumn: key, or qualifier.key, of ref.
func isColumn(n node, ref tableRef, key string) bool {
	fields := columnFields(stripCasts(n))
	switch len(fields) {
	case 1:
		return fields[0] == key
	case 2:
		return fields[0] == ref.qualifier() && fields[1] == key
	}
	return false
}

// isContractorParam recognises sqlc's named parameter contractor_id in the
// raw parse tree: @contractor_id (which PostgreSQL parses as the prefix
// operator @ applied to a column), sqlc.arg(contractor_id) or
// sqlc.narg('contractor_id'), each possibly cast.
func isContractorParam(n node) bool {
	n = stripCasts(n)
	if e := n.get("A_Expr"); e != nil && e.get("lexpr") == nil && operator(e) == "@" {
		fields := columnFields(stripCasts(e.get("rexpr")))
		return len(fields) == 1 && fields[0] == "contractor_id"
	}
	if f := n.get("FuncCall"); f != nil {
		var name []string
		for _, part := range f.list("funcname") {
			name = append(name, part.get("String").str("sval"))
		}
		if fn := strings.Join(name, "."); fn != "sqlc.arg" && fn != "sqlc.narg" {
			return false
		}
		args := f.list("args")
		if len(args) != 1 {
			return false
		}
		if fields := columnFields(args[0]); len(fields) == 1 {
			return fields[0] == "contractor_id"
		}
		return args[0].get("A_Const").get("sval").str("sval") == "contractor_id"
	}
	return false
}

func stripCasts(n node) node {
	for n.has("TypeCast") {
		n = n.get("TypeCast").get("arg")
	}
	return n
}

func columnFields(n node) []string {
	ref := n.get("ColumnRef")
	if ref == nil {
		return nil
	}
	var fields []string
	for _, f := range ref.list("fields") {
		fields = append(fields, f.get("String").str("sval"))
	}
	return fields
}
