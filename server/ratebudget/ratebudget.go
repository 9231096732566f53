// Package ratebudget makes a contractor's rate limit one budget across the
// instances of a server, at no round trip per request: each instance keeps
// its token buckets in memory (server/middleware) and, once an interval,
// exchanges its spend with the others through Postgres in one statement
// (queries/ratebudget.sql).
//
// What N instances do to a contractor's budget. Each instance refills its
// bucket at the rate r (SYNC_RATE_LIMIT) up to the burst b and debits
// what it spends at once and what the others spend once it reads their
// report: a report waits at most one interval Δ to be written and one more
// to be read. So over any T seconds a contractor gets at most
//
//	r·T + N·b + 2·(N−1)·r·Δ    tokens
//
// (each instance may grant its burst before it hears of the others', and
// each may grant up to 2Δ of the rate the others already granted), against
// N·(r·T + b) with buckets of their own. Over a minute at the defaults
// (r 50/s, b 100, Δ 1 s) and 4 instances: 3,000 + 400 + 300 against 12,400.
// Per auth user the limit stays per instance: it only refuses a flood
// before the tenant lookup, and a user's requests count towards its
// contractor's budget, which is shared.
package ratebudget

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/syncproxy/syncproxy/gen/db"
	"github.com/syncproxy/syncproxy/server/pgtx"
)

// Ledger is a rate limiter that reports its spend and takes the others'
// (middleware.RateLimiter after ShareSpend).
type Ledger interface {
	TakeSpent() map[uuid.UUID]int64
	Unreported(map[uuid.UUID]int64)
	Debit(map[uuid.UUID]int64)
}

// Exchange is one instance's side of the shared budget.
type Exchange struct {
	pool     *pgtx.Pool
	ledger   Ledger
	instance uuid.UUID
	keep     time.Duration
	seen     *string // the snapshot of the last exchange; nil before the first
}

// New returns the exchange of ledger's spend through pool, for an instance
// that exchanges every interval. Its reports are kept a minute, or twenty
// intervals if longer: every other instance reads them long before.
func New(pool *pgtx.Pool, ledger Ledger, interval time.Duration) *Exchange {
	return &Exchange{pool: pool, ledger: ledger, instance: uuid.New(), keep: max(time.Minute, 20*interval)}
}

// Once reports the spend since the last exchange and debits what the other
// instances reported since. On an error the spend is kept for the next one.
func (e *Exchange) Once(ctx context.Context) error {
	spent := e.ledger.TakeSpent()
	keys := make([]uuid.UUID, 0, len(spent))
	tokens := make([]int64, 0, len(spent))
	for key, n := range spent {
		keys, tokens = append(keys, key), append(tokens, n)
	}
	row, err := db.New(e.pool).ExchangeRateSpend(ctx, db.ExchangeRateSpendParams{
		InstanceID: e.instance, Contractors: keys, Tokens: tokens, KeepSeconds: e.keep.Seconds(), Seen: e.seen,
	})
	if err != nil {
		e.ledger.Unreported(spent)
		return fmt.Errorf("rate budget: exchange: %w", err)
	}
	e.seen = &row.Seen
	if len(row.Contractors) != len(row.Tokens) {
		return fmt.Errorf("rate budget: %d contractors with %d spends", len(row.Contractors), len(row.Tokens))
	}
	debit := make(map[uuid.UUID]int64, len(row.Contractors))
	for i, key := range row.Contractors {
		debit[key] += row.Tokens[i]
	}
	e.ledger.Debit(debit)
	return nil
}

// Run exchanges every interval until ctx is done; failures are logged and
// the spend goes with the next exchange.
func (e *Exchange) Run(ctx context.Context, interval time.Duration, logger *slog.Logger) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		runCtx, cancel := context.WithTimeout(ctx, max(interval, time.Second))
		err := e.Once(runCtx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil && !failing:
			logger.Warn("rate limit budget: exchanging spend with the other instances failed; buckets stay local until it works again", "err", err)
		case err == nil && failing:
			logger.Info("rate limit budget: exchanging spend with the other instances again")
		}
		failing = err != nil
	}
}
