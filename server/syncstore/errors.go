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

// RejectedRow is a pushed row the spec could not refuse but the store must:
// a contractors row whose id is not the caller's own contractor, or entries
// of one key that disagree on base_version.
type RejectedRow struct {
	Source  string // the push property
	Index   int
	Field   string
	Reason  string
	Message string // for the client: what the push did wrong
}

func (e *RejectedRow) Error() string {
	return fmt.Sprintf("%s[%d].%s: %s", e.Source, e.Index, e.Field, e.Reason)
}

// ErrResyncRequired is a cursor or since older than the tombstones the
// server still keeps: the client drops it and pulls in full.
var ErrResyncRequired = errors.New("the cursor is older than the deletions this server still keeps; drop it and pull in full")

// ResyncRequired is ErrResyncRequired for one parameter of the request.
type ResyncRequired struct {
	Parameter string // "cursor" or "since"
}

func (e *ResyncRequired) Error() string        { return ErrResyncRequired.Error() }
func (e *ResyncRequired) Is(target error) bool { return target == ErrResyncRequired }
