package middleware

import "github.com/google/uuid"

// A budget shared by the instances of a server (issue 22). Each instance
// keeps its own buckets, so a request costs no round trip, and exchanges
// what it spent with the others once in a while (server/ratebudget): it
// reports the tokens it took per key since the last exchange (TakeSpent)
// and takes from its own buckets what the others took meanwhile (Debit).
// Every instance's bucket of a key then sees every instance's spending,
// late by at most the exchange interval, and together they let a key spend
// its rate once, not once per instance.

// ShareSpend makes the limiter record the tokens it takes, for TakeSpent.
// Call it before the limiter is used.
func (l *RateLimiter) ShareSpend() {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.spent == nil {
		l.spent = map[uuid.UUID]int64{}
	}
}

// TakeSpent returns the tokens taken per key since the last call, and
// starts counting again (nil when nothing was taken).
func (l *RateLimiter) TakeSpent() map[uuid.UUID]int64 {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.spent) == 0 {
		return nil
	}
	out := l.spent
	l.spent = map[uuid.UUID]int64{}
	return out
}

// Unreported gives back spend TakeSpent returned that could not be
// reported, to go with the next report.
func (l *RateLimiter) Unreported(spent map[uuid.UUID]int64) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for key, n := range spent {
		l.spent[key] += n
	}
}

// Debit takes from each key's bucket what other instances spent on it. A
// key this instance has no bucket for gets one (full, less the debit): its
// next request here must not find the burst that was spent elsewhere.
func (l *RateLimiter) Debit(spent map[uuid.UUID]int64) {
	if l == nil || len(spent) == 0 {
		return
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	for key, n := range spent {
		l.bucketOf(key, now).tokens -= float64(n)
	}
}

// record counts n tokens taken from key's bucket; l.mu is held.
func (l *RateLimiter) record(key uuid.UUID, n int64) {
	if l.spent != nil && n > 0 {
		l.spent[key] += n
	}
}
