// Command tablegen generates the table registry of server/syncstore from
// openapi.yaml: for every synced table (the TableName enum, in its stable
// order) its name, ordinal, key kind and whether it has tombstones, the sqlc
// statements that write, delete and read it, and the fields of the push
// response that count it. The sync algorithms in server/syncstore are
// written once over this registry, so adding a table means a migration, a
// queries/<table>.sql and the spec, never a Go edit.
//
//	go run ./cmd/tablegen -spec openapi.yaml -queries queries -out server/syncstore/tables.gen.go
//
// The output is deterministic. It fails, naming what is missing, when a
// table's queries file lacks one of the statements the registry calls.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/syncproxy/syncproxy/internal/contract"
)

func main() {
	spec := flag.String("spec", "openapi.yaml", "OpenAPI document to generate from")
	queries := flag.String("queries", "queries", "directory of the sqlc query files")
	out := flag.String("out", "server/syncstore/tables.gen.go", "the generated Go file")
	flag.Parse()
	if err := run(*spec, *queries, *out); err != nil {
		fmt.Fprintln(os.Stderr, "tablegen:", err)
		os.Exit(1)
	}
}

func run(specPath, queriesDir, out string) error {
	spec, err := contract.Load(context.Background(), specPath)
	if err != nil {
		return err
	}
	tables, err := spec.Tables()
	if err != nil {
		return err
	}
	names, err := queryNames(queriesDir)
	if err != nil {
		return err
	}
	if err := checkQueries(tables, names, queriesDir); err != nil {
		return err
	}
	src, err := render(tables, specPath)
	if err != nil {
		return err
	}
	if old, err := os.ReadFile(out); err == nil && string(old) == string(src) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	return os.WriteFile(out, src, 0o644)
}
