package proof_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/syncproxy/syncproxy/gen/api"
	"github.com/syncproxy/syncproxy/internal/devicetest"
)

// TestReplica_LivePull_ReadsWhereThePushIsVisible: a live pull (contract
// 1.2, wait) through a server whose pulls may be read on a replica whose
// replay is paused. A push that committed before the held pull came must be
// in its first answer, and a push that wakes it must be in the page it
// answers: a replica that has not replayed either would answer "nothing
// new", and the device would wait its whole wait for a change the server
// has acknowledged.
func TestReplica_LivePull_ReadsWhereThePushIsVisible(t *testing.T) {
	patient, _ := newReplicaServer(t, map[string]string{"SYNC_REPLICA_MAX_LAG": "1h"})
	d := env.NewTenant(t)
	d.MustPush(map[string]any{"costbook_items": []map[string]any{{"id": uuid.New(), "name": "before"}}})
	cursor := mustWalk(t, d, "", "")
	at := cursor[len(cursor)-1].Cursor
	catchUpAndPause := func() {
		t.Helper()
		resumeReplay(t)
		if err := env.Replica.CatchUp(context.Background()); err != nil {
			t.Fatal(err)
		}
		pauseReplay(t)
	}
	held := func(cursor string, wait int) (<-chan devicetest.Response, time.Time) {
		out := make(chan devicetest.Response, 1)
		started := time.Now()
		go func() {
			r, err := d.On(patient).Exchange(http.MethodGet, devicetest.PullPath+"?"+url.Values{
				"cursor": {cursor}, "wait": {strconv.Itoa(wait)}, "tables": {"costbook_items"},
			}.Encode(), nil, nil)
			if err != nil {
				r.Status = -1
			}
			out <- r
		}()
		return out, started
	}
	answer := func(from <-chan devicetest.Response, started time.Time, want uuid.UUID, what string) string {
		t.Helper()
		select {
		case r := <-from:
			var page api.SyncPullResponse
			r.Decode(t, &page)
			if len(page.CostbookItems) != 1 || page.CostbookItems[0].ID != want {
				t.Fatalf("%s: the held pull answered after %s with %+v, not the pushed row", what, time.Since(started), page.CostbookItems)
			}
			return page.Cursor
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: the held pull did not answer within 5 s: it read the paused replica", what)
			return ""
		}
	}

	// Pushed while the replica (at the cursor's version) does not replay.
	catchUpAndPause()
	early := uuid.New()
	d.On(patient).MustPush(map[string]any{"costbook_items": []map[string]any{{"id": early, "name": "before the held pull"}}})
	from, started := held(at, 10)
	at = answer(from, started, early, "a push before the held pull")

	// Pushed while the pull is held: the woken read must see it.
	catchUpAndPause()
	from, started = held(at, 10)
	waitFor(t, "the pull to be held", func() bool { return metric(t, patient, "syncproxy_sync_pulls_held") == 1 })
	woken := uuid.New()
	d.On(patient).MustPush(map[string]any{"costbook_items": []map[string]any{{"id": woken, "name": "while held"}}})
	answer(from, started, woken, "a push that woke the held pull")
}
