package apierror

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/labstack/echo/v4"
)

// RetryAfterUnavailable is the Retry-After, in seconds, of a 503 caused by the
// database being out of reach.
const RetryAfterUnavailable = 2

// Handler renders every error that reaches Echo as the envelope. Errors that
// are not *Error are classified here, so no other code maps errors to statuses.
func Handler(logger *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		e := Classify(err)
		requestID := c.Response().Header().Get(echo.HeaderXRequestID)
		if clientGone(c, err) {
			// The device hung up (app backgrounded, network lost): nothing
			// failed on our side, and nobody will read this answer.
			e = Unavailable("the request was cancelled", RetryAfterUnavailable, err)
			logger.InfoContext(c.Request().Context(), "client closed the request", "request_id", requestID)
		} else if e.Status >= http.StatusInternalServerError {
			logger.ErrorContext(c.Request().Context(), "request failed",
				"request_id", requestID, "status", e.Status, "code", string(e.Code), "err", err)
		}
		if v := e.retryAfterHeader(); v != "" {
			c.Response().Header().Set("Retry-After", v)
		}
		var writeErr error
		if c.Request().Method == http.MethodHead {
			writeErr = c.NoContent(e.Status)
		} else {
			writeErr = c.JSON(e.Status, e.Envelope(requestID))
		}
		if writeErr != nil {
			logger.WarnContext(c.Request().Context(), "writing error response", "request_id", requestID, "err", writeErr)
		}
	}
}

// clientGone reports a request abandoned by its client: its context was
// cancelled and the error comes from that cancellation.
func clientGone(c echo.Context, err error) bool {
	return errors.Is(err, context.Canceled) && errors.Is(c.Request().Context().Err(), context.Canceled)
}

// Classify maps any error to the contract's status and code.
func Classify(err error) *Error {
	if e, ok := As(err); ok {
		return e
	}
	if e, ok := fromDomain(err); ok {
		return e
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		return fromEcho(he)
	}
	if isUnavailable(err) {
		return Unavailable("database unavailable; retry later", RetryAfterUnavailable, err)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code[:2] == "22": // data exception: a value Postgres cannot store
			return BadRequest("a value cannot be stored: " + pgErr.Message)
		case pgErr.Code == "23514": // check_violation: e.g. an enum-like column
			return BadRequest("a value violates a constraint: " + pgErr.ConstraintName)
		case pgErr.Code == "57014": // query_canceled: statement timeout
			return Unavailable("the database took too long; retry later", RetryAfterUnavailable, err)
		case pgErr.Code[:2] == "08" || pgErr.Code[:2] == "53" || pgErr.Code[:2] == "57":
			return Unavailable("database unavailable; retry later", RetryAfterUnavailable, err)
		}
	}
	return Internal(err)
}

func fromEcho(he *echo.HTTPError) *Error {
	message := http.StatusText(he.Code)
	if m, ok := he.Message.(string); ok && m != "" {
		message = m
	}
	switch he.Code {
	case http.StatusNotFound:
		message = "no such route"
	case http.StatusMethodNotAllowed:
		message = "method not allowed on this route"
	case http.StatusRequestEntityTooLarge:
		message = "request body too large; split the push"
	}
	e := New(he.Code, message)
	e.Err = he.Internal
	if e.Status == http.StatusInternalServerError {
		e.Message = "internal error; retry with backoff"
		e.Err = fmt.Errorf("echo: %v (%w)", he.Message, he.Internal)
	}
	return e
}

// isUnavailable reports errors that mean "the database is not there right now":
// the client should retry later rather than treat its request as wrong. That
// includes a connection cut mid-query (EOF) when Postgres stops or restarts,
// and the request deadline passing while waiting for it.
func isUnavailable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err) {
		return true
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) {
		return true
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return true
	}
	return pgconn.SafeToRetry(err)
}
