package copytest_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/syncproxy/syncproxy/internal/repocopy"
)

// addTable adds table to the copy in dir the way the README says to, using
// an existing table of the same shape as the template a developer copies:
// a new migration (the template's CREATE TABLE and indexes, renamed), its
// declaration in docs/citus.sql, and the spec (the template's row schemas,
// and the table added wherever the spec lists the template). Its SQL is
// generated.
func addTable(t *testing.T, dir, table, template string) {
	t.Helper()
	addMigration(t, dir, table, template)
	addToCitus(t, dir, table)
	addToSpec(t, dir, table, template)
}

// addToCitus does the last sentence of README step 1: the table declared in
// docs/citus.sql, in the README's words, after the last synced table.
func addToCitus(t *testing.T, dir, table string) {
	t.Helper()
	citus := repocopy.Read(t, dir, "docs/citus.sql")
	last := regexp.MustCompile(`(?m)^SELECT create_distributed_table\('\w+', 'contractor_id', colocate_with => 'contractors'\);\n`)
	at := last.FindAllStringIndex(citus, -1)
	if len(at) == 0 {
		t.Fatal("docs/citus.sql distributes no table by contractor_id")
	}
	end := at[len(at)-1][1]
	repocopy.Write(t, dir, "docs/citus.sql", citus[:end]+
		"SELECT create_distributed_table('"+table+"', 'contractor_id', colocate_with => 'contractors');\n"+citus[end:])
}

// addMigration writes the next migration: every statement of the existing
// migrations that creates the template table or its indexes, renamed.
func addMigration(t *testing.T, dir, table, template string) {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "migrations", "*.sql"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no migrations in the copy: %v", err)
	}
	sort.Strings(names)
	next := 0
	var create []string
	stmt := regexp.MustCompile(`(?s)CREATE (TABLE|INDEX) [^;]*?\b` + template + `\b[^;]*;`)
	for _, n := range names {
		var v int
		if _, err := fmt.Sscanf(filepath.Base(n), "%04d_", &v); err == nil && v >= next {
			next = v + 1
		}
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range stmt.FindAllString(string(b), -1) {
			create = append(create, strings.ReplaceAll(s, template, table))
		}
	}
	if len(create) == 0 {
		t.Fatalf("no CREATE TABLE %s in the migrations", template)
	}
	repocopy.Write(t, dir, fmt.Sprintf("migrations/%04d_%s.sql", next, table),
		"-- Added by internal/copytest: a new synced table.\n"+strings.Join(create, "\n\n")+"\n")
}

