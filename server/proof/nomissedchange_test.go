package proof_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/syncproxy/syncproxy/internal/devicetest"
	"github.com/syncproxy/syncproxy/server/syncstore"
)

// The workload of TestPull_NoMissedChange_ConcurrentWritersAndReaders.
const (
	tenantsAtOnce     = 3
	writersPerTenant  = 4
	readersPerTenant  = 2  // following cursors
	sinceReaders      = 1  // following serverTime as since, as clients that kept only serverTime do
	hotItemsPerTenant = 16 // costbook_items every writer of a tenant upserts and deletes
	hotEstimates      = 8  // estimates, likewise
)

// proofDuration is how long the writers run: SYNC_PROOF_DURATION (e.g. 2s)
// shortens it for a quick local loop.
func proofDuration(t *testing.T) time.Duration {
	if v := os.Getenv("SYNC_PROOF_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("SYNC_PROOF_DURATION: %v", err)
		}
		return d
	}
	return 8 * time.Second
}

// committedPush is one push that answered 200: what it wrote.
type committedPush struct {
	marker  uuid.UUID   // an estimate_event only this push inserts
	version int64       // the version it answered (its clock seq)
	value   string      // the name/number this push wrote to every row it upserted
	upserts []uuid.UUID // costbook_items and estimates ids
	deletes []uuid.UUID // costbook_items and estimates ids
}

// tenantLoad is one tenant's side of the workload.
type tenantLoad struct {
	dev       *devicetest.Device
	hotItems  []uuid.UUID
	hotEsts   []uuid.UUID
	mu        sync.Mutex
	committed []committedPush          // in the order their 200 arrived
	issued    map[uuid.UUID]bool       // every id this tenant's writers ever sent
	byValue   map[string]committedPush // value -> the push that wrote it
}

func (l *tenantLoad) ownID(id uuid.UUID) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.issued[id]
}

// ackedMarkers returns the markers of every push whose 200 has arrived so
// far, and of those only the ones of versions up to upTo when upTo >= 0.
func (l *tenantLoad) ackedMarkers(upTo int64) []uuid.UUID {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []uuid.UUID
	for _, c := range l.committed {
		if upTo < 0 || c.version <= upTo {
			out = append(out, c.marker)
		}
	}
	return out
}

// readerState is what one reader (a device following cursors) has seen.
type readerState struct {
	name    string
	bySince bool                   // follows serverTime as since instead of cursors
	markers map[uuid.UUID]int      // marker -> times delivered
	live    map[uuid.UUID]string   // hot row -> value, for rows the reader holds live
	history map[uuid.UUID][]string // hot row -> every value delivered, in delivery order
	seenIDs map[uuid.UUID]bool     // every row or tombstone id delivered
	walks   int
	pages   int
	version int64     // the version of the last resting cursor it got: never goes back
	since   time.Time // a since-reader's last serverTime: never goes back
}

func newReaderState(name string) *readerState {
	return &readerState{name: name, markers: map[uuid.UUID]int{}, live: map[uuid.UUID]string{},
		history: map[uuid.UUID][]string{}, seenIDs: map[uuid.UUID]bool{}}
}

// apply folds one page into the reader's state and checks that every row in it
// belongs to the reader's own contractor.
func (r *readerState) apply(p devicetest.Page, contractorID uuid.UUID) error {
	r.pages++
	own := contractorID.String()
	for table, rows := range p.Rows {
		for _, row := range rows {
			id, _ := row["id"].(string)
			if table == "contractors" {
				if id != own {
					return fmt.Errorf("%s: pull delivered contractor row %s, want only %s", r.name, id, own)
				}
				continue
			}
			if c, _ := row["contractor_id"].(string); c != own {
				return fmt.Errorf("%s: pull delivered a %s row of contractor %q (id %s), want only %s", r.name, table, c, id, own)
			}
			if table == "pdf_settings" || table == "step_a_configs" {
				continue
			}
			uid, err := uuid.Parse(id)
			if err != nil {
				return fmt.Errorf("%s: %s row with id %q", r.name, table, id)
			}
			r.seenIDs[uid] = true
			switch table {
			case "estimate_events":
				r.markers[uid]++
			case "costbook_items":
				r.deliver(uid, row["name"])
			case "estimates":
				r.deliver(uid, row["number"])
			default:
				return fmt.Errorf("%s: pull delivered a %s row (%s) nobody wrote", r.name, table, id)
			}
		}
	}
	for table, ids := range p.Deleted {
		for _, id := range ids {
			r.seenIDs[id] = true
			if table != "costbook_items" && table != "estimates" {
				return fmt.Errorf("%s: pull delivered a %s tombstone (%s) nobody wrote", r.name, table, id)
			}
			delete(r.live, id)
		}
	}
	return nil
}

