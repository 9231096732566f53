// Package pushbody decodes and validates a push body in one pass. The rules
// come from openapi.yaml (compiled at start from the embedded spec, never
// written per field), so validation still is the contract; but the body is
// read once, not decoded into generic maps for validation and then again
// into typed structs, and each row stays the JSON object the client sent:
// the statements read it with jsonb, so the keys an object carries are known
// all the way to Postgres.
//
// It decodes into push.Body (package wire/push), the Go type of the spec's
// SyncPushRequest, which clients build too: the generated code imports that
// leaf package, never the server.
//
// A push's cost is bounded before its rows are validated one by one: rows are
// counted as they stream past and the decoder stops at the row limit, and it
// stops validating after a bounded number of problems.
package pushbody
