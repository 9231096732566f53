package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/syncproxy/syncproxy/internal/contract"
)

// The schema stays distributable by tenant (issue 22): past one primary,
// the path is Citus, every tenant's rows on one node (docs/scaling.md).
// That holds only while
//
//   - every synced table is distributed by its tenant key (contractor_id;
//     contractors by id) and colocated with contractors, as docs/citus.sql
//     says; every other table of the migrations is declared there too
//     (reference or coordinator-local), so a new table is a decision;
//   - a distributed table's primary key and unique constraints lead with its
//     distribution column (Citus enforces uniqueness per shard), its foreign
//     keys carry it to the referenced table's (colocated rows), or point at
//     a reference table; a reference table refers to reference tables only;
//   - nothing in a distributed table takes values from a sequence (serial,
//     identity, nextval): one counter for every tenant serialises them
//     across nodes, and an order by it means nothing across shards;
//   - every statement on a distributed table pins its distribution column
//     by equality to a value (a single-shard statement), unless it says why
//     it crosses tenants (tenant-exempt: housekeeping, multi-shard); none
//     changes a distribution column (Citus refuses); none mixes a
//     distributed table with a coordinator-local one.
//
// The check applies the migrations to a throwaway Postgres, runs
// docs/citus.sql there with stand-ins for Citus's functions (same
// signatures: create_distributed_table, create_reference_table,
// citus_add_local_table_to_metadata) that record what it declares, and
// reads constraints, unique indexes and defaults from the catalog. So the
// DDL operators run on Citus is the DDL this check reads.

// citusStubs stand in for Citus's functions in a schema of their own.
const citusStubs = `
CREATE SCHEMA citus_stub;
CREATE TABLE citus_stub.declared (rel regclass PRIMARY KEY, kind text NOT NULL, dist_column text, colocated_with text);
CREATE FUNCTION citus_stub.create_distributed_table(table_name regclass, distribution_column text,
    distribution_type text DEFAULT 'hash', colocate_with text DEFAULT 'default', shard_count int DEFAULT NULL)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = table_name AND attname = distribution_column AND NOT attisdropped) THEN
        RAISE EXCEPTION 'column "%" of relation "%" does not exist', distribution_column, table_name;
    END IF;
    IF colocate_with NOT IN ('default', 'none') AND NOT EXISTS (
        SELECT 1 FROM citus_stub.declared d WHERE d.rel = colocate_with::regclass AND d.kind = 'distributed') THEN
        RAISE EXCEPTION 'cannot colocate with %: it is not a distributed table (distribute it first)', colocate_with;
    END IF;
    INSERT INTO citus_stub.declared VALUES (table_name, 'distributed', distribution_column, colocate_with);
END $$;
CREATE FUNCTION citus_stub.create_reference_table(table_name regclass) RETURNS void LANGUAGE sql AS $$
    INSERT INTO citus_stub.declared VALUES (table_name, 'reference', NULL, NULL);
$$;
CREATE FUNCTION citus_stub.citus_add_local_table_to_metadata(table_name regclass, cascade_via_foreign_keys boolean DEFAULT false)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO citus_stub.declared VALUES (table_name, 'local', NULL, NULL);
$$;
`

// distTable is a table of the migrated schema as the check sees it.
type distTable struct {
	name      string
	kind      string // distributed, reference, local; "" when citus.sql does not say
	column    string // distribution column
	colocate  string // colocate_with as declared
	keys      []distKey
	sequenced []string // columns whose values come from a sequence
}

// distKey is a primary key, unique constraint or index, or foreign key.
type distKey struct {
	kind    string // primary key, unique constraint, unique index, foreign key
	name    string
	columns []string
	refs    string   // foreign key: the referenced table
	refCols []string // foreign key: the referenced columns
}