func (r *readerState) deliver(id uuid.UUID, v any) {
	s, _ := v.(string)
	r.live[id] = s
	r.history[id] = append(r.history[id], s)
}

// TestPull_NoMissedChange_ConcurrentWritersAndReaders runs, on several tenants
// at once, writers that upsert and delete overlapping rows while readers
// follow cursors, then proves:
//   - every push that answered 200 reaches every reader of its tenant: each push
//     also inserts a marker row nobody ever rewrites, and after every completed
//     walk a reader holds the marker of every push acknowledged before that walk
//     began (a change may arrive twice, never zero times);
//   - no row or tombstone of one tenant ever appears in another tenant's pull;
//   - a reader never goes back in time on a row: the values it is handed for one
//     row come from pushes in increasing commit order;
//   - after a final drain every reader holds exactly the database's live rows,
//     and those are, per row, the write of the push that committed last (last
//     write wins in commit order, the clock's seq);
//   - the same holds for readers that keep only a walk's serverTime and pass
//     it as since: a pull waits for a push in flight (FOR SHARE on the
//     clock), so no push can commit later with an updated_at before it;
//   - a naive `updated_at > since` reader following the same tenants loses
//     changes for good: the workload does race commits against pulls.
func TestPull_NoMissedChange_ConcurrentWritersAndReaders(t *testing.T) {
	proveNoMissedChange(t, proofSetup{writers: []string{env.URL}, readers: []string{env.URL},
		duration: proofDuration(t), fresh: true})
}

// proofSetup says which servers the proof's devices talk to.
type proofSetup struct {
	writers  []string // writer w of a tenant pushes through writers[w % len]
	readers  []string // each page a reader pulls comes through one of them, at random
	duration time.Duration
	// fresh: the readers read the primary only, so a walk also holds every
	// push acknowledged before it began (the clock's FOR SHARE). A replica
	// may trail the primary: then a walk holds every push up to the version
	// its cursor says, and later ones come with a later walk.
	fresh bool
}

