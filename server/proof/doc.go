// Package proof holds the executable proofs of the sync guarantees that only
// show under concurrency: cursors never miss a change (and a naive
// `updated_at > since` reader does), Idempotency-Key applies a push exactly
// once, and no byte sequence sent as a push body makes the server fail.
//
// Everything is in _test.go files, on the device harness (internal/devicetest):
// one real PostgreSQL cluster per test binary, the real handler from
// server.New, real HTTP.
package proof
