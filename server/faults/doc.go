// Package faults proves what the server does when its database fails under
// it: Postgres stopped, Postgres killed in the middle of a push, and the
// process itself told to stop (SIGTERM) with a request in flight.
//
// Everything is in _test.go files, on the device harness (internal/devicetest)
// with Options.Outages: the tests stop, kill and freeze their own PostgreSQL
// cluster, so they live apart from every other package's cluster.
package faults
