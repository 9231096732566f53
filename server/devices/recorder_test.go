package devices

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/syncproxy/syncproxy/gen/db"
	"github.com/syncproxy/syncproxy/wire"
)

// batches keeps what a Recorder flushes. The ledger's SQL is tested against
// Postgres by server/blackbox (devices_test.go); this is the aggregation
// in memory, which decides what that SQL receives.
type batches struct {
	mu  sync.Mutex
	got []db.RecordDevicesParams
}

func (b *batches) RecordDevices(_ context.Context, p db.RecordDevicesParams) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.got = append(b.got, p)
	return nil
}

func TestRecorder_AggregatesPerDevice_OneEntryPerKey(t *testing.T) {
	w := &batches{}
	r := NewRecorder(w, Options{})
	c1, c2 := uuid.MustParse("10000000-0000-0000-0000-000000000000"), uuid.MustParse("20000000-0000-0000-0000-000000000000")
	dev := uuid.MustParse("00000000-0000-0000-0000-00000000000a")
	u1, u2 := uuid.New(), uuid.New()
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

	r.Record(Request{ContractorID: c2, DeviceID: dev, UserID: u1, UserAgent: "App/1", Kind: Push, Status: 200, At: at(1)})
	r.Record(Request{ContractorID: c1, DeviceID: dev, UserID: u1, UserAgent: "App/1", Kind: Push, Status: 200, At: at(1)})
	r.Record(Request{ContractorID: c1, DeviceID: dev, UserID: u1, Kind: Push, Status: 409, At: at(2)})
	r.Record(Request{ContractorID: c1, DeviceID: dev, UserID: u1, Kind: Push, Status: 400, At: at(3)})
	r.Record(Request{ContractorID: c1, DeviceID: dev, UserID: u1, Kind: Push, Status: 503, At: at(4)})
	r.Record(Request{ContractorID: c1, DeviceID: dev, UserID: u2, UserAgent: "App/2", Kind: Pull, Status: 200, At: at(6),
		Pulled: &Pulled{Version: 7, Time: at(5)}})
	// Answered out of order: an older request moves nothing back.
	r.Record(Request{ContractorID: c1, DeviceID: dev, UserID: u1, UserAgent: "App/1", Kind: Pull, Status: 200, At: at(0),
		Pulled: &Pulled{Version: 3, Time: at(0)}})
	r.Record(Request{ContractorID: c1, DeviceID: NoDevice, UserID: u1, Kind: Other, Status: 200, At: at(2)})

	if n := r.Pending(); n != 3 {
		t.Fatalf("pending = %d, want 3 (two devices of c1, one of c2)", n)
	}
	if n := r.Flush(context.Background()); n != 3 {
		t.Fatalf("flushed %d entries, want 3", n)
	}
	if r.Pending() != 0 {
		t.Fatal("entries left after a flush")
	}
	if len(w.got) != 2 || w.got[0].ContractorID != c1 || w.got[1].ContractorID != c2 {
		t.Fatalf("batches = %d, want one per contractor in order (c1, c2)", len(w.got))
	}
	p := w.got[0]
	if len(p.DeviceIds) != 2 || p.DeviceIds[0] != NoDevice || p.DeviceIds[1] != dev {
		t.Fatalf("c1's devices = %v, want no device then dev, once each", p.DeviceIds)
	}
	i := 1
	want := map[string][2]int64{
		"pushes": {p.Pushes[i], 1}, "conflicts": {p.Conflicts[i], 1}, "rejected": {p.RejectedPushes[i], 1},
		"pulls": {p.Pulls[i], 2}, "pulled version": {p.PulledVersions[i], 7}, "pulled at": {p.PulledVersionAt[i], at(5).UnixMicro()},
		"first seen": {p.FirstSeen[i], at(0).UnixMicro()}, "last seen": {p.LastSeen[i], at(6).UnixMicro()},
		"last push": {p.LastPushAt[i], at(4).UnixMicro()}, "last pull": {p.LastPullAt[i], at(6).UnixMicro()},
	}
	for name, v := range want {
		if v[0] != v[1] {
			t.Errorf("%s = %d, want %d", name, v[0], v[1])
		}
	}
	if p.AuthUserIds[i] != u2 || p.UserAgents[i] != "App/2" {
		t.Errorf("user %s agent %q, want the latest request's (%s, App/2)", p.AuthUserIds[i], p.UserAgents[i], u2)
	}
	// The request without a device: seen, nothing pushed or pulled.
	if p.Pushes[0] != 0 || p.Pulls[0] != 0 || p.LastPushAt[0] != 0 || p.LastPullAt[0] != 0 || p.PulledVersions[0] != -1 {
		t.Errorf("no device: pushes %d pulls %d lastPush %d lastPull %d pulled %d; want nothing but seen",
			p.Pushes[0], p.Pulls[0], p.LastPushAt[0], p.LastPullAt[0], p.PulledVersions[0])
	}
}