func runDistributable(ctx context.Context, r *report, args []string) error {
	flags := flag.NewFlagSet("distributable", flag.ContinueOnError)
	specPath := flags.String("spec", "openapi.yaml", "the OpenAPI document (its x-table tables are the synced ones)")
	citusPath := flags.String("citus", "docs/citus.sql", "the Citus DDL that distributes the schema")
	queriesDirs := flags.String("queries", "", "comma-separated directories of the sqlc queries (default: the queries of sqlc.yaml, hand-written and generated)")
	migrationsDir := flags.String("migrations", "migrations", "directory of the schema migrations")
	clusterURL := flags.String("cluster-url", "", "use this running cluster (URL of a database to connect to) instead of a throwaway one")
	if err := flags.Parse(args); err != nil {
		return err
	}
	s, err := contract.Load(ctx, *specPath)
	if err != nil {
		r.problem("%v", err)
		return r.verdict("", *specPath+" does not load", "fix "+*specPath)
	}
	citus, err := os.ReadFile(*citusPath)
	if err != nil {
		return err
	}
	tenantKeys, err := tenantTables(*migrationsDir)
	if err != nil {
		return err
	}
	dirs, err := queryDirs(*queriesDirs)
	if err != nil {
		return err
	}
	queries, err := loadQueries(dirs)
	if err != nil {
		return err
	}
	synced := map[string]bool{}
	for _, row := range s.Rows {
		synced[row.Table] = true
	}
	r.comparing("applying the migrations and %s (Citus's functions stood in for) to a throwaway Postgres; the %d synced tables of %s, their keys, foreign keys and defaults, and the %s in %s/",
		*citusPath, len(synced), *specPath, plural(len(queries), "query", "queries"), strings.Join(dirs, "/, "))

	tables, err := distributedSchema(ctx, *clusterURL, *citusPath, string(citus))
	var drift *driftError
	if errors.As(err, &drift) {
		r.problem("%v", drift)
		return r.verdict("", "the migrations or "+*citusPath+" do not apply", "fix them (migrations are append-only: add one)")
	}
	if err != nil {
		return err
	}
	checkDeclarations(r, tables, synced, tenantKeys, *citusPath)
	checkKeys(r, tables)
	nDistributed, singleShard, multiShard := checkStatements(r, queries, tables)
	for _, q := range multiShard {
		r.note("on every node (tenant-exempt) %s: %s", q.name, q.exempt)
	}
	return r.verdict(
		fmt.Sprintf("%d tables distributed by tenant, %d statements on one tenant's node, %d tenant-exempt on every node", nDistributed, singleShard, len(multiShard)),
		plural(len(r.problems), "obstacle to distributing by tenant", "obstacles to distributing by tenant"),
		"key, refer and query every synced table by contractor_id (see docs/scaling.md), or declare the table in "+*citusPath)
}

// distributedSchema migrates a fresh database, runs citusSQL on it with the
// stand-ins, and reads back every table of schema public.
func distributedSchema(ctx context.Context, clusterURL, citusPath, citusSQL string) (map[string]*distTable, error) {
	pool, cleanup, err := migratedDatabase(ctx, clusterURL)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	if _, err := pool.Exec(ctx, citusStubs); err != nil {
		return nil, fmt.Errorf("create the stand-ins for Citus: %w", err)
	}
	tree, err := parseTree(citusSQL)
	if err != nil {
		return nil, &driftError{fmt.Sprintf("%s: %v", citusPath, err)}
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SET search_path = public, citus_stub"); err != nil {
		return nil, err
	}
	for _, raw := range tree.list("stmts") {
		start := int(raw.num("stmt_location"))
		end := len(citusSQL)
		if n := int(raw.num("stmt_len")); n > 0 {
			end = start + n
		}
		if ext := raw.get("stmt").get("CreateExtensionStmt"); ext != nil && ext.str("extname") == "citus" {
			continue // the stand-ins are the extension here
		}
		stmt := strings.TrimSpace(citusSQL[start:end])
		if _, err := conn.Exec(ctx, stmt); err != nil {
			line := 1 + strings.Count(citusSQL[:start], "\n")
			return nil, &driftError{fmt.Sprintf("%s:%d: %v", citusPath, line, err)}
		}
	}
	return readDistSchema(ctx, pool)
}

