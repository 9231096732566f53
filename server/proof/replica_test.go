package proof_test

// Reads from a streaming replica (issue 22): the binary's replica (TestMain)
// is a real hot standby made with pg_basebackup, streaming from the
// cluster; under make test-pooler both sit behind PgBouncers of their own.
// The tests pause its replay, stop and start it, and purge tombstones under
// it, while devices keep pushing to the primary and pulling through servers
// that read the replica: nothing is missed, no cursor goes back, nothing
// answers 5xx.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/syncproxy/syncproxy/gen/api"
	"github.com/syncproxy/syncproxy/internal/devicetest"
	"github.com/syncproxy/syncproxy/internal/testenv"
	"github.com/syncproxy/syncproxy/server/replica"
	"github.com/syncproxy/syncproxy/server/syncstore"
)

// TestPull_NoMissedChange_WritersOnTwoInstances_ReadersOnReplica is the
// no-missed-change proof with the writers of every tenant on two instances
// of the server and the readers' pages spread over an instance that reads
// the replica (two pages in three) and one that reads the primary: pages of
// one walk come from databases at different points of replay. Every walk
// must hold every push up to its cursor's version, no cursor or since may
// go back, and after the drain every reader holds the database's state.
func TestPull_NoMissedChange_WritersOnTwoInstances_ReadersOnReplica(t *testing.T) {
	second, _ := env.Listen(t, env.ConfigWith(t, nil), nil, nil)
	viaReplica, _ := newReplicaServer(t, nil)
	duration := min(proofDuration(t), 5*time.Second)
	// A streaming replica is often caught up within a page's time (always,
	// in CI behind PgBouncer), so a third into the run its replay pauses
	// for 600 ms, well under SYNC_REPLICA_MAX_LAG: cursors handed out by
	// the primary meanwhile are past the replica, and those pages must take
	// the primary.
	paused := make(chan error, 1)
	go func() { paused <- pauseReplayFor(duration/3, 600*time.Millisecond) }()
	proveNoMissedChange(t, proofSetup{
		writers:  []string{env.URL, second},
		readers:  []string{viaReplica, viaReplica, second},
		duration: duration,
	})
	if err := <-paused; err != nil {
		t.Fatal(err)
	}
	served := metric(t, viaReplica, `syncproxy_replica_reads_total{op="pull",source="replica1"}`)
	primary := metric(t, viaReplica, `syncproxy_replica_reads_total{op="pull",source="primary"}`)
	behind := metric(t, viaReplica, `syncproxy_replica_passed_total{op="pull",reason="behind",replica="replica1"}`)
	t.Logf("pages through the replica-reading instance: %.0f read on the replica, %.0f on the primary (%.0f after the replica was behind the cursor)",
		served, primary, behind)
	// Both ways were taken, or the proof proved less than it says.
	if served == 0 || behind == 0 {
		t.Fatalf("the replica served %.0f pages and was behind %.0f times: the workload did not read through both", served, behind)
	}
}

