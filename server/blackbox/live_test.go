package blackbox_test

// Contract 1.2, live pulls: `pull?cursor=C&wait=S` is held until a push of
// the caller's contractor commits a change to a requested table, then
// answers that delta; or answers the empty page after S seconds. Tests that
// count held pulls run servers of their own (the gauge is per instance).

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/syncproxy/syncproxy/gen/api"
	"github.com/syncproxy/syncproxy/internal/devicetest"
	"github.com/syncproxy/syncproxy/internal/testenv"
	"github.com/syncproxy/syncproxy/server"
)

// heldResult is what a held pull got, and how long it was held.
type heldResult struct {
	res     devicetest.Response
	err     error
	elapsed time.Duration
}

// holdPull starts a live pull of d from cursor in the background.
func holdPull(d *devicetest.Device, cursor string, wait int, tables string) <-chan heldResult {
	q := url.Values{"cursor": {cursor}, "wait": {strconv.Itoa(wait)}}
	if tables != "" {
		q.Set("tables", tables)
	}
	out := make(chan heldResult, 1)
	go func() {
		start := time.Now()
		r, err := d.Exchange(http.MethodGet, devicetest.PullPath+"?"+q.Encode(), nil, nil)
		out <- heldResult{res: r, err: err, elapsed: time.Since(start)}
	}()
	return out
}

// receive waits for a held pull's answer, at most within.
func receive(t *testing.T, from <-chan heldResult, within time.Duration) heldResult {
	t.Helper()
	select {
	case r := <-from:
		if r.err != nil {
			t.Fatalf("held pull: %v", r.err)
		}
		if r.res.Status != http.StatusOK {
			t.Fatalf("held pull = %d: %s", r.res.Status, devicetest.Truncate(r.res.Body))
		}
		return r
	case <-time.After(within):
		t.Fatalf("the held pull did not answer within %s", within)
		return heldResult{}
	}
}

var heldGauge = regexp.MustCompile(`(?m)^syncproxy_sync_pulls_held (\d+)$`)