// proveNoMissedChange runs the workload of
// TestPull_NoMissedChange_ConcurrentWritersAndReaders on setup and checks
// everything that test says.
func proveNoMissedChange(t *testing.T, setup proofSetup) {
	duration := setup.duration
	loads := make([]*tenantLoad, tenantsAtOnce)
	for i := range loads {
		l := &tenantLoad{dev: env.NewTenant(t),
			issued: map[uuid.UUID]bool{}, byValue: map[string]committedPush{}}
		for range hotItemsPerTenant {
			l.hotItems = append(l.hotItems, uuid.New())
		}
		for range hotEstimates {
			l.hotEsts = append(l.hotEsts, uuid.New())
		}
		loads[i] = l
	}

	stop := make(chan struct{})
	var writers, readers sync.WaitGroup
	errs := make(chan error, 100)
	report := func(err error) {
		select {
		case errs <- err:
		default:
		}
	}
	readerStates := make([][]*readerState, len(loads))
	cursors := make([][]string, len(loads))
	for ti, l := range loads {
		for w := range writersPerTenant {
			writers.Add(1)
			go func() {
				defer writers.Done()
				if err := runWriter(l, l.dev.On(setup.writers[w%len(setup.writers)]), ti, w, stop); err != nil {
					report(err)
				}
			}()
		}
		readerStates[ti] = make([]*readerState, readersPerTenant+sinceReaders)
		cursors[ti] = make([]string, readersPerTenant+sinceReaders)
		for ri := range readersPerTenant + sinceReaders {
			bySince := ri >= readersPerTenant
			name := fmt.Sprintf("tenant %d reader %d", ti, ri)
			if bySince {
				name = fmt.Sprintf("tenant %d since-reader %d", ti, ri-readersPerTenant)
			}
			rs := newReaderState(name)
			rs.bySince = bySince
			readerStates[ti][ri] = rs
			readers.Add(1)
			go func() {
				defer readers.Done()
				from, err := runReader(l, setup, rs, uint64(ti*(readersPerTenant+sinceReaders)+ri), stop)
				cursors[ti][ri] = from
				if err != nil {
					report(err)
				}
			}()
		}
	}
	// A naive `updated_at > since` reader follows each tenant too: the same
	// workload must make it lose changes (checked at the end), or the workload
	// is too tame to prove anything. TestPull_CursorNeverMissesLateCommit_NaiveSinceDoes
	// stages such a miss deterministically.
	naive := make([]map[uuid.UUID]bool, len(loads))
	naiveSince := make([]time.Time, len(loads))
	for ti, l := range loads {
		naive[ti] = map[uuid.UUID]bool{}
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				if err := naivePullMarkers(l.dev.ContractorID, &naiveSince[ti], naive[ti]); err != nil {
					report(err)
					return
				}
				select {
				case <-stop:
					return
				default:
				}
			}
		}()
	}
	time.Sleep(duration)
	close(stop)
	writers.Wait()
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}

	naiveMissed := 0
	for ti, l := range loads {
		// The final drain: no writer is left, so one more walk from each
		// reader's cursor must bring it to the database's final state.
		for ri, rs := range readerStates[ti] {
			cursor, since := cursors[ti][ri], ""
			if rs.bySince {
				cursor, since = "", cursors[ti][ri]
			}
			pages, err := l.dev.Walk(cursor, since, 0)
			if err != nil {
				t.Fatalf("%s: final drain: %v", rs.name, err)
			}
			for _, p := range pages {
				if err := rs.apply(p, l.dev.ContractorID); err != nil {
					t.Fatal(err)
				}
			}
		}
		verifyTenant(t, ti, l, loads, readerStates[ti])

		if err := naivePullMarkers(l.dev.ContractorID, &naiveSince[ti], naive[ti]); err != nil {
			t.Fatal(err)
		}
		missed := 0
		for _, cp := range l.committed {
			if !naive[ti][cp.marker] {
				missed++
			}
		}
		t.Logf("tenant %d: the naive `updated_at > since` reader missed %d of %d pushes for good", ti, missed, len(l.committed))
		naiveMissed += missed
	}
	// The workload really races commits against pulls: the naive design,
	// following the same tenants, lost changes that the cursors delivered.
	if naiveMissed == 0 {
		t.Fatal("the naive reader missed nothing: the workload does not interleave commits with pulls, so it proves nothing")
	}
}

// naivePullMarkers is one pull of a timestamp-cursor server: one statement
// reads the changed rows and now(), which becomes the next since.
func naivePullMarkers(contractorID uuid.UUID, since *time.Time, seen map[uuid.UUID]bool) error {
	var serverTime time.Time
	var ids []uuid.UUID
	err := env.Pool.QueryRow(context.Background(), `
		SELECT now(), COALESCE(array_agg(id), '{}') FROM estimate_events
		WHERE contractor_id = $1 AND updated_at > $2`, contractorID, *since).Scan(&serverTime, &ids)
	if err != nil {
		return fmt.Errorf("naive pull: %w", err)
	}
	for _, id := range ids {
		seen[id] = true
	}
	*since = serverTime
	return nil
}