func readDistSchema(ctx context.Context, pool *pgxpool.Pool) (map[string]*distTable, error) {
	tables := map[string]*distTable{}
	rows, err := pool.Query(ctx, `
		SELECT c.relname, coalesce(d.kind, ''), coalesce(d.dist_column, ''), coalesce(d.colocated_with, '')
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		LEFT JOIN citus_stub.declared d ON d.rel = c.oid
		WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname <> 'schema_migrations'`)
	if err != nil {
		return nil, fmt.Errorf("read tables: %w", err)
	}
	for rows.Next() {
		t := &distTable{}
		if err := rows.Scan(&t.name, &t.kind, &t.column, &t.colocate); err != nil {
			return nil, err
		}
		tables[t.name] = t
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read tables: %w", err)
	}
	// Keys: constraints, then unique indexes no constraint owns.
	rows, err = pool.Query(ctx, `
		WITH cols AS (
		    SELECT c.oid, array(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(n, i)
		                        JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i) AS columns,
		           array(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY k(n, i)
		                        JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.i) AS ref_columns
		    FROM pg_constraint c
		)
		SELECT t.relname, c.conname,
		       CASE c.contype WHEN 'p' THEN 'primary key' WHEN 'u' THEN 'unique constraint' ELSE 'foreign key' END,
		       cols.columns, coalesce(r.relname, ''), cols.ref_columns
		FROM pg_constraint c JOIN cols ON cols.oid = c.oid
		JOIN pg_class t ON t.oid = c.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace
		LEFT JOIN pg_class r ON r.oid = c.confrelid
		WHERE n.nspname = 'public' AND c.contype IN ('p', 'u', 'f')
		UNION ALL
		SELECT t.relname, i.relname, 'unique index',
		       array(SELECT coalesce(a.attname::text, '(expression)') FROM unnest(x.indkey::int2[]) WITH ORDINALITY k(n, o)
		             LEFT JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.n ORDER BY k.o),
		       '', '{}'::text[]
		FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
		JOIN pg_namespace n ON n.oid = t.relnamespace
		WHERE n.nspname = 'public' AND x.indisunique AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)`)
	if err != nil {
		return nil, fmt.Errorf("read keys: %w", err)
	}
	for rows.Next() {
		var tableName string
		var k distKey
		if err := rows.Scan(&tableName, &k.name, &k.kind, &k.columns, &k.refs, &k.refCols); err != nil {
			return nil, err
		}
		if t := tables[tableName]; t != nil {
			t.keys = append(t.keys, k)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read keys: %w", err)
	}
	// Columns fed by a sequence: identity, serial (a nextval default).
	rows, err = pool.Query(ctx, `
		SELECT t.relname, a.attname
		FROM pg_attribute a JOIN pg_class t ON t.oid = a.attrelid JOIN pg_namespace n ON n.oid = t.relnamespace
		LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
		WHERE n.nspname = 'public' AND a.attnum > 0 AND NOT a.attisdropped
		  AND (a.attidentity <> '' OR pg_get_expr(d.adbin, d.adrelid) LIKE '%nextval(%')`)
	if err != nil {
		return nil, fmt.Errorf("read defaults: %w", err)
	}
	for rows.Next() {
		var tableName, col string
		if err := rows.Scan(&tableName, &col); err != nil {
			return nil, err
		}
		if t := tables[tableName]; t != nil {
			t.sequenced = append(t.sequenced, col)
		}
	}
	return tables, rows.Err()
}

// checkDeclarations: every synced table distributed by its tenant key,
// colocated with the tenants; every table declared.
func checkDeclarations(r *report, tables map[string]*distTable, synced map[string]bool, tenantKeys map[string]string, citusPath string) {
	for _, name := range sortedKeys(tables) {
		t := tables[name]
		key := tenantKeys[name]
		switch {
		case t.kind == "":
			r.problem("table %s: not declared in %s (create_distributed_table by its tenant key, create_reference_table, or citus_add_local_table_to_metadata)", name, citusPath)
		case synced[name] && t.kind != "distributed":
			r.problem("table %s: synced, but %s makes it a %s table, not one distributed by %s", name, citusPath, t.kind, key)
		case synced[name] && key != "" && t.column != key:
			r.problem("table %s: synced, distributed by %s in %s, not by its tenant key %s (a tenant's rows would spread over nodes)", name, t.column, citusPath, key)
		case t.kind == "distributed" && name != tenantsTable && t.colocate != tenantsTable:
			r.problem("table %s: distributed without colocate_with => '%s' in %s (a tenant's rows must sit on its tenant's node)", name, tenantsTable, citusPath)
		}
	}
	for name := range synced {
		if tables[name] == nil {
			r.problem("table %s: synced, but the migrations do not create it", name)
		}
	}
}

// checkKeys: keys lead with the distribution column, foreign keys carry it
// or point at reference tables, no sequences.
func checkKeys(r *report, tables map[string]*distTable) {
	for _, name := range sortedKeys(tables) {
		t := tables[name]
		switch t.kind {
		case "distributed":
			hasPK := false
			for _, k := range t.keys {
				switch k.kind {
				case "primary key", "unique constraint", "unique index":
					hasPK = hasPK || k.kind == "primary key"
					if len(k.columns) == 0 || k.columns[0] != t.column {
						r.problem("table %s: %s %s (%s) does not lead with %s: uniqueness across tenants cannot be enforced per node", name, k.kind, k.name, strings.Join(k.columns, ", "), t.column)
					}
				case "foreign key":
					if p := foreignKeyProblem(t, k, tables); p != "" {
						r.problem("table %s: foreign key %s (%s) → %s (%s): %s", name, k.name, strings.Join(k.columns, ", "), k.refs, strings.Join(k.refCols, ", "), p)
					}
				}
			}
			if !hasPK {
				r.problem("table %s: no primary key (it would lead with %s)", name, t.column)
			}
			for _, col := range t.sequenced {
				r.problem("table %s: column %s takes its values from a sequence (serial, identity or nextval): one counter for every tenant; key rows by a client-generated uuid and order a tenant's changes by its clock", name, col)
			}
		case "reference":
			for _, k := range t.keys {
				if k.kind == "foreign key" && tables[k.refs] != nil && tables[k.refs].kind != "reference" {
					r.problem("table %s: reference table with foreign key %s to %s, which is not a reference table (Citus refuses it)", name, k.name, k.refs)
				}
			}
		}
	}
}

// foreignKeyProblem says why a distributed table's foreign key keeps the
// rows it relates apart, or "".
func foreignKeyProblem(t *distTable, k distKey, tables map[string]*distTable) string {
	ref := tables[k.refs]
	switch {
	case ref == nil:
		return "the referenced table is not in the schema"
	case ref.kind == "reference":
		return ""
	case ref.kind != "distributed":
		return fmt.Sprintf("%s is a %s table: a distributed table may refer to colocated or reference tables only", k.refs, kindOr(ref.kind))
	}
	for i, col := range k.columns {
		if col == t.column && i < len(k.refCols) && k.refCols[i] == ref.column {
			return ""
		}
	}
	return fmt.Sprintf("does not carry %s.%s to %s.%s (the rows it relates may sit on other nodes)", t.name, t.column, k.refs, ref.column)
}

func kindOr(kind string) string {
	if kind == "" {
		return "undeclared"
	}
	return kind
}

// checkStatements checks every query against the distributed tables; it
// returns how many tables are distributed, how many queries run on one
// node, and the tenant-exempt ones that cross nodes.
func checkStatements(r *report, queries []*query, tables map[string]*distTable) (distributed, singleShard int, multiShard []*query) {
	dist := map[string]string{}
	local := map[string]bool{}
	for name, t := range tables {
		switch t.kind {
		case "distributed":
			dist[name] = t.column
		case "local":
			local[name] = true
		}
	}
	for _, q := range queries {
		touched := q.tablesNamed()
		var distHere, localHere []string
		for _, name := range touched {
			if _, ok := dist[name]; ok {
				distHere = append(distHere, name)
			}
			if local[name] {
				localHere = append(localHere, name)
			}
		}
		if len(distHere) == 0 {
			continue
		}
		if len(localHere) > 0 {
			r.problem("%s %s: joins distributed %s with coordinator-local %s (Citus cannot)", q.pos, q.name, strings.Join(distHere, ", "), strings.Join(localHere, ", "))
		}
		for _, p := range q.distributionColumnChanges(dist) {
			r.problem("%s %s: %s", q.pos, q.name, p)
		}
		unpinned := q.accessesWithout(dist, isPinnedValue, "a value")
		switch {
		case len(unpinned) == 0:
			singleShard++
		case q.exempt != "":
			multiShard = append(multiShard, q)
		default:
			for _, p := range unpinned {
				r.problem("%s %s: %s (a statement on every node, not on its tenant's)", q.pos, q.name, p)
			}
		}
	}
	return len(dist), singleShard, multiShard
}

// tablesNamed lists the tables q names anywhere, sorted, once each.
func (q *query) tablesNamed() []string {
	seen := map[string]bool{}
	walk(q.tree, func(n node) {
		if name := n.str("relname"); name != "" {
			seen[name] = true
		}
	})
	out := make([]string, 0, len(seen))
	for name := range seen {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// distributionColumnChanges finds UPDATEs (and ON CONFLICT DO UPDATEs) that
// set a distributed table's distribution column.
func (q *query) distributionColumnChanges(dist map[string]string) []string {
	var problems []string
	check := func(table string, targets []node, how string) {
		col, ok := dist[table]
		if !ok {
			return
		}
		for _, tgt := range targets {
			if tgt.get("ResTarget").str("name") == col {
				problems = append(problems, fmt.Sprintf("%s sets %s.%s, the distribution column (Citus refuses; a row never changes tenant)", how, table, col))
			}
		}
	}
	walk(q.tree, func(n node) {
		switch {
		case n.has("UpdateStmt"):
			stmt := n.get("UpdateStmt")
			check(refOf(stmt.get("relation")).table, stmt.list("targetList"), "UPDATE")
		case n.has("InsertStmt"):
			stmt := n.get("InsertStmt")
			if oc := stmt.get("onConflictClause"); oc != nil {
				check(stmt.get("relation").str("relname"), oc.list("targetList"), "ON CONFLICT DO UPDATE")
			}
		}
	})
	return problems
}

// isPinnedValue: a value one statement has one of, whatever the row: a
// parameter (@name, sqlc.arg, sqlc.narg, $n) or a constant.
func isPinnedValue(n node) bool {
	n = stripCasts(n)
	switch {
	case n.has("A_Const"), n.has("ParamRef"):
		return true
	case n.has("A_Expr"):
		e := n.get("A_Expr")
		return e.get("lexpr") == nil && operator(e) == "@" && len(columnFields(stripCasts(e.get("rexpr")))) == 1
	case n.has("FuncCall"):
		var name []string
		for _, part := range n.get("FuncCall").list("funcname") {
			name = append(name, part.get("String").str("sval"))
		}
		return slices.Contains([]string{"sqlc.arg", "sqlc.narg"}, strings.Join(name, "."))
	}
	return false
}
