// Package live holds the live pulls of one server instance (contract 1.2,
// `pull?cursor=…&wait=S`): who is waiting for which contractor's tables,
// and what wakes them. A push that commits on this instance wakes its
// waiters directly (Announce, no database round trip); pushes on other
// instances arrive through Postgres, by LISTEN on one direct connection or,
// behind a transaction pooler, by one shared poll of the clock table
// (feed.go). A waiter is a few dozen bytes and a channel: no goroutine of
// its own, no database connection, no buffer until it is woken.
package live

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// Tables is a set of tables by ordinal (the registry's order), as a bit mask.
type Tables uint64

// maxTables is how many tables a mask holds.
const maxTables = 64

// Hub is the waiters of one instance. Its zero value is not usable: New.
type Hub struct {
	ordinals map[string]int

	mu      sync.Mutex
	waiting map[uuid.UUID][]*Waiter // by contractor
	held    atomic.Int64
	closing chan struct{} // closed by Close
	closed  bool
	parked  sync.WaitGroup // the goroutines of parked connections (Park)
}

// New returns a hub for the tables named in registry order.
func New(tables []string) (*Hub, error) {
	if len(tables) > maxTables {
		return nil, fmt.Errorf("live: %d tables, more than a mask of %d holds", len(tables), maxTables)
	}
	h := &Hub{ordinals: make(map[string]int, len(tables)), waiting: map[uuid.UUID][]*Waiter{}, closing: make(chan struct{})}
	for i, t := range tables {
		h.ordinals[t] = i
	}
	return h, nil
}

// Mask is the set of the named tables; no names is every table. A name the
// hub does not know is an error (the spec's enum let it through: a wiring
// bug).
func (h *Hub) Mask(names []string) (Tables, error) {
	if len(names) == 0 {
		return Tables(1)<<len(h.ordinals) - 1, nil
	}
	var m Tables
	for _, n := range names {
		i, ok := h.ordinals[n]
		if !ok {
			return 0, fmt.Errorf("live: no table %q", n)
		}
		m |= 1 << i
	}
	return m, nil
}

// Waiter is one held pull: its contractor and tables, the version its pull
// has delivered up to, and the greatest version since announced for its
// tables.
type Waiter struct {
	contractor uuid.UUID
	tables     Tables
	base       int64 // under Hub.mu; -1 until the first page fixed it
	seen       int64 // under Hub.mu: the greatest version announced for its tables
	wake       chan struct{}
	interrupt  func() // under Hub.mu: wakes a parked waiter (Interrupt); nil: wake is its signal
}

// Hold registers a waiter for contractor's tables. It is registered before
// the pull that may find nothing new, so that a push committing after that
// pull read the clock cannot be missed. Release it when the request ends.
func (h *Hub) Hold(contractor uuid.UUID, tables Tables) *Waiter {
	w := &Waiter{contractor: contractor, tables: tables, base: -1, wake: make(chan struct{}, 1)}
	h.mu.Lock()
	h.waiting[contractor] = append(h.waiting[contractor], w)
	h.mu.Unlock()
	h.held.Add(1)
	return w
}

// Release removes w: the request is answered, or its client went away.
func (h *Hub) Release(w *Waiter) {
	h.mu.Lock()
	list := h.waiting[w.contractor]
	for i, o := range list {
		if o == w {
			last := len(list) - 1
			list[i], list[last] = list[last], nil
			list = list[:last]
			break
		}
	}
	if len(list) == 0 {
		delete(h.waiting, w.contractor)
	} else {
		h.waiting[w.contractor] = list
	}
	h.mu.Unlock()
	h.held.Add(-1)
}

// Held is how many pulls are held now (the metric).
func (h *Hub) Held() int64 { return h.held.Load() }

// Announce wakes contractor's waiters on any of tables whose pull has not
// delivered version: a push that committed version, writing tables.
func (h *Hub) Announce(contractor uuid.UUID, version int64, tables Tables) {
	h.announce(contractor, func(want Tables) int64 {
		if want&tables == 0 {
			return 0
		}
		return version
	})
}