// runWriter pushes until stop: each push upserts a few hot rows with a value
// unique to the push, deletes a few others, and inserts its marker.
func runWriter(l *tenantLoad, dev *devicetest.Device, ti, wi int, stop <-chan struct{}) error {
	rng := rand.New(rand.NewPCG(uint64(ti), uint64(wi)))
	for n := 0; ; n++ {
		select {
		case <-stop:
			return nil
		default:
		}
		cp := committedPush{marker: uuid.New(), value: fmt.Sprintf("t%d-w%d-n%d", ti, wi, n)}
		items := pick(rng, l.hotItems, 1+rng.IntN(4))
		ests := pick(rng, l.hotEsts, rng.IntN(3))
		// Deletes target rows this push does not upsert.
		delItems := pick(rng, without(l.hotItems, items), rng.IntN(3))
		delEsts := pick(rng, without(l.hotEsts, ests), rng.IntN(2))

		itemRows := []map[string]any{}
		for _, id := range items {
			itemRows = append(itemRows, map[string]any{"id": id, "name": cp.value, "unit_cost": fmt.Sprintf("%d.%02d", n, wi)})
		}
		estRows := []map[string]any{}
		for _, id := range ests {
			estRows = append(estRows, map[string]any{"id": id, "number": cp.value, "line_items": []any{map[string]any{"n": n}}})
		}
		body := map[string]any{
			"costbook_items": itemRows,
			"estimates":      estRows,
			"estimate_events": []map[string]any{{"id": cp.marker, "estimate_id": l.hotEsts[0], "kind": "marker",
				"payload": map[string]any{"writer": wi, "n": n}}},
			"deletes": map[string]any{"costbook_items": delItems, "estimates": delEsts},
		}
		cp.upserts = append(append([]uuid.UUID{}, items...), ests...)
		cp.deletes = append(append([]uuid.UUID{}, delItems...), delEsts...)

		l.mu.Lock()
		l.issued[cp.marker] = true
		for _, id := range append(append([]uuid.UUID{}, cp.upserts...), cp.deletes...) {
			l.issued[id] = true
		}
		l.mu.Unlock()

		r, err := dev.Exchange(http.MethodPost, devicetest.PushPath, body, nil)
		if err != nil {
			return fmt.Errorf("tenant %d writer %d: %w", ti, wi, err)
		}
		if r.Status != 200 {
			return fmt.Errorf("tenant %d writer %d: push = %d: %s", ti, wi, r.Status, r.Body)
		}
		var receipt struct {
			Version int64 `json:"version"`
		}
		if err := json.Unmarshal(r.Body, &receipt); err != nil || receipt.Version < 1 {
			return fmt.Errorf("tenant %d writer %d: push answered no version: %s", ti, wi, r.Body)
		}
		cp.version = receipt.Version
		l.mu.Lock()
		l.committed = append(l.committed, cp)
		l.byValue[cp.value] = cp
		l.mu.Unlock()
	}
}

// runReader walks from nothing, then from each walk's last cursor (or, for a
// since-reader, from the serverTime of its last walk), until stop. After every
// walk it checks that every push acknowledged so far up to the version of the
// walk's cursor has been delivered, and with setup.fresh, every push
// acknowledged before the walk began. It returns the cursor (or since) to
// continue from.
func runReader(l *tenantLoad, setup proofSetup, rs *readerState, seed uint64, stop <-chan struct{}) (string, error) {
	rng := rand.New(rand.NewPCG(seed, 7))
	from := ""
	for {
		select {
		case <-stop:
			return from, nil
		default:
		}
		var acked []uuid.UUID
		if setup.fresh {
			acked = l.ackedMarkers(-1)
		}
		// Small pages make walks span many requests, and cross table
		// boundaries while writers commit in between.
		cursor, since := from, ""
		if rs.bySince {
			cursor, since = "", from
		}
		pages, err := walkVia(l.dev, setup.readers, rng, cursor, since, 3+rng.IntN(40))
		if err != nil {
			return from, fmt.Errorf("%s: %w", rs.name, err)
		}
		if err := rs.neverBack(pages); err != nil {
			return from, err
		}
		for _, p := range pages {
			if err := rs.apply(p, l.dev.ContractorID); err != nil {
				return from, err
			}
		}
		from = pages[len(pages)-1].Cursor
		if rs.bySince {
			from = pages[0].ServerTime // every page of a walk carries its horizon's time
		}
		rs.walks++
		for _, m := range acked {
			if rs.markers[m] == 0 {
				return from, fmt.Errorf("%s: walk %d completed without push %s, whose 200 arrived before the walk began: a missed change",
					rs.name, rs.walks, m)
			}
		}
		for _, m := range l.ackedMarkers(rs.version) {
			if rs.markers[m] == 0 {
				return from, fmt.Errorf("%s: walk %d ended at version %d without push %s of a version up to it: a missed change",
					rs.name, rs.walks, rs.version, m)
			}
		}
	}
}

