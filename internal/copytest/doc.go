// Package copytest holds a test that changes a copy of the repository and
// runs the real tooling and test suite there: a synced table is added
// through a migration, its line in docs/citus.sql and the spec only (no Go
// file or query edited by hand), and after `make generate` it round-trips over real HTTP like
// every other table.
//
// It takes a few minutes (the copy compiles the server and starts a Postgres
// cluster), so it skips under -short. The mutations the suite must catch,
// which once lived here too, are data now: mutants.yaml and `make mutate`.
package copytest
