package syncstore

import (
	"errors"
	"fmt"
)

// The store's failures that are the client's to fix. server/apierror maps
// them to statuses; the store knows nothing of HTTP.

// ErrIdempotencyKeyReused is an Idempotency-Key sent again with another body.
var ErrIdempotencyKeyReused = errors.New("this Idempotency-Key was already used with a different body; use a new key")

// ErrCursorAndSince is a pull that gives both a cursor and since.
var ErrCursorAndSince = errors.New("give either cursor or since, not both")

// BadCursor is a cursor this server did not issue, or one that is corrupt.
type BadCursor struct {
	Reason string
}

func (e *BadCursor) Error() string { return "invalid cursor: " + e.Reason }

// ForeignRow is a pushed row whose key the caller may not write: a
// contractors row whose id is not the caller's own contractor.
type ForeignRow struct {
	Source string // the push property
	Index  int
	Field  string
	Reason string
}

func (e *ForeignRow) Error() string {
	return fmt.Sprintf("%s[%d].%s: %s", e.Source, e.Index, e.Field, e.Reason)
}