// TestReplica_ReplayPaused_PullsFallBackToThePrimary pauses the replica's
// replay (pg_wal_replay_pause) while a device keeps pushing and devices keep
// pulling through two servers that read it: one whose lag bound the pause
// passes (its probe takes the replica out), one with a bound of an hour (it
// keeps trying the replica and must find it behind each cursor past it).
func TestReplica_ReplayPaused_PullsFallBackToThePrimary(t *testing.T) {
	bounded, boundedSet := newReplicaServer(t, map[string]string{"SYNC_REPLICA_MAX_LAG": "300ms"})
	patient, _ := newReplicaServer(t, map[string]string{"SYNC_REPLICA_MAX_LAG": "1h"})
	writer := env.NewTenant(t)
	via := []string{bounded, patient}

	load := &tenantLoad{dev: writer, issued: map[uuid.UUID]bool{}, byValue: map[string]committedPush{}}
	readers := []*readerState{newReaderState("cursor reader"), newReaderState("since reader")}
	readers[1].bySince = true
	from := []string{"", ""}
	walk := func(i int, rng *rand.Rand) error {
		rs := readers[i]
		cursor, since := from[i], ""
		if rs.bySince {
			cursor, since = "", from[i]
		}
		pages, err := walkVia(writer, via, rng, cursor, since, 5)
		if err != nil {
			return fmt.Errorf("%s: %w", rs.name, err)
		}
		if err := rs.neverBack(pages); err != nil {
			return err
		}
		for _, p := range pages {
			if err := rs.apply(p, writer.ContractorID); err != nil {
				return err
			}
		}
		from[i] = pages[len(pages)-1].Cursor
		if rs.bySince {
			from[i] = pages[0].ServerTime
		}
		rs.walks++
		for _, m := range load.ackedMarkers(rs.version) {
			if rs.markers[m] == 0 {
				return fmt.Errorf("%s: walk %d ended at version %d without a push of a version up to it: a missed change", rs.name, rs.walks, rs.version)
			}
		}
		return nil
	}
	// Pushes and walks, one after the other, until stop.
	run := func(stop <-chan struct{}, seed uint64) error {
		rng := rand.New(rand.NewPCG(seed, 1))
		for n := 0; ; n++ {
			select {
			case <-stop:
				return nil
			default:
			}
			if err := pushMarker(load, fmt.Sprintf("paused-%d-%d", seed, n)); err != nil {
				return err
			}
			for i := range readers {
				if err := walk(i, rng); err != nil {
					return err
				}
			}
		}
	}
	phase := func(name string, d time.Duration, seed uint64) {
		t.Helper()
		stop := make(chan struct{})
		time.AfterFunc(d, func() { close(stop) })
		if err := run(stop, seed); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}

	phase("before the pause", 300*time.Millisecond, 1)
	boundedBefore := metric(t, bounded, `syncproxy_replica_reads_total{op="pull",source="replica1"}`)
	behindBefore := metric(t, patient, `syncproxy_replica_passed_total{op="pull",reason="behind",replica="replica1"}`)

	pauseReplay(t)
	phase("replay paused", 1500*time.Millisecond, 2)
	// The bounded server's probe found the lag past its bound and took the
	// replica out; it has read nothing on it since.
	r := boundedSet.Replicas()[0]
	if r.Usable() || r.Lag() < 300*time.Millisecond {
		t.Fatalf("after 1.5 s of paused replay the bounded server's replica is usable %v with lag %s, want out with a lag past 300ms", r.Usable(), r.Lag())
	}
	outSince := metric(t, bounded, `syncproxy_replica_reads_total{op="pull",source="replica1"}`)
	phase("replay paused, replica out", 500*time.Millisecond, 3)
	if n := metric(t, bounded, `syncproxy_replica_reads_total{op="pull",source="replica1"}`); n != outSince {
		t.Fatalf("the bounded server read %.0f pages on a replica its probe had taken out", n-outSince)
	}
	// The patient server tried the replica and found it behind cursors the
	// primary had handed out.
	// On a loaded machine (CI on 2 cores) the phases above may hold only a
	// few walks, and a replica read that timed out takes the replica out of
	// the patient server's candidates until its next probe: replay stays
	// paused, with pushes and walks going on, until it has been found behind
	// once, within a bound that only a broken check exhausts.
	behindOf := func() float64 {
		return metric(t, patient, `syncproxy_replica_passed_total{op="pull",reason="behind",replica="replica1"}`) - behindBefore
	}
	for seed, deadline := uint64(100), time.Now().Add(15*time.Second); behindOf() == 0 && time.Now().Before(deadline); seed++ {
		phase("replay paused, until the patient server finds the replica behind", 300*time.Millisecond, seed) // a seed per phase: its markers are unique
	}
	behind := behindOf()
	if behind == 0 {
		t.Fatal("the patient server never found the paused replica behind a cursor")
	}
	if n := metric(t, bounded, `syncproxy_replica_reads_total{op="pull",source="replica1"}`); n != outSince {
		t.Fatalf("the bounded server read %.0f pages on a replica its probe had taken out", n-outSince)
	}

	resumeReplay(t)
	if err := env.Replica.CatchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitUsable(t, boundedSet)
	phase("replay resumed", 500*time.Millisecond, 4)
	if n := metric(t, bounded, `syncproxy_replica_reads_total{op="pull",source="replica1"}`); n <= outSince {
		t.Fatal("the bounded server did not read on the replica again once its replay resumed")
	}
	drainAndCompare(t, load, readers, from, via)
	t.Logf("%d pushes; bounded server: %.0f pages on the replica before the pause; patient server: the replica was behind %.0f cursors during it",
		len(load.committed), boundedBefore, behind)
}