// addToSpec does README "Adding a synced table" step 2, in its words: row
// schemas copied from the template's (x-table and x-go-type renamed), the
// table appended to TableName, maxItems of the tables parameters raised by
// one, and the table added to SyncPullResponse, SyncPushRequest,
// TableCounts and TableDigests (and DeletedIds, DeleteRequest, DeleteCounts
// if rows can be deleted), each time with the template's schema and
// requiredness. Nothing else is edited: a schema the README forgets is
// then what make check (check-db) or make generate names.
func addToSpec(t *testing.T, dir, table, template string) {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(repocopy.Read(t, dir, "openapi.yaml")), &doc); err != nil {
		t.Fatal(err)
	}
	schemas := lookup(lookup(doc.Content[0], "components"), "schemas")
	if schemas == nil {
		t.Fatal("openapi.yaml has no components.schemas")
	}
	renames := map[string]string{} // component name of the template -> of the table
	var added []*yaml.Node
	for i := 0; i < len(schemas.Content); i += 2 {
		name, schema := schemas.Content[i].Value, schemas.Content[i+1]
		if x := lookup(schema, "x-table"); x != nil && x.Value == template {
			newName := strings.Replace(name, goSingular(template), goSingular(table), 1)
			renames[name] = newName
			c := clone(schema)
			lookup(c, "x-table").Value = table
			if g := lookup(c, "x-go-type"); g != nil {
				g.Value = "db." + goSingular(table)
			}
			added = append(added, &yaml.Node{Kind: yaml.ScalarNode, Value: newName}, c)
		}
	}
	if len(renames) == 0 {
		t.Fatalf("no x-table: %s schema in the spec", template)
	}
	schemas.Content = append(schemas.Content, added...)

	// Append the table to TableName.
	enum := lookup(lookup(schemas, "TableName"), "enum")
	if enum == nil || !hasScalar(enum, template) {
		t.Fatalf("TableName has no enum listing %s", template)
	}
	enum.Content = append(enum.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: table})

	// Add it to the schemas that list the tables.
	lists := []string{"SyncPullResponse", "SyncPushRequest", "TableCounts", "TableDigests"}
	if lookup(lookup(lookup(schemas, "DeletedIds"), "properties"), template) != nil {
		lists = append(lists, "DeletedIds", "DeleteRequest", "DeleteCounts")
	}
	for _, name := range lists {
		schema := lookup(schemas, name)
		props := lookup(schema, "properties")
		from := lookup(props, template)
		if from == nil {
			t.Fatalf("%s has no property %s to copy", name, template)
		}
		p := clone(from)
		renameRefs(p, renames)
		props.Content = append(props.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: table}, p)
		if required := lookup(schema, "required"); required != nil && hasScalar(required, template) {
			required.Content = append(required.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: table})
		}
	}

	// Raise maxItems of the tables parameters by one: a list of tables
	// holds each at most once (the server refuses a maxItems that disagrees).
	raised := 0
	for _, param := range parameters(&doc) {
		s := lookup(param, "schema")
		max, items := lookup(s, "maxItems"), lookup(s, "items")
		if lookup(param, "name") == nil || lookup(param, "name").Value != "tables" || max == nil || items == nil {
			continue
		}
		var v int
		if _, err := fmt.Sscan(max.Value, &v); err != nil {
			t.Fatalf("maxItems %q: %v", max.Value, err)
		}
		max.Value = fmt.Sprint(v + 1)
		raised++
	}
	if raised == 0 {
		t.Fatal("no tables parameter with a maxItems in the spec")
	}
	out, err := yaml.Marshal(&doc)
	if err != nil {
		t.Fatal(err)
	}
	repocopy.Write(t, dir, "openapi.yaml", string(out))
}

// parameters are the spec's parameter objects: those of every operation
// and path, and components.parameters.
func parameters(doc *yaml.Node) []*yaml.Node {
	var params []*yaml.Node
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.MappingNode {
			if list := lookup(n, "parameters"); list != nil {
				switch list.Kind {
				case yaml.SequenceNode:
					params = append(params, list.Content...)
				case yaml.MappingNode:
					for i := 1; i < len(list.Content); i += 2 {
						params = append(params, list.Content[i])
					}
				}
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(doc)
	return params
}

func lookup(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func hasScalar(seq *yaml.Node, v string) bool {
	for _, c := range seq.Content {
		if c.Value == v {
			return true
		}
	}
	return false
}

func clone(n *yaml.Node) *yaml.Node {
	c := *n
	c.Content = make([]*yaml.Node, len(n.Content))
	for i, k := range n.Content {
		c.Content[i] = clone(k)
	}
	return &c
}

func renameRefs(n *yaml.Node, renames map[string]string) {
	for i := 0; i+1 < len(n.Content); i++ {
		if n.Kind == yaml.MappingNode && i%2 == 0 && n.Content[i].Value == "$ref" {
			ref := n.Content[i+1]
			name := strings.TrimPrefix(ref.Value, "#/components/schemas/")
			if to, ok := renames[name]; ok {
				ref.Value = "#/components/schemas/" + to
			}
		}
	}
	for _, c := range n.Content {
		renameRefs(c, renames)
	}
}

// goName is a table as sqlc and oapi-codegen name it in Go: site_visits -> SiteVisits.
func goName(table string) string {
	var b strings.Builder
	for _, p := range strings.Split(table, "_") {
		if p != "" {
			b.WriteString(strings.ToUpper(p[:1]) + p[1:])
		}
	}
	return b.String()
}

// goSingular is sqlc's model name for a table: site_visits -> SiteVisit.
func goSingular(table string) string {
	return strings.TrimSuffix(goName(table), "s")
}
