//go:build !windows && cgo

package main

import pgquery "github.com/pganalyze/pg_query_go/v6"

// parseSQL parses with PostgreSQL's own parser (libpg_query), the one sqlc
// uses in this build, and returns the parse tree as JSON.
func parseSQL(sql string) (string, error) { return pgquery.ParseToJSON(sql) }
