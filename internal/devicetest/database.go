package devicetest

import (
	"context"
	"testing"
	"time"

	"github.com/syncproxy/syncproxy/server/pgtx"
)

// admin is the pool tests provision and look through: the server's, or with
// Options.Outages the tests' own Checks, so that no test helps the server's
// pool recover from an outage.
func (s *Server) admin() *pgtx.Pool {
	if s.Checks != nil {
		return pgtx.New(s.Checks, pgtx.Settings{})
	}
	return s.Pool
}

// AwaitLockWaiters blocks until n sessions of the server's database wait
// for a lock in a statement whose text contains statement (a table, a query
// name): the deterministic "they are all in flight now" that lets a test
// interleave transactions without sleeping. abort, if given, is polled
// meanwhile and fails the test as soon as it returns an error (a request
// that answered instead of waiting, say).
func (s *Server) AwaitLockWaiters(t testing.TB, n int, statement string, abort ...func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var waiting int
		err := s.admin().QueryRow(context.Background(), `
			SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'
			  AND strpos(query, $1) > 0 AND pid <> pg_backend_pid()`, statement).Scan(&waiting)
		if err != nil {
			t.Fatal(err)
		}
		if waiting >= n {
			return
		}
		for _, f := range abort {
			if err := f(); err != nil {
				t.Fatal(err)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions wait for a lock in a statement with %q, want %d", waiting, statement, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