// AnnounceClock wakes contractor's waiters from its clock as read from the
// database: seqs[i] is the version of the last push that wrote table i.
func (h *Hub) AnnounceClock(contractor uuid.UUID, seqs []int64) {
	h.announce(contractor, func(want Tables) int64 {
		var v int64
		for i, s := range seqs {
			if want&(1<<i) != 0 {
				v = max(v, s)
			}
		}
		return v
	})
}

// announce records, for each of contractor's waiters, the last version of
// its tables, and wakes those it is news to.
func (h *Hub) announce(contractor uuid.UUID, lastOf func(Tables) int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, w := range h.waiting[contractor] {
		v := lastOf(w.tables)
		if v <= w.seen {
			continue
		}
		w.seen = v
		if v > w.base {
			w.signal()
		}
	}
}

// Contractors lists the contractors with a waiter now (for the poll).
func (h *Hub) Contractors() []uuid.UUID {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]uuid.UUID, 0, len(h.waiting))
	for c := range h.waiting {
		out = append(out, c)
	}
	return out
}

// Outcome is why Wait returned.
type Outcome int

const (
	// Woken: a version past the base was announced for the waiter's tables.
	Woken Outcome = iota
	// TimedOut: the deadline passed first.
	TimedOut
	// Gone: the request's context ended (its client went away).
	Gone
	// Closing: the server is shutting down.
	Closing
	// Waiting: none of the above yet (Check).
	Waiting
)

// Wait holds w until a version past base is announced for its tables
// (Woken, with that version), until deadline, until ctx ends or until the
// hub closes. base is the version the pull has delivered up to; a version
// announced before Wait that base already covers does not count.
func (h *Hub) Wait(ctx context.Context, w *Waiter, base int64, deadline time.Time) (Outcome, int64) {
	h.mu.Lock()
	w.base = base
	seen := w.seen
	h.mu.Unlock()
	if seen > base {
		return Woken, seen
	}
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for {
		select {
		case <-w.wake:
			h.mu.Lock()
			seen := w.seen
			h.mu.Unlock()
			if seen > base {
				return Woken, seen
			}
		case <-timer.C:
			return TimedOut, 0
		case <-ctx.Done():
			return Gone, 0
		case <-h.closing:
			return Closing, 0
		}
	}
}

// signal wakes w, waiting in Wait or parked; h.mu is held.
func (w *Waiter) signal() {
	if w.interrupt != nil {
		w.interrupt()
		return
	}
	select {
	case w.wake <- struct{}{}:
	default: // already signalled
	}
}

// Close answers every held pull (Closing) and every later Wait at once:
// the server is shutting down and must not wait for them.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closed {
		h.closed = true
		close(h.closing)
		for _, list := range h.waiting {
			for _, w := range list {
				if w.interrupt != nil {
					w.interrupt()
				}
			}
		}
	}
}

// Park runs fn, a parked connection's goroutine (server/handlers): Drain
// waits for every one of them.
func (h *Hub) Park(fn func()) { h.parked.Go(fn) }

// Drain waits until the parked connections have answered (after Close,
// they answer at once), or ctx ends.
func (h *Hub) Drain(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		h.parked.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Interrupt makes fn how w is woken (a parked connection moves its read
// deadline to now), instead of Wait's channel. Call Check after it: a wake
// before it is not repeated.
func (h *Hub) Interrupt(w *Waiter, fn func()) {
	h.mu.Lock()
	w.interrupt = fn
	h.mu.Unlock()
}

// Check is Wait without waiting, for a parked waiter: Woken (with the
// version) when a version past base was announced for its tables, Closing,
// TimedOut past deadline, else Waiting.
func (h *Hub) Check(w *Waiter, base int64, deadline time.Time) (Outcome, int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	w.base = base
	switch {
	case w.seen > base:
		return Woken, w.seen
	case h.closed:
		return Closing, 0
	case !time.Now().Before(deadline):
		return TimedOut, 0
	}
	return Waiting, 0
}

// Contractor is whose pull w is.
func (w *Waiter) Contractor() uuid.UUID { return w.contractor }