// heldOn reads the held-pulls gauge of the server at base.
func heldOn(t *testing.T, base string) int {
	t.Helper()
	res, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	m := heldGauge.FindSubmatch(body)
	if m == nil {
		t.Fatalf("no syncproxy_sync_pulls_held in /metrics of %s", base)
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// awaitHeld waits until the server at base holds n pulls.
func awaitHeld(t *testing.T, base string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := heldOn(t, base)
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s holds %d pulls, want %d", base, got, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// liveServer is a server of the test's own (its own hub of held pulls), on
// the harness's database.
func liveServer(t *testing.T, vars map[string]string) string {
	t.Helper()
	u, _ := env.Listen(t, env.ConfigWith(t, vars), nil, nil)
	return u
}

func itemPush(name string) (uuid.UUID, map[string]any) {
	id := uuid.New()
	return id, map[string]any{"costbook_items": []any{map[string]any{"id": id, "name": name}}}
}

func decodePull(t *testing.T, r devicetest.Response) api.SyncPullResponse {
	t.Helper()
	var p api.SyncPullResponse
	r.Decode(t, &p)
	return p
}

func TestLive_PushWakesHeldPull_WithTheDelta(t *testing.T) {
	t.Parallel()
	base := liveServer(t, nil)
	owner := env.NewTenant(t).On(base)
	cursor := owner.MustPull(nil).Cursor
	held := holdPull(owner.As(t), cursor, 20, "")
	awaitHeld(t, base, 1)

	other := env.DeviceFor(t, owner.UserID, owner.ContractorID).On(base)
	id, body := itemPush("live")
	pushed := other.MustPush(body)
	r := receive(t, held, 5*time.Second)
	page := decodePull(t, r.res)
	if len(page.CostbookItems) != 1 || page.CostbookItems[0].ID != id {
		t.Fatalf("woken pull brought %+v, want the pushed item %s", page.CostbookItems, id)
	}
	if page.HasMore {
		t.Fatal("woken pull says hasMore for one row")
	}
	awaitHeld(t, base, 0)
	// The woken page's cursor rests after the push: nothing more comes.
	again := owner.MustPull(url.Values{"cursor": {page.Cursor}})
	if len(again.CostbookItems) != 0 {
		t.Fatalf("after the woken page, a pull brought %d items again (version %d)", len(again.CostbookItems), pushed.Version)
	}
}

func TestLive_ChangesAlreadyThere_AnswerAtOnce(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
	cursor := d.MustPull(nil).Cursor
	id, body := itemPush("before")
	d.MustPush(body)
	r := receive(t, holdPull(d.As(t), cursor, 20, ""), 5*time.Second)
	page := decodePull(t, r.res)
	if len(page.CostbookItems) != 1 || page.CostbookItems[0].ID != id {
		t.Fatalf("pull with wait brought %+v, want %s at once", page.CostbookItems, id)
	}
	if r.elapsed > 3*time.Second {
		t.Fatalf("a pull with changes waiting was held %s", r.elapsed)
	}
}

func TestLive_NothingNew_EmptyPageAfterWait_CursorStillGood(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
	cursor := d.MustPull(nil).Cursor
	r := receive(t, holdPull(d.As(t), cursor, 1, ""), 10*time.Second)
	if r.elapsed < time.Second {
		t.Fatalf("wait=1 answered after %s, before its second", r.elapsed)
	}
	page := decodePull(t, r.res)
	if page.HasMore || len(page.CostbookItems) != 0 || len(page.Contractors) != 0 {
		t.Fatalf("timed-out pull brought rows: %s", devicetest.Truncate(r.res.Body))
	}
	id, body := itemPush("after")
	d.MustPush(body)
	next := d.MustPull(url.Values{"cursor": {page.Cursor}})
	if len(next.CostbookItems) != 1 || next.CostbookItems[0].ID != id {
		t.Fatalf("the timed-out page's cursor missed the next push: %+v", next.CostbookItems)
	}
}

// A push of another contractor, or to a table not asked for, wakes nothing:
// the pull answers the empty page when its time is up.
func TestLive_OtherTenantOrTable_WakesNothing(t *testing.T) {
	t.Parallel()
	base := liveServer(t, nil)
	d := env.NewTenant(t).On(base)
	stranger := env.NewTenant(t).On(base)
	cursor := d.MustPull(nil).Cursor
	held := holdPull(d.As(t), cursor, 2, "costbook_items")
	awaitHeld(t, base, 1)
	_, body := itemPush("stranger's")
	stranger.MustPush(body)
	d.MustPush(map[string]any{"pdf_settings": []any{map[string]any{}}})
	r := receive(t, held, 10*time.Second)
	if r.elapsed < 2*time.Second {
		t.Fatalf("held pull answered after %s: woken by another tenant's or table's push: %s", r.elapsed, devicetest.Truncate(r.res.Body))
	}
	page := decodePull(t, r.res)
	if len(page.CostbookItems) != 0 || len(page.PdfSettings) != 0 {
		t.Fatalf("held pull brought rows it did not ask for: %s", devicetest.Truncate(r.res.Body))
	}
	// The requested table still wakes it.
	both := d.MustPull(url.Values{"cursor": {page.Cursor}, "tables": {"costbook_items,pdf_settings"}})
	held = holdPull(d.As(t), both.Cursor, 20, "costbook_items,pdf_settings")
	awaitHeld(t, base, 1)
	d.MustPush(map[string]any{"pdf_settings": []any{map[string]any{"terms": "net 30"}}})
	page = decodePull(t, receive(t, held, 5*time.Second).res)
	if len(page.PdfSettings) != 1 {
		t.Fatalf("a push to a requested table did not bring it: %+v", page)
	}
}

func TestLive_Validation_400NamingWait(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
	cursor := d.MustPull(nil).Cursor
	longest := env.Config.MaxPullWait
	cases := []struct {
		name  string
		query url.Values
	}{
		{"without cursor", url.Values{"wait": {"5"}}},
		{"with since", url.Values{"since": {"2025-01-01T00:00:00.000Z"}, "wait": {"5"}}},
		{"zero", url.Values{"cursor": {cursor}, "wait": {"0"}}},
		{"negative", url.Values{"cursor": {cursor}, "wait": {"-1"}}},
		{"above the server's max", url.Values{"cursor": {cursor}, "wait": {strconv.Itoa(longest + 1)}}},
		{"not whole seconds", url.Values{"cursor": {cursor}, "wait": {"1.5"}}},
		{"not a number", url.Values{"cursor": {cursor}, "wait": {"soon"}}},
		{"twice", url.Values{"cursor": {cursor}, "wait": {"1", "2"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := d.As(t).Pull(c.query)
			e := r.Envelope(t, http.StatusBadRequest, "BAD_REQUEST")
			if len(e.Details) == 0 || e.Details[0].Field == nil || *e.Details[0].Field != "wait" {
				t.Fatalf("400 does not name wait: %s", devicetest.Truncate(r.Body))
			}
		})
	}
}

// A held pull whose client goes away leaves at once: nothing is kept for it.
func TestLive_ClientGone_ReleasedAtOnce(t *testing.T) {
	t.Parallel()
	base := liveServer(t, nil)
	d := env.NewTenant(t).On(base)
	cursor := d.MustPull(nil).Cursor
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		base+devicetest.PullPath+"?"+url.Values{"cursor": {cursor}, "wait": {"30"}}.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+d.Token)
	done := make(chan error, 1)
	go func() {
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			res.Body.Close()
			err = fmt.Errorf("answered %d", res.StatusCode)
		}
		done <- err
	}()
	awaitHeld(t, base, 1)
	gone := time.Now()
	cancel()
	if err := <-done; err == nil || !strings.Contains(err.Error(), "canceled") {
		t.Fatalf("the client's request: %v", err)
	}
	awaitHeld(t, base, 0)
	if since := time.Since(gone); since > 2*time.Second {
		t.Fatalf("the server held the pull %s after its client went away", since)
	}
}

// On shutdown held pulls answer at once, with the empty page and a cursor
// that still works; they do not hold up the shutdown for their wait.
func TestLive_Shutdown_AnswersHeldPullsAtOnce(t *testing.T) {
	t.Parallel()
	cfg := env.ConfigWith(t, nil)
	ctx, stop := context.WithCancel(context.Background())
	addr, finished := make(chan string, 1), make(chan error, 1)
	go func() {
		finished <- server.Serve(ctx, cfg, env.Pool, env.Logs.Logger(0), func(a string) { addr <- a })
	}()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case err := <-finished:
		stop()
		t.Fatalf("Serve: %v", err)
	}
	t.Cleanup(stop)
	d := env.NewTenant(t).On(base)
	cursor := d.MustPull(nil).Cursor
	held := holdPull(d.As(t), cursor, 30, "")
	awaitHeld(t, base, 1)
	stopped := time.Now()
	stop()
	r := receive(t, held, 5*time.Second)
	page := decodePull(t, r.res)
	if page.HasMore || len(page.CostbookItems) != 0 {
		t.Fatalf("shutdown answer: %s", devicetest.Truncate(r.res.Body))
	}
	if err := <-finished; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if took := time.Since(stopped); took > 5*time.Second {
		t.Fatalf("shutdown took %s with a held pull", took)
	}
	id, body := itemPush("after shutdown")
	survivor := env.DeviceFor(t, d.UserID, d.ContractorID)
	survivor.MustPush(body)
	next := survivor.MustPull(url.Values{"cursor": {page.Cursor}})
	if len(next.CostbookItems) != 1 || next.CostbookItems[0].ID != id {
		t.Fatalf("the shutdown page's cursor missed the next push: %+v", next.CostbookItems)
	}
}

// serveInstance runs the production Serve (with its feed of other
// instances' pushes) on the harness's database until t ends.
func serveInstance(t *testing.T, vars map[string]string) string {
	t.Helper()
	addr, _ := env.Serve(t, env.ConfigWith(t, vars), nil)
	return "http://" + addr
}

// A push through one instance wakes a pull held on another: by LISTEN on a
// direct connection, and by polling the clock when the only URL is
// DATABASE_URL (a transaction pooler under make test-pooler).
func TestLive_AcrossInstances(t *testing.T) {
	t.Parallel()
	if env.DirectURL == "" {
		t.Fatal("the harness has no direct database URL")
	}
	for _, c := range []struct {
		name string
		vars map[string]string
	}{
		{"listen", map[string]string{"SYNC_LISTEN_DATABASE_URL": env.DirectURL}},
		{"poll", map[string]string{"SYNC_LIVE_POLL_INTERVAL": "50ms"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			a, b := serveInstance(t, c.vars), serveInstance(t, c.vars)
			d := env.NewTenant(t)
			cursor := d.On(b).MustPull(nil).Cursor
			held := holdPull(d.On(b).As(t), cursor, 20, "costbook_items")
			awaitHeld(t, b, 1)
			// Another tenant's push on a wakes nothing on b.
			_, body := itemPush("stranger's")
			env.NewTenant(t).On(a).MustPush(body)
			id, body := itemPush("across")
			d.On(a).MustPush(body)
			r := receive(t, held, 5*time.Second)
			page := decodePull(t, r.res)
			if len(page.CostbookItems) != 1 || page.CostbookItems[0].ID != id {
				t.Fatalf("the pull held on b brought %+v, want %s pushed on a", page.CostbookItems, id)
			}
			awaitHeld(t, b, 0)
		})
	}
}

// A held pull outlives the server's read and write timeouts, which count
// from when the request was read: past SYNC_WRITE_TIMEOUT net/http would cut
// its answer off.
func TestLive_HeldPastTheWriteTimeout(t *testing.T) {
	t.Parallel()
	base := serveInstance(t, map[string]string{"SYNC_READ_TIMEOUT": "1s", "SYNC_WRITE_TIMEOUT": "1s"})
	d := env.NewTenant(t).On(base)
	cursor := d.MustPull(nil).Cursor
	r := receive(t, holdPull(d.As(t), cursor, 3, ""), 10*time.Second)
	if r.elapsed < 3*time.Second {
		t.Fatalf("wait=3 answered after %s", r.elapsed)
	}
	held := holdPull(d.As(t), decodePull(t, r.res).Cursor, 5, "")
	time.Sleep(2 * time.Second)
	id, body := itemPush("late")
	d.MustPush(body)
	page := decodePull(t, receive(t, held, 5*time.Second).res)
	if len(page.CostbookItems) != 1 || page.CostbookItems[0].ID != id {
		t.Fatalf("a pull woken past the timeouts brought %+v", page.CostbookItems)
	}
}

// A push that changes no row of a requested table (a delete of an id the
// server never had) wakes the pull, which finds nothing new: it waits on
// rather than answer an empty page before its time.
func TestLive_WakeWithNothingNew_KeepsWaiting(t *testing.T) {
	t.Parallel()
	base := liveServer(t, nil)
	d := env.NewTenant(t).On(base)
	cursor := d.MustPull(nil).Cursor
	held := holdPull(d.As(t), cursor, 2, "costbook_items")
	awaitHeld(t, base, 1)
	if res := d.MustPush(map[string]any{"deletes": map[string]any{"costbook_items": []uuid.UUID{uuid.New()}}}); res.Deleted.CostbookItems != 0 {
		t.Fatalf("deleting an unknown id deleted %d rows", res.Deleted.CostbookItems)
	}
	r := receive(t, held, 10*time.Second)
	if r.elapsed < 2*time.Second {
		t.Fatalf("a wake with nothing new answered after %s: %s", r.elapsed, devicetest.Truncate(r.res.Body))
	}
	page := decodePull(t, r.res)
	if page.HasMore || len(page.CostbookItems) != 0 || len(page.Deleted.CostbookItems) != 0 {
		t.Fatalf("the page after the wait: %s", devicetest.Truncate(r.res.Body))
	}
}

// Where the connection cannot be taken over from net/http (a writer
// without Hijack), a live pull waits in its request instead: it is woken
// the same, and released as soon as its client goes away.
func TestLive_WriterThatCannotBeTakenOver_WaitsInTheRequest(t *testing.T) {
	t.Parallel()
	h, err := testenv.NewHandler(env.ConfigWith(t, nil), env.Pool, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(struct{ http.ResponseWriter }{w}, r) // no Hijack, no Unwrap
	}))
	t.Cleanup(srv.Close)
	d := env.NewTenant(t).On(srv.URL)
	cursor := d.MustPull(nil).Cursor
	held := holdPull(d.As(t), cursor, 20, "")
	awaitHeld(t, srv.URL, 1)
	id, body := itemPush("in the request")
	d.MustPush(body)
	page := decodePull(t, receive(t, held, 5*time.Second).res)
	if len(page.CostbookItems) != 1 || page.CostbookItems[0].ID != id {
		t.Fatalf("woken in its request, the pull brought %+v", page.CostbookItems)
	}

	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		srv.URL+devicetest.PullPath+"?"+url.Values{"cursor": {page.Cursor}, "wait": {"30"}}.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+d.Token)
	go func() {
		if res, err := http.DefaultClient.Do(req); err == nil {
			res.Body.Close()
		}
	}()
	awaitHeld(t, srv.URL, 1)
	cancel()
	awaitHeld(t, srv.URL, 0)
}