// TestReplica_BehindTheCursor_ThePrimaryAnswers: a cursor past what a
// paused replica has replayed gets its page from the primary, ahead of it,
// never from the replica behind it (which would hand back an older cursor
// and pages without the changes between).
func TestReplica_BehindTheCursor_ThePrimaryAnswers(t *testing.T) {
	patient, _ := newReplicaServer(t, map[string]string{"SYNC_REPLICA_MAX_LAG": "1h"})
	d := env.NewTenant(t)
	d.MustPush(map[string]any{"costbook_items": []map[string]any{{"id": uuid.New(), "name": "before"}}})
	if err := env.Replica.CatchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	pauseReplay(t)
	late := uuid.New()
	d.MustPush(map[string]any{"costbook_items": []map[string]any{{"id": late, "name": "after the pause"}}})
	primary := mustWalk(t, d, "", "")
	if !holds(primary, "costbook_items", late) {
		t.Fatal("the primary's walk lacks the push it acknowledged")
	}
	cursor := primary[len(primary)-1].Cursor
	v, _, _ := syncstore.CursorVersion(cursor)

	// A full pull through the patient server comes from the paused replica
	// (any replica holds a walk from nothing)...
	full := mustWalk(t, d.On(patient), "", "")
	if holds(full, "costbook_items", late) {
		t.Fatal("a full pull through the paused replica holds a push it has not replayed: it was not read there")
	}
	// ...but the primary's cursor is past it: the primary answers, and the
	// cursor stays where it was.
	pages := mustWalk(t, d.On(patient), cursor, "")
	got, paging, err := syncstore.CursorVersion(pages[len(pages)-1].Cursor)
	if err != nil || paging || got < v {
		t.Fatalf("a pull from the cursor at version %d through the paused replica's server handed out a cursor at version %d (paging %v, %v): it went back", v, got, paging, err)
	}
	// A held pull woken by a version (MinVersion) is the same: the replica
	// must have replayed it.
	store := syncstore.New(env.Pool, syncstore.Options{Replicas: replicaOnly(t)})
	page, err := store.Pull(context.Background(), d.ContractorID, syncstore.PullRequest{Limit: 100, MinVersion: v})
	if err != nil {
		t.Fatal(err)
	}
	if got, _, _ := syncstore.CursorVersion(page.Cursor()); got < v {
		t.Fatalf("a pull that must see version %d was answered at version %d", v, got)
	}
}

// TestReplica_SinceReaders_TheReplicasTimeIsItsLastPush: a walk the paused
// replica serves answers, as serverTime, the time of the last push it holds,
// not its own clock: a device that keeps only serverTime and passes it as
// since later gets every push the replica had not replayed.
func TestReplica_SinceReaders_TheReplicasTimeIsItsLastPush(t *testing.T) {
	patient, _ := newReplicaServer(t, map[string]string{"SYNC_REPLICA_MAX_LAG": "1h"})
	d := env.NewTenant(t)
	d.MustPush(map[string]any{"costbook_items": []map[string]any{{"id": uuid.New(), "name": "replayed"}}})
	if err := env.Replica.CatchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	pauseReplay(t)
	unreplayed := uuid.New()
	d.MustPush(map[string]any{"costbook_items": []map[string]any{{"id": unreplayed, "name": "not replayed"}}})
	time.Sleep(20 * time.Millisecond) // the replica's clock moves on past the push
	first := mustWalk(t, d.On(patient), "", "2000-01-01T00:00:00.000Z")
	if holds(first, "costbook_items", unreplayed) {
		t.Fatal("the since walk holds the push the replica has not replayed: it was not read there")
	}
	resumeReplay(t)
	if err := env.Replica.CatchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	next := mustWalk(t, d.On(patient), "", first[0].ServerTime)
	if !holds(next, "costbook_items", unreplayed) {
		t.Fatalf("since %s (the serverTime of a walk the replica served) lost the push it had not replayed", first[0].ServerTime)
	}
}

