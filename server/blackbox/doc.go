// Package blackbox is the server's black-box suite: every behaviour of the
// contract (docs/contract.md) driven over real HTTP against a real
// PostgreSQL, the way a device does, through internal/devicetest.
//
// Everything is in _test.go files; this package has no code of its own.
package blackbox