// verifyTenant checks one tenant after the drain.
func verifyTenant(t *testing.T, ti int, l *tenantLoad, all []*tenantLoad, readers []*readerState) {
	t.Helper()
	ctx := context.Background()
	// The commit order of every push: its marker's sync_seq is the clock value
	// the push took.
	seqOf := map[uuid.UUID]int64{}
	rows, err := env.Pool.Query(ctx, "SELECT id, sync_seq FROM estimate_events WHERE contractor_id = $1", l.dev.ContractorID)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id uuid.UUID
		var seq int64
		if err := rows.Scan(&id, &seq); err != nil {
			t.Fatal(err)
		}
		seqOf[id] = seq
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	if len(l.committed) < 10 {
		t.Fatalf("tenant %d: only %d pushes committed; the workload proves nothing", ti, len(l.committed))
	}
	seqs := map[int64]bool{}
	for _, cp := range l.committed {
		seq, ok := seqOf[cp.marker]
		if !ok {
			t.Fatalf("tenant %d: push %s answered 200 but its marker is not in the database", ti, cp.value)
		}
		if seqs[seq] {
			t.Fatalf("tenant %d: two pushes share clock value %d", ti, seq)
		}
		seqs[seq] = true
	}

	// Last write wins in commit order: per row, the push with the highest seq
	// that touched it decides.
	expected := map[uuid.UUID]string{}
	lastSeq := map[uuid.UUID]int64{}
	for _, cp := range l.committed {
		seq := seqOf[cp.marker]
		for _, id := range cp.upserts {
			if seq > lastSeq[id] {
				lastSeq[id], expected[id] = seq, cp.value
			}
		}
		for _, id := range cp.deletes {
			if seq > lastSeq[id] {
				lastSeq[id] = seq
				delete(expected, id)
			}
		}
	}
	dbLive := map[uuid.UUID]string{}
	for _, q := range []string{
		"SELECT id, name FROM costbook_items WHERE contractor_id = $1 AND deleted_at IS NULL",
		"SELECT id, number FROM estimates WHERE contractor_id = $1 AND deleted_at IS NULL",
	} {
		rows, err := env.Pool.Query(ctx, q, l.dev.ContractorID)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id uuid.UUID
			var v string
			if err := rows.Scan(&id, &v); err != nil {
				t.Fatal(err)
			}
			dbLive[id] = v
		}
		if rows.Err() != nil {
			t.Fatal(rows.Err())
		}
	}
	if diff := diffStates(expected, dbLive); diff != "" {
		t.Errorf("tenant %d: the database is not last-write-wins in commit order (want = commit order, got = database):\n%s", ti, diff)
	}

	for _, rs := range readers {
		if rs.walks < 2 {
			t.Errorf("%s: only %d walks; the readers did not follow cursors under load", rs.name, rs.walks)
		}
		for _, cp := range l.committed {
			if rs.markers[cp.marker] == 0 {
				t.Errorf("%s: never received push %s (seq %d)", rs.name, cp.value, seqOf[cp.marker])
			}
		}
		if diff := diffStates(dbLive, rs.live); diff != "" {
			t.Errorf("%s: final state differs from the database (want = database, got = reader):\n%s", rs.name, diff)
		}
		for id, values := range rs.history {
			prev := int64(-1)
			for _, v := range values {
				cp, ok := l.byValue[v]
				if !ok || !contains(cp.upserts, id) {
					t.Errorf("%s: row %s was delivered with value %q that no committed push wrote to it", rs.name, id, v)
					continue
				}
				if seq := seqOf[cp.marker]; seq < prev {
					t.Errorf("%s: row %s went back in time: %v", rs.name, id, values)
				} else {
					prev = seq
				}
			}
		}
		for id := range rs.seenIDs {
			if !l.ownID(id) {
				owner := "nobody"
				for oi, other := range all {
					if other.ownID(id) {
						owner = fmt.Sprintf("tenant %d", oi)
					}
				}
				t.Errorf("%s: received id %s, written by %s", rs.name, id, owner)
			}
		}
		dup := 0
		for _, n := range rs.markers {
			dup += n - 1
		}
		t.Logf("%s: %d walks, %d pages, %d pushes received (%d twice)", rs.name, rs.walks, rs.pages, len(rs.markers), dup)
	}
	t.Logf("tenant %d: %d pushes committed, %d live rows", ti, len(l.committed), len(dbLive))
}