// TestReplica_StoppedAndStartedAgain: the replica goes down while a device
// pushes and pulls through a server that reads it, and comes back: the
// first read that fails on it takes it out at once (one failure, not one per
// request, and the primary answers that read: no error reaches a device),
// nothing is missed, and the replica serves again once a probe finds it up.
// The server's own probe is kept out of the way (an hour apart): the test
// runs the probes.
func TestReplica_StoppedAndStartedAgain(t *testing.T) {
	viaReplica, set := newReplicaServer(t, map[string]string{"SYNC_REPLICA_PROBE_INTERVAL": "1h", "SYNC_REPLICA_MAX_LAG": "1s"})
	writer := env.NewTenant(t)
	load := &tenantLoad{dev: writer, issued: map[uuid.UUID]bool{}, byValue: map[string]committedPush{}}
	rs := newReaderState("reader")
	from := ""
	stop := make(chan struct{})
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Go(func() {
		for n := 0; ; n++ {
			select {
			case <-stop:
				errs <- nil
				return
			default:
			}
			if err := pushMarker(load, fmt.Sprintf("stopped-%d", n)); err != nil {
				errs <- err
				return
			}
			pages, err := writer.On(viaReplica).Walk(from, "", 7)
			if err == nil {
				err = rs.neverBack(pages)
			}
			if err != nil {
				errs <- err
				return
			}
			for _, p := range pages {
				if err := rs.apply(p, writer.ContractorID); err != nil {
					errs <- err
					return
				}
			}
			from = pages[len(pages)-1].Cursor
			rs.walks++
			for _, m := range load.ackedMarkers(rs.version) {
				if rs.markers[m] == 0 {
					errs <- fmt.Errorf("walk %d ended at version %d without a push up to it: a missed change", rs.walks, rs.version)
					return
				}
			}
		}
	})
	finish := func() {
		close(stop)
		wg.Wait()
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	time.Sleep(200 * time.Millisecond)
	before := metric(t, viaReplica, `syncproxy_replica_reads_total{op="pull",source="replica1"}`)
	if err := env.Replica.Stop(ctx); err != nil {
		finish()
		t.Fatal(err)
	}
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			env.Replica.Start(context.Background())
		}
	})
	failedSeries := `syncproxy_replica_passed_total{op="pull",reason="failed",replica="replica1"}`
	waitFor(t, "a read to fail on the stopped replica", func() bool { return metric(t, viaReplica, failedSeries) > 0 })
	down := set.Replicas()[0].Usable()
	time.Sleep(500 * time.Millisecond)
	failed := metric(t, viaReplica, failedSeries)
	duringOutage := metric(t, viaReplica, `syncproxy_replica_reads_total{op="pull",source="replica1"}`)
	probeOnce(set) // finds it down: stays out
	stillDown := set.Replicas()[0].Usable()
	if err := env.Replica.Start(ctx); err != nil {
		finish()
		t.Fatal(err)
	}
	restarted = true
	if err := env.Replica.CatchUp(ctx); err != nil {
		finish()
		t.Fatal(err)
	}
	// Probes as the server's own would, one a second: behind PgBouncer the
	// first after the restart may still find no server connection, and the
	// lag is measured between the primary's positions of the last probes.
	waitFor(t, "a probe to find the restarted replica usable", func() bool {
		probeOnce(set)
		return set.Replicas()[0].Usable()
	})
	time.Sleep(300 * time.Millisecond)
	finish()
	after := metric(t, viaReplica, `syncproxy_replica_reads_total{op="pull",source="replica1"}`)
	t.Logf("%d pushes, %d walks; pages on the replica: %.0f before the stop, %.0f at its end, %.0f after the restart; %.0f read(s) failed on it and went to the primary",
		len(load.committed), rs.walks, before, duringOutage, after, failed)
	if down || stillDown {
		t.Fatal("the stopped replica was still usable after a read failed on it, or after a probe")
	}
	if failed > 2 {
		t.Fatalf("%.0f reads failed on the stopped replica: the first failure must take it out", failed)
	}
	if before == 0 || after <= duringOutage {
		t.Fatalf("pages on the replica: %.0f before the stop, %.0f during, %.0f after the restart: want some before and more after", before, duringOutage, after)
	}
	drainAndCompare(t, load, []*readerState{rs}, []string{from}, []string{viaReplica})
}

