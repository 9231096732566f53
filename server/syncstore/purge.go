package syncstore

import (
	"context"
	"fmt"
	"time"

	"github.com/syncproxy/syncproxy/gen/db"
	"github.com/syncproxy/syncproxy/wire"
)

// Purged is what one purge of tombstones did.
type Purged struct {
	Marked  int64 // contractors whose low-water mark rose (summed over tables)
	Deleted int64 // tombstones deleted
}

// PurgeTombstones deletes, across contractors, the tombstones older than
// retention. It first raises each contractor's low-water mark (so cursors and
// since values older than the purged tombstones get 410 from then on), then
// waits grace, the longest a request may run, so that no pull that read the
// old mark can still be reading tables, and only then deletes: a delta can
// never silently lack a deletion.
func (s *Store) PurgeTombstones(ctx context.Context, retention, grace time.Duration) (Purged, error) {
	var p Purged
	cutoff := wire.NewTimestamp(time.Now().Add(-retention))
	err := s.withTx(ctx, func(_ db.DBTX, q *db.Queries) error {
		for i := range tables {
			t := &tables[i]
			if t.markTombstones == nil {
				continue
			}
			n, err := t.markTombstones(ctx, q, cutoff)
			if err != nil {
				return fmt.Errorf("mark %s: %w", t.name, err)
			}
			p.Marked += n
		}
		return nil
	})
	if err != nil {
		return p, fmt.Errorf("purge tombstones: %w", err)
	}
	select {
	case <-time.After(grace):
	case <-ctx.Done():
		return p, ctx.Err()
	}
	q := db.New(s.pool)
	for i := range tables {
		t := &tables[i]
		if t.purgeTombstones == nil {
			continue
		}
		n, err := t.purgeTombstones(ctx, q, cutoff)
		if err != nil {
			return p, fmt.Errorf("purge %s tombstones: %w", t.name, err)
		}
		p.Deleted += n
	}
	return p, nil
}
