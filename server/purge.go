package server

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/syncproxy/syncproxy/gen/db"
	"github.com/syncproxy/syncproxy/server/opspage"
	"github.com/syncproxy/syncproxy/server/pgtx"
	"github.com/syncproxy/syncproxy/server/syncstore"
)

// purgeTimeout bounds one purge so a stuck database cannot pile them up.
const purgeTimeout = time.Minute

// purgeIdempotencyKeys deletes expired Idempotency-Keys now and then every
// interval until ctx is done. Expiry is already enforced when a key is read;
// this only keeps the table from growing without bound.
func purgeIdempotencyKeys(ctx context.Context, pool *pgtx.Pool, ttl, interval time.Duration, logger *slog.Logger, activity *opspage.Activity) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	q := db.New(pool)
	for {
		runCtx, cancel := context.WithTimeout(ctx, purgeTimeout)
		n, err := q.PurgeIdempotencyKeys(runCtx, ttl.Seconds())
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			logger.Warn("purging expired idempotency keys failed; retrying next interval", "err", err)
			activity.Note("idempotency key purge", "failed; retrying next interval", true)
		case n > 0:
			logger.Info("purged expired idempotency keys", "count", n)
			activity.Note("idempotency key purge", fmt.Sprintf("deleted %d keys older than %s", n, ttl), false)
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// purgeTombstones retires tombstones older than retention now and then every
// interval until ctx is done. A purge waits grace (the request deadline)
// between raising the low-water marks and deleting, so a pull that read the
// old marks has finished before the tombstones go.
func purgeTombstones(ctx context.Context, store *syncstore.Store, retention, interval, grace time.Duration, logger *slog.Logger, activity *opspage.Activity) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		start := time.Now()
		p, err := store.PurgeTombstones(ctx, retention, grace)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			logger.Warn("purging tombstones failed; retrying next interval", "err", err)
			activity.Note("tombstone purge", "failed; retrying next interval", true)
		case p.Deleted > 0:
			logger.Info("purged tombstones", "deleted", p.Deleted, "retention", retention.String(),
				"duration_ms", time.Since(start).Milliseconds())
			activity.Note("tombstone purge", fmt.Sprintf("deleted %d tombstones older than %s in %s", p.Deleted, retention, time.Since(start).Round(time.Millisecond)), false)
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}