// TestReplica_PurgedTombstones_410WhereverTheRowsAreRead: the purge raises
// the marks, then deletes the tombstones in a later transaction; a replica
// replays both in that order, and reads the marks in the snapshot it reads
// the rows in. So whatever point of replay a replica is at, a delta from a
// cursor before a purged deletion either still holds the deletion or is a
// 410, never a 200 without it.
func TestReplica_PurgedTombstones_410WhereverTheRowsAreRead(t *testing.T) {
	patient, _ := newReplicaServer(t, map[string]string{"SYNC_REPLICA_MAX_LAG": "1h"})
	ctx := context.Background()
	store := syncstore.New(env.Pool, syncstore.Options{})
	// deletedAfter pushes a row, takes a cursor, deletes the row: the
	// cursor's delta must carry that deletion.
	deletedAfter := func(name string) (*devicetest.Device, uuid.UUID, string) {
		d := env.NewTenant(t)
		id := uuid.New()
		d.MustPush(map[string]any{"costbook_items": []map[string]any{{"id": id, "name": "doomed"}}})
		pages := mustWalk(t, d, "", "")
		d.MustPush(map[string]any{"deletes": map[string]any{"costbook_items": []uuid.UUID{id}}})
		time.Sleep(5 * time.Millisecond) // the tombstone is older than a retention of 0
		return d, id, pages[len(pages)-1].Cursor
	}

	// 1. The replica has neither the marks nor the deletion: its delta is
	// whole; the primary, which purged, answers 410.
	d, id, cursor := deletedAfter("purge under a paused replica")
	if err := env.Replica.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	pauseReplay(t)
	if _, err := store.PurgeTombstones(ctx, 0, 0); err != nil {
		t.Fatal(err)
	}
	if r := pullOnce(t, d, cursor); r.Status != http.StatusGone {
		t.Fatalf("the primary, after the purge: %d, want 410: %s", r.Status, r.Body)
	}
	r := pullOnce(t, d.On(patient), cursor)
	if r.Status != http.StatusGone && !deletes(t, r, id) {
		t.Fatalf("the paused replica (no marks, no deletion replayed): %d without the deletion: %s", r.Status, r.Body)
	}
	// 2. It has replayed both: 410.
	resumeReplay(t)
	if err := env.Replica.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if r := pullOnce(t, d.On(patient), cursor); r.Status != http.StatusGone {
		t.Fatalf("the replica with the purge replayed: %d, want 410: %s", r.Status, r.Body)
	}

	// 3. It has replayed the marks but not the deletion: 410 (the marks are
	// read where the rows are).
	d, _, cursor = deletedAfter("marks replayed, deletion not")
	purged := make(chan error, 1)
	go func() {
		_, err := store.PurgeTombstones(ctx, 0, 2*time.Second)
		purged <- err
	}()
	waitFor(t, "the purge's marks", func() bool {
		var marked bool
		err := env.Pool.QueryRow(ctx, "SELECT purged_seq >= seq FROM sync_clock WHERE contractor_id = $1", d.ContractorID).Scan(&marked)
		return err == nil && marked
	})
	if err := env.Replica.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	pauseReplay(t)
	if err := <-purged; err != nil {
		t.Fatal(err)
	}
	if r := pullOnce(t, d.On(patient), cursor); r.Status != http.StatusGone {
		t.Fatalf("the replica with the marks but not the deletion replayed: %d, want 410: %s", r.Status, r.Body)
	}
}

// TestReplica_Digest_NeverOlderThanThePrimary: a digest is read on the
// replica when it has replayed the contractor's version on the primary,
// with the same figures; behind it, the primary answers.
func TestReplica_Digest_NeverOlderThanThePrimary(t *testing.T) {
	patient, _ := newReplicaServer(t, map[string]string{"SYNC_REPLICA_MAX_LAG": "1h"})
	d := env.NewTenant(t)
	d.MustPush(map[string]any{"costbook_items": []map[string]any{{"id": uuid.New(), "name": "one"}}})
	if err := env.Replica.CatchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	type figures struct {
		cursor string
		items  api.TableDigest
	}
	digest := func(srv string) figures {
		t.Helper()
		cursor, tables := d.On(srv).As(t).MustDigest()
		return figures{cursor, tables["costbook_items"]}
	}
	series := `syncproxy_replica_reads_total{op="digest",source="replica1"}`
	onReplica := metric(t, patient, series)
	if got, want := digest(patient), digest(env.URL); got != want {
		t.Fatalf("digest through the replica %+v, on the primary %+v", got, want)
	}
	if metric(t, patient, series) != onReplica+1 {
		t.Fatal("the caught-up replica did not serve the digest")
	}
	pauseReplay(t)
	d.MustPush(map[string]any{"costbook_items": []map[string]any{{"id": uuid.New(), "name": "two"}}})
	got, want := digest(patient), digest(env.URL)
	if got.cursor != want.cursor || got.items.Count != 2 {
		t.Fatalf("digest with the replica behind: %+v, the primary's %+v", got, want)
	}
}

