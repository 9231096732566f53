package apierror

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/syncproxy/syncproxy/gen/api"
	"github.com/syncproxy/syncproxy/server/pushbody"
	"github.com/syncproxy/syncproxy/server/syncstore"
)

// fromDomain maps the failures the push decoder and the store report in
// their own terms to the contract's statuses. It is the only place that knows
// both.
func fromDomain(err error) (*Error, bool) {
	var invalid *pushbody.Invalid
	var tooMany *pushbody.TooManyRows
	var badCursor *syncstore.BadCursor
	var rejected *syncstore.RejectedRow
	var conflicts *syncstore.Conflicts
	var resync *syncstore.ResyncRequired
	switch {
	case errors.As(err, &invalid):
		details := make([]api.ErrorDetail, len(invalid.Problems))
		for i, p := range invalid.Problems {
			details[i] = Detail(p.Table, p.Index, p.Field, p.Reason)
		}
		message := invalid.Message
		if invalid.Truncated {
			message += " (the first problems only)"
		}
		return BadRequest(message, details...).Wrap(err), true
	case errors.As(err, &tooMany):
		return New(http.StatusRequestEntityTooLarge, tooMany.Error()+"; split it").Wrap(err), true
	// The sentinels' own words, never err's: the chain around them is Go's
	// ("push: transaction: ...").
	case errors.Is(err, syncstore.ErrIdempotencyKeyReused):
		return New(http.StatusUnprocessableEntity, syncstore.ErrIdempotencyKeyReused.Error(),
			Detail("", -1, "Idempotency-Key", "used before with a different body")).Wrap(err), true
	case errors.As(err, &conflicts):
		message := "rows changed since the base_version of their edits; nothing was written: merge the current rows and push again with their versions"
		if conflicts.Omitted > 0 {
			message += fmt.Sprintf("; %d of the %d conflicts carry no row (rowOmitted: the rows of a 409 are bounded to %d bytes, like a pull page): pull to get them",
				conflicts.Omitted, len(conflicts.List), conflicts.MaxRowBytes)
		}
		e := New(http.StatusConflict, message)
		e.Conflicts = conflicts.List
		return e.Wrap(err), true
	case errors.As(err, &resync):
		return New(http.StatusGone, syncstore.ErrResyncRequired.Error(),
			Detail("", -1, resync.Parameter, "older than the deletions this server still keeps")).Wrap(err), true
	case errors.Is(err, syncstore.ErrResyncRequired):
		return New(http.StatusGone, syncstore.ErrResyncRequired.Error()).Wrap(err), true
	case errors.Is(err, syncstore.ErrCursorAndSince):
		return BadRequest(syncstore.ErrCursorAndSince.Error(),
			Detail("", -1, "since", "not allowed together with cursor")).Wrap(err), true
	case errors.As(err, &badCursor):
		return BadRequest(badCursor.Error(), Detail("", -1, "cursor", badCursor.Reason)).Wrap(err), true
	case errors.As(err, &rejected):
		return BadRequest(rejected.Message,
			Detail(rejected.Source, rejected.Index, rejected.Field, rejected.Reason)).Wrap(err), true
	}
	return nil, false
}
