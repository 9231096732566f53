package replica

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// Run probes every replica now and then every ProbeInterval until ctx is
// done. A probe reads the primary's WAL position, then each replica's
// replay position (all replicas at once, each bounded by the interval): a
// replica is usable when it is a standby in recovery whose replay lag is
// within MaxLag.
//
// Why the lag is measured against the primary's WAL rather than with
// pg_last_xact_replay_timestamp() alone: that is the commit time of the
// last transaction replayed, which stops moving when the primary is idle
// (a caught-up replica would look ever further behind) and says nothing
// when the replica stopped receiving WAL (it would look caught up with
// what it has). Here the probe keeps the primary's positions over time;
// a replica that has replayed position R is as far behind as the time since
// the primary was at R (interpolated between two samples), and not behind
// at all when R is past the last sample.
func (s *Set) Run(ctx context.Context) {
	if s == nil || len(s.replicas) == 0 {
		return
	}
	ticker := time.NewTicker(s.opts.ProbeInterval)
	defer ticker.Stop()
	for {
		s.Probe(ctx)
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// Probe measures every replica once (Run calls it; tests may too).
func (s *Set) Probe(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.ProbeInterval)
	defer cancel()
	var lsn pgtype.Text
	if err := s.primary.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&lsn); err == nil {
		if pos, err := parseLSN(lsn.String); err == nil {
			s.samples.add(time.Now(), pos)
		}
	} else if ctx.Err() == nil {
		// The lag is measured against the samples kept: a replica that has
		// replayed the last of them stays usable while the primary is away.
		s.opts.Logger.Warn("replica probe: reading the primary's WAL position failed", "err", err)
	}
	var wg sync.WaitGroup
	for _, r := range s.replicas {
		wg.Go(func() { r.probe(ctx) })
	}
	wg.Wait()
}

func (r *Replica) probe(ctx context.Context) {
	var inRecovery bool
	var replayed pgtype.Text
	err := r.pool.QueryRow(ctx, "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text").Scan(&inRecovery, &replayed)
	switch {
	case ctx.Err() != nil && err != nil:
		r.setState(false, r.Lag(), 0, "no answer to the probe within "+r.set.opts.ProbeInterval.String())
		return
	case err != nil:
		r.setState(false, r.Lag(), 0, "probe: "+err.Error())
		return
	case !inRecovery || !replayed.Valid:
		r.setState(false, 0, 0, "not a standby in recovery (pg_is_in_recovery() is false): it does not follow the primary")
		return
	}
	pos, err := parseLSN(replayed.String)
	if err != nil {
		r.setState(false, r.Lag(), 0, "probe: "+err.Error())
		return
	}
	lag, behind, known := r.set.samples.lagOf(pos, time.Now())
	switch {
	case !known:
		r.setState(false, lag, behind, "the primary's WAL position is not known yet")
	case lag > r.set.opts.MaxLag:
		r.setState(false, lag, behind, fmt.Sprintf("replay lag %s over SYNC_REPLICA_MAX_LAG %s", lag.Round(time.Millisecond), r.set.opts.MaxLag))
	default:
		r.setState(true, lag, behind, "")
	}
}

// walSamples are the primary's WAL positions over the last keep.
type walSamples struct {
	keep time.Duration
	mu   sync.Mutex
	at   []time.Time
	pos  []uint64
}

func (w *walSamples) add(t time.Time, pos uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.at, w.pos = append(w.at, t), append(w.pos, pos)
	drop := 0
	for drop < len(w.at)-2 && t.Sub(w.at[drop+1]) > w.keep {
		drop++ // keep one sample older than keep: the lag of a replica behind all others is at least its age
	}
	w.at, w.pos = w.at[drop:], w.pos[drop:]
}

// lagOf is how far behind the primary a replica that has replayed pos is
// at now: zero when pos is at or past the last sample; otherwise the time
// since the primary passed pos, interpolated between the samples around
// it, or at least the age of the oldest sample when pos is before all.
// behind is the bytes between pos and the last sample. known is false
// before the first sample.
func (w *walSamples) lagOf(pos uint64, now time.Time) (lag time.Duration, behind int64, known bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(w.pos)
	if n == 0 {
		return 0, 0, false
	}
	last := w.pos[n-1]
	if pos >= last {
		return 0, 0, true
	}
	behind = int64(last - pos)
	if pos < w.pos[0] {
		return now.Sub(w.at[0]), behind, true
	}
	// The primary was at w.pos[i] at w.at[i]: find the samples around pos.
	for i := n - 1; i > 0; i-- {
		lo, hi := w.pos[i-1], w.pos[i]
		if pos >= lo && pos < hi {
			frac := float64(pos-lo) / float64(hi-lo)
			passed := w.at[i-1].Add(time.Duration(frac * float64(w.at[i].Sub(w.at[i-1]))))
			return now.Sub(passed), behind, true
		}
	}
	return now.Sub(w.at[0]), behind, true
}

// parseLSN reads a pg_lsn's text form, "16/B374D848".
func parseLSN(s string) (uint64, error) {
	var hi, lo uint32
	if _, err := fmt.Sscanf(s, "%X/%X", &hi, &lo); err != nil {
		return 0, fmt.Errorf("WAL position %q: %w", s, err)
	}
	return uint64(hi)<<32 | uint64(lo), nil
}