// newReplicaServer starts a server whose pulls and digests may be read on
// the binary's replica (probed every 100 ms), with settings overridden, and
// waits until its probe has found the replica usable.
func newReplicaServer(t *testing.T, overrides map[string]string) (string, *replica.Set) {
	t.Helper()
	cfg, err := testenv.Config(env.Env(), map[string]string{
		"SYNC_REPLICA_DATABASE_URLS":  env.ReplicaURL,
		"SYNC_REPLICA_PROBE_INTERVAL": "100ms",
	}, overrides)
	if err != nil {
		t.Fatal(err)
	}
	h, set, stop, err := testenv.NewReplicaHandler(context.Background(), cfg, env.Pool, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.Close()
		stop()
	})
	waitUsable(t, set)
	return srv.URL, set
}

// replicaOnly is the binary's replica as the store's only replica, without
// a probe (always a candidate), for calls on the store itself.
func replicaOnly(t *testing.T) syncstore.Replicas {
	t.Helper()
	cfg, err := testenv.Config(env.Env(), map[string]string{
		"SYNC_REPLICA_DATABASE_URLS": env.ReplicaURL, "SYNC_REPLICA_MAX_LAG": "1h", "SYNC_REPLICA_PROBE_INTERVAL": "100ms",
	})
	if err != nil {
		t.Fatal(err)
	}
	_, set, stop, err := testenv.NewReplicaHandler(context.Background(), cfg, env.Pool, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	waitUsable(t, set)
	return set
}

// probeOnce runs one probe bounded as the server's are (a probe interval
// of a second), for tests that keep the server's own probe out of the way:
// behind PgBouncer a query to a stopped replica waits for a server
// connection until the probe gives up.
func probeOnce(set *replica.Set) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	set.Probe(ctx)
	time.Sleep(50 * time.Millisecond)
}

func waitUsable(t *testing.T, set *replica.Set) {
	t.Helper()
	waitFor(t, "the replica to be usable", func() bool { return set.Replicas()[0].Usable() })
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited 15 s for %s", what)
		}
	}
}

// pauseReplay pauses the replica's replay until resumeReplay (or the end
// of the test).
func pauseReplay(t *testing.T) {
	t.Helper()
	replayControl(t, "SELECT pg_wal_replay_pause()")
	waitFor(t, "replay to pause", func() bool {
		var state string
		if err := replicaQuery("SELECT pg_get_wal_replay_pause_state()", &state); err != nil {
			t.Fatal(err)
		}
		return state == "paused"
	})
	t.Cleanup(func() { replayControl(t, "SELECT pg_wal_replay_resume()") })
}

// pauseReplayFor pauses the replica's replay after a delay and resumes it
// after hold; it reports rather than fails, for a goroutine beside a test.
func pauseReplayFor(after, hold time.Duration) error {
	time.Sleep(after)
	var ignored any
	if err := replicaQuery("SELECT pg_wal_replay_pause()", &ignored); err != nil {
		return fmt.Errorf("pause replay: %w", err)
	}
	time.Sleep(hold)
	if err := replicaQuery("SELECT pg_wal_replay_resume()", &ignored); err != nil {
		return fmt.Errorf("resume replay: %w", err)
	}
	return nil
}

func resumeReplay(t *testing.T) { replayControl(t, "SELECT pg_wal_replay_resume()") }

func replayControl(t *testing.T, sql string) {
	t.Helper()
	var ignored any
	if err := replicaQuery(sql, &ignored); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// replicaQuery runs sql on the replica itself, not through a pooler.
func replicaQuery(sql string, dest any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, env.Replica.URL("proof"))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	return conn.QueryRow(ctx, sql).Scan(dest)
}

// metricsClient bounds a read of /metrics: a hang fails the test.
var metricsClient = &http.Client{Timeout: 30 * time.Second}

