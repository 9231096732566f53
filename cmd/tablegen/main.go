// Command tablegen generates, from openapi.yaml, for every synced table (the
// TableName enum, in its stable order):
//
//   - the table registry of server/syncstore: its name, ordinal, key kind and
//     whether it has tombstones, the sqlc statements that write, delete and
//     read it, and the fields of the push response that count it;
//   - its statements (upsert, pull, versions, current rows, digest, delete,
//     the tombstone purge), from one template (queries/table.sql.tmpl) into
//     gen/queries/<table>.gen.sql, which sqlc reads with queries/: what
//     differs per table (columns, types, defaults, a tombstone's blanks)
//     comes from the spec.
//
// The sync algorithms in server/syncstore are written once over the
// registry and the statements once in the template, so adding a table means
// a migration and the spec, never a Go or SQL edit. Run it before sqlc
// (make generate does):
//
//	go run ./cmd/tablegen -spec openapi.yaml -template queries/table.sql.tmpl \
//		-sql-out gen/queries -out server/syncstore/tables.gen.go
//
// The output is deterministic. It fails, naming what to add, when the spec
// lacks what a statement needs (a column's default) or the template a
// statement the registry calls.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/syncproxy/syncproxy/internal/contract"
)

func main() {
	spec := flag.String("spec", "openapi.yaml", "OpenAPI document to generate from")
	tmpl := flag.String("template", "queries/table.sql.tmpl", "the template of every table's standard statements")
	sqlOut := flag.String("sql-out", "gen/queries", "directory of the generated statements (<table>.gen.sql)")
	out := flag.String("out", "server/syncstore/tables.gen.go", "the generated Go file")
	flag.Parse()
	if err := run(*spec, *tmpl, *sqlOut, *out); err != nil {
		fmt.Fprintln(os.Stderr, "tablegen:", err)
		os.Exit(1)
	}
}

func run(specPath, templatePath, sqlOut, out string) error {
	spec, err := contract.Load(context.Background(), specPath)
	if err != nil {
		return err
	}
	tables, err := spec.Tables()
	if err != nil {
		return err
	}
	statements, err := renderQueries(tables, templatePath, specPath)
	if err != nil {
		return err
	}
	names, err := queryNames(statements)
	if err != nil {
		return err
	}
	if err := checkQueries(tables, names, templatePath); err != nil {
		return err
	}
	src, err := render(tables, specPath)
	if err != nil {
		return err
	}
	if err := writeQueries(sqlOut, statements); err != nil {
		return err
	}
	return writeIfChanged(out, src)
}
