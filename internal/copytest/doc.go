// Package copytest holds tests that change a copy of the repository and run
// the real tooling and test suite there:
//
//   - a synced table is added through a migration, a queries file and the
//     spec only (no Go file edited by hand), and after `make generate` it
//     round-trips over real HTTP like every other table;
//   - small semantic mutations of one table's queries, and a push that is not
//     one transaction, make the suite fail.
//
// They take a few minutes (each copy compiles the server and starts a
// Postgres cluster), so they skip under -short.
package copytest