// metric reads one series of srv's /metrics; 0 when it is not there yet.
func metric(t *testing.T, srv string, series string) float64 {
	t.Helper()
	res, err := metricsClient.Get(srv + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", series, err)
			}
			return f
		}
	}
	return 0
}

// pushMarker pushes one estimate_event only this push writes, and records
// the push with its version.
func pushMarker(l *tenantLoad, value string) error {
	cp := committedPush{marker: uuid.New(), value: value}
	l.mu.Lock()
	l.issued[cp.marker] = true
	l.mu.Unlock()
	r, err := l.dev.Exchange(http.MethodPost, devicetest.PushPath, map[string]any{"estimate_events": []map[string]any{{"id": cp.marker, "estimate_id": uuid.New(),
		"kind": "marker", "payload": map[string]any{"v": value}}}}, nil)
	if err != nil {
		return err
	}
	if r.Status != http.StatusOK {
		return fmt.Errorf("push = %d: %s", r.Status, r.Body)
	}
	var receipt struct {
		Version int64 `json:"version"`
	}
	if err := json.Unmarshal(r.Body, &receipt); err != nil || receipt.Version < 1 {
		return fmt.Errorf("push answered no version: %s", r.Body)
	}
	cp.version = receipt.Version
	l.mu.Lock()
	l.committed = append(l.committed, cp)
	l.byValue[value] = cp
	l.mu.Unlock()
	return nil
}

// drainAndCompare walks every reader to the end once more (the replica has
// caught up) and requires it to hold every marker pushed.
func drainAndCompare(t *testing.T, l *tenantLoad, readers []*readerState, from []string, via []string) {
	t.Helper()
	if err := env.Replica.CatchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(9, 9))
	for i, rs := range readers {
		cursor, since := from[i], ""
		if rs.bySince {
			cursor, since = "", from[i]
		}
		pages, err := walkVia(l.dev, via, rng, cursor, since, 0)
		if err != nil {
			t.Fatalf("%s: drain: %v", rs.name, err)
		}
		if err := rs.neverBack(pages); err != nil {
			t.Fatal(err)
		}
		for _, p := range pages {
			if err := rs.apply(p, l.dev.ContractorID); err != nil {
				t.Fatal(err)
			}
		}
		for _, cp := range l.committed {
			if rs.markers[cp.marker] == 0 {
				t.Fatalf("%s: never received push %s (version %d)", rs.name, cp.value, cp.version)
			}
		}
		t.Logf("%s: %d walks, %d pages, %d pushes received", rs.name, rs.walks, rs.pages, len(rs.markers))
	}
}

func mustWalk(t *testing.T, d *devicetest.Device, cursor, since string) []devicetest.Page {
	t.Helper()
	pages, err := d.Walk(cursor, since, 0)
	if err != nil {
		t.Fatal(err)
	}
	return pages
}

// holds says whether a walk delivered the live row id of table.
func holds(pages []devicetest.Page, table string, id uuid.UUID) bool {
	for _, p := range pages {
		for _, row := range p.Rows[table] {
			if row["id"] == id.String() {
				return true
			}
		}
	}
	return false
}

// pullOnce is one pull page from cursor, whatever its status.
func pullOnce(t *testing.T, d *devicetest.Device, cursor string) devicetest.Response {
	t.Helper()
	r, err := d.Exchange(http.MethodGet, devicetest.PullPath+"?cursor="+url.QueryEscape(cursor), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status >= 500 {
		t.Fatalf("pull = %d: %s", r.Status, r.Body)
	}
	return r
}

// deletes says whether a 200 page carries id's deletion in costbook_items.
func deletes(t *testing.T, r devicetest.Response, id uuid.UUID) bool {
	t.Helper()
	if r.Status != http.StatusOK {
		return false
	}
	p, err := devicetest.DecodePage(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, got := range p.Deleted["costbook_items"] {
		if got == id {
			return true
		}
	}
	return false
}

// walkVia is d's walk with each page pulled through one of urls, chosen by
// rng: a device whose requests a load balancer spreads over instances.
func walkVia(d *devicetest.Device, urls []string, rng *rand.Rand, cursor, since string, limit int) ([]devicetest.Page, error) {
	return devicetest.WalkEach(func() *devicetest.Device { return d.On(urls[rng.IntN(len(urls))]) }, cursor, since, limit)
}
