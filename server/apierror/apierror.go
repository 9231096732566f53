// Package apierror is the one place where failures become HTTP responses: every
// non-2xx answer, whatever produced it (a handler, the router, a middleware, a
// panic), is rendered as the envelope of docs/contract.md ("Errors") with an
// X-Request-Id.
package apierror

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/syncproxy/syncproxy/gen/api"
	"github.com/syncproxy/syncproxy/server/syncstore"
)

// Error is a failure with a contract status and code. Handlers return it (or
// wrap it); Handler renders it.
type Error struct {
	Status     int
	Code       api.ErrorError
	Message    string
	Details    []api.ErrorDetail
	RetryAfter int // seconds; 0 = no Retry-After header
	Err        error
	// Conflicts are the rows of a 409 (contract 1.1).
	Conflicts []syncstore.Conflict
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Wrap records the cause of e for the log; the client never sees it.
func (e *Error) Wrap(err error) *Error {
	e.Err = err
	return e
}

// codeForStatus is the error table of docs/contract.md ("Errors").
var codeForStatus = map[int]api.ErrorError{
	http.StatusBadRequest:            api.BADREQUEST,
	http.StatusUnauthorized:          api.UNAUTHORIZED,
	http.StatusForbidden:             api.FORBIDDEN,
	http.StatusNotFound:              api.NOTFOUND,
	http.StatusMethodNotAllowed:      api.METHODNOTALLOWED,
	http.StatusRequestEntityTooLarge: api.PAYLOADTOOLARGE,
	http.StatusUnsupportedMediaType:  api.UNSUPPORTEDMEDIATYPE,
	http.StatusUnprocessableEntity:   api.IDEMPOTENCYKEYREUSED,
	http.StatusConflict:              api.ErrorError(api.CONFLICT),
	http.StatusGone:                  api.ErrorError(api.RESYNCREQUIRED),
	http.StatusTooManyRequests:       api.RATELIMITED,
	// Contract 1.2; its own schema in the spec (HeadersTooLargeError).
	http.StatusRequestHeaderFieldsTooLarge: api.ErrorError(api.HEADERSTOOLARGE),
	StatusClientClosedRequest:              CodeClientClosedRequest,
	http.StatusInternalServerError:         api.INTERNAL,
	http.StatusServiceUnavailable:          api.UNAVAILABLE,
}

// StatusClientClosedRequest is what a request whose client went away before
// its answer is logged and counted as (nginx's 499): nothing failed on the
// server's side, and it must not page anyone as a 5xx would. No client reads
// it, so CodeClientClosedRequest is no code of the contract.
const (
	StatusClientClosedRequest                = 499
	CodeClientClosedRequest   api.ErrorError = "CLIENT_CLOSED_REQUEST"
)

// New builds an Error for status with the contract's code for that status.
func New(status int, message string, details ...api.ErrorDetail) *Error {
	code, ok := codeForStatus[status]
	if !ok {
		status, code = http.StatusInternalServerError, api.INTERNAL
	}
	return &Error{Status: status, Code: code, Message: message, Details: details}
}

// BadRequest is a payload the client must fix; it is never worth retrying.
func BadRequest(message string, details ...api.ErrorDetail) *Error {
	return New(http.StatusBadRequest, message, details...)
}

// Unauthorized tells the client to refresh its token or sign in again.
func Unauthorized(message string) *Error { return New(http.StatusUnauthorized, message) }

// Forbidden tells the client to stop: the caller has no access.
func Forbidden(message string) *Error { return New(http.StatusForbidden, message) }

// Unavailable tells the client to come back after retryAfter seconds.
func Unavailable(message string, retryAfter int, err error) *Error {
	e := New(http.StatusServiceUnavailable, message)
	e.RetryAfter, e.Err = retryAfter, err
	return e
}

// BodyUnreadable is a request body that could not be read to its end: the
// client closed the connection before Content-Length, or sent it slower than
// SYNC_READ_TIMEOUT allows. Nothing failed on the server's side. err (the read
// error, for the log) is an io.ErrUnexpectedEOF or a net.Error, which would
// otherwise read as a database connection cut mid-query: a 503 logged as a
// server error.
func BodyUnreadable(err error) *Error {
	e := BadRequest("the request body ended early or arrived too slowly")
	e.Err = err
	return e
}

// Internal hides err from the client (it is logged) and asks for a retry.
func Internal(err error) *Error {
	e := New(http.StatusInternalServerError, "internal error; retry with backoff")
	e.Err = err
	return e
}

// Detail is a shorthand for one ErrorDetail; empty table/field and a negative
// index are left out.
func Detail(table string, index int, field, reason string) api.ErrorDetail {
	d := api.ErrorDetail{Reason: reason}
	if table != "" {
		d.Table = &table
	}
	if index >= 0 {
		d.Index = &index
	}
	if field != "" {
		d.Field = &field
	}
	return d
}

// As finds an *Error in err's chain.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// Envelope is the body every error response carries; a 409's also carries
// its conflicts (ConflictError in the spec).
func (e *Error) Envelope(requestID string) any {
	details := e.Details
	if details == nil {
		details = []api.ErrorDetail{}
	}
	env := api.Error{
		Ok:        false,
		Error:     e.Code,
		Message:   e.Message,
		RequestId: requestID,
		Details:   details,
	}
	if e.Status != http.StatusConflict {
		return env
	}
	// Rows pass through as the store encoded them (a pull's form), so
	// numbers in them stay exact; a nil row is the contract's null.
	conflicts := make([]api.RowConflict, len(e.Conflicts))
	for i, c := range e.Conflicts {
		conflicts[i] = api.RowConflict{Table: api.TableName(c.Table), Id: c.ID, BaseVersion: c.BaseVersion,
			CurrentVersion: c.CurrentVersion, Deleted: c.Deleted}
		if c.Row != nil {
			conflicts[i].Row = &c.Row
		}
		if c.RowOmitted {
			omitted := true
			conflicts[i].RowOmitted = &omitted
		}
	}
	return api.ConflictError{Ok: false, Error: api.ConflictErrorError(env.Error), Message: env.Message,
		RequestId: env.RequestId, Details: env.Details, Conflicts: conflicts}
}

// Header values for Retry-After.
func (e *Error) retryAfterHeader() string {
	if e.RetryAfter <= 0 {
		return ""
	}
	return strconv.Itoa(e.RetryAfter)
}