func diffStates(want, got map[uuid.UUID]string) string {
	var lines []string
	for id, w := range want {
		if g, ok := got[id]; !ok {
			lines = append(lines, fmt.Sprintf("  %s: want %q, got nothing", id, w))
		} else if g != w {
			lines = append(lines, fmt.Sprintf("  %s: want %q, got %q", id, w, g))
		}
	}
	for id, g := range got {
		if _, ok := want[id]; !ok {
			lines = append(lines, fmt.Sprintf("  %s: want nothing, got %q", id, g))
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func pick(rng *rand.Rand, from []uuid.UUID, n int) []uuid.UUID {
	if n > len(from) {
		n = len(from)
	}
	out := []uuid.UUID{}
	for _, i := range rng.Perm(len(from))[:n] {
		out = append(out, from[i])
	}
	return out
}

func without(from, drop []uuid.UUID) []uuid.UUID {
	var out []uuid.UUID
	for _, id := range from {
		if !contains(drop, id) {
			out = append(out, id)
		}
	}
	return out
}

func contains(ids []uuid.UUID, id uuid.UUID) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// neverBack checks that a walk took the reader back nowhere: every cursor
// it handed out stands at or past the last resting cursor the reader had
// (a page from a database that has not replayed what the reader has seen
// would hand out an older one), and a since-reader's serverTime does not go
// back either (it would have to pull again what it had). A since-reader
// keeps no cursor: a walk from its since that a replica further behind
// serves ends at that replica's version, which says truly what the walk
// delivered up to; its version is only that of its last walk.
func (r *readerState) neverBack(pages []devicetest.Page) error {
	if r.bySince {
		r.version = -1
	}
	for i, p := range pages {
		v, paging, err := syncstore.CursorVersion(p.Cursor)
		if err != nil {
			return fmt.Errorf("%s: page %d: %w", r.name, i, err)
		}
		if v < r.version {
			return fmt.Errorf("%s: walk %d page %d handed out a cursor at version %d, behind the %d the reader had: a cursor went back",
				r.name, r.walks+1, i, v, r.version)
		}
		if !paging {
			r.version = v
		}
	}
	if r.bySince {
		at, err := time.Parse(time.RFC3339Nano, pages[0].ServerTime)
		if err != nil {
			return fmt.Errorf("%s: serverTime %q: %w", r.name, pages[0].ServerTime, err)
		}
		if at.Before(r.since) {
			return fmt.Errorf("%s: walk %d answered serverTime %s, before the %s it had: its since went back",
				r.name, r.walks+1, pages[0].ServerTime, r.since.Format(time.RFC3339Nano))
		}
		r.since = at
	}
	return nil
}
