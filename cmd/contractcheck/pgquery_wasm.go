//go:build windows || !cgo

package main

import pgquery "github.com/wasilibs/go-pgquery"

// parseSQL parses with PostgreSQL's own parser (libpg_query compiled to
// WebAssembly), the one sqlc uses in a build without cgo, and returns the
// parse tree as JSON.
func parseSQL(sql string) (string, error) { return pgquery.ParseToJSON(sql) }