func TestRecorder_Full_DropsNewDevicesKeepsCounting(t *testing.T) {
	w := &batches{}
	r := NewRecorder(w, Options{MaxPending: 2})
	c := uuid.New()
	a, b, extra := uuid.New(), uuid.New(), uuid.New()
	now := time.Now()
	for _, d := range []uuid.UUID{a, b, extra, a} {
		r.Record(Request{ContractorID: c, DeviceID: d, Kind: Push, Status: 200, At: now})
	}
	if n := r.Pending(); n != 2 {
		t.Fatalf("pending = %d, want the cap, 2", n)
	}
	r.Flush(context.Background())
	total := int64(0)
	for _, p := range w.got {
		for i, d := range p.DeviceIds {
			if d == extra {
				t.Error("a device past the cap was recorded")
			}
			total += p.Pushes[i]
		}
	}
	if total != 3 {
		t.Errorf("pushes recorded = %d, want 3 (a's two, b's one)", total)
	}
}

func TestRecorder_UserAgentBounded(t *testing.T) {
	w := &batches{}
	r := NewRecorder(w, Options{})
	r.Record(Request{ContractorID: uuid.New(), UserAgent: strings.Repeat("é", MaxUserAgent), At: time.Now()})
	r.Flush(context.Background())
	ua := w.got[0].UserAgents[0]
	if len(ua) > MaxUserAgent || !strings.HasPrefix(strings.Repeat("é", MaxUserAgent), ua) {
		t.Errorf("user agent kept as %d bytes (%q...), want at most %d on a rune boundary", len(ua), ua[:8], MaxUserAgent)
	}
}

func TestRecorder_RunFlushesOnStop(t *testing.T) {
	w := &batches{}
	r := NewRecorder(w, Options{FlushInterval: time.Hour})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	r.Record(Request{ContractorID: uuid.New(), Kind: Pull, Status: 200, At: time.Now()})
	stop()
	<-done
	if len(w.got) != 1 {
		t.Fatalf("batches after stop = %d, want the pending entry written", len(w.got))
	}
}

func TestLagOf(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	ts := func(s int) wireTime { return wireOf(t0.Add(time.Duration(s) * time.Second)) }
	v := func(n int64) *int64 { return &n }
	for _, tc := range []struct {
		name string
		row  db.ListDevicesRow
		want Lag
	}{
		{"up to date", db.ListDevicesRow{PulledVersion: v(9), PulledVersionAt: ts(10).p(), ContractorVersion: 9, ContractorVersionAt: ts(10).v()}, Lag{}},
		{"behind", db.ListDevicesRow{PulledVersion: v(7), PulledVersionAt: ts(10).p(), ContractorVersion: 9, ContractorVersionAt: ts(75).v()}, Lag{2, 65}},
		{"never pulled", db.ListDevicesRow{FirstSeen: ts(0).v(), ContractorVersion: 4, ContractorVersionAt: ts(30).v()}, Lag{4, 30}},
		{"never pulled, nothing to pull", db.ListDevicesRow{FirstSeen: ts(0).v(), ContractorVersionAt: ts(30).v()}, Lag{}},
	} {
		if got := LagOf(tc.row); got != tc.want {
			t.Errorf("%s: lag = %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

type wireTime struct{ t time.Time }

func wireOf(t time.Time) wireTime    { return wireTime{t} }
func (w wireTime) v() wire.Timestamp { return wire.NewTimestamp(w.t) }
func (w wireTime) p() *wire.Timestamp {
	ts := wire.NewTimestamp(w.t)
	return &ts
}

// Under go test -race: requests recorded while flushes run, also flushes
// that find nothing (issue 19's race report: an empty batch's length was
// read after the lock, while Record wrote the same map).
func TestRecorder_RecordWhileFlushing(t *testing.T) {
	w := &batches{}
	r := NewRecorder(w, Options{})
	c := uuid.New()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 2000 {
			r.Record(Request{ContractorID: c, DeviceID: uuid.New(), Kind: Push, Status: 200, At: time.Now()})
		}
	}()
	flushed := 0
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		flushed += r.Flush(context.Background())
	}
	flushed += r.Flush(context.Background())
	if flushed != 2000 {
		t.Errorf("flushed %d entries, want the 2000 recorded", flushed)
	}
}
