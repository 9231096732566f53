package replica

import (
	"testing"
	"time"
)

// The lag of a replica is the time since the primary was where the replica
// has replayed to: zero at or past the last sample, interpolated between
// two, at least the age of the oldest before all of them.
func TestWALSamples_LagOf(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w := walSamples{keep: time.Hour}
	w.add(t0, 1000)
	w.add(t0.Add(time.Second), 2000)
	w.add(t0.Add(2*time.Second), 2000) // idle: the position did not move
	w.add(t0.Add(3*time.Second), 4000)
	now := t0.Add(3 * time.Second)
	cases := []struct {
		replayed uint64
		lag      time.Duration
		behind   int64
	}{
		{4000, 0, 0},
		{5000, 0, 0},
		{3000, 500 * time.Millisecond, 1000}, // half way from 2000 (at 2 s) to 4000 (at 3 s)
		{2000, time.Second, 2000},            // the primary left 2000 at 2 s
		{1500, 2500 * time.Millisecond, 2500},
		{500, 3 * time.Second, 3500}, // before every sample: at least the oldest's age
	}
	for _, c := range cases {
		lag, behind, known := w.lagOf(c.replayed, now)
		if !known || lag != c.lag || behind != c.behind {
			t.Errorf("replayed %d: lag %s, %d bytes behind (known %v); want %s, %d", c.replayed, lag, behind, known, c.lag, c.behind)
		}
	}
	if _, _, known := (&walSamples{keep: time.Hour}).lagOf(1, now); known {
		t.Error("a lag is known before the primary was ever sampled")
	}
}

// Samples older than keep are dropped, but one older is kept: a replica
// behind all the others is at least that far behind.
func TestWALSamples_Keep(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w := walSamples{keep: 2 * time.Second}
	for i := range 10 {
		w.add(t0.Add(time.Duration(i)*time.Second), uint64(1000*(i+1)))
	}
	if len(w.at) != 4 || !w.at[0].Equal(t0.Add(6*time.Second)) {
		t.Fatalf("kept %d samples from %s, want 4 from 6 s", len(w.at), w.at[0].Sub(t0))
	}
}

func TestParseLSN(t *testing.T) {
	for text, want := range map[string]uint64{"0/0": 0, "16/B374D848": 0x16_B374D848, "FFFFFFFF/FFFFFFFF": ^uint64(0)} {
		if got, err := parseLSN(text); err != nil || got != want {
			t.Errorf("parseLSN(%q) = %x, %v; want %x", text, got, err, want)
		}
	}
	if _, err := parseLSN("nope"); err == nil {
		t.Error("parseLSN accepted nope")
	}
}
