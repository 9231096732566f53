package apierror

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/labstack/echo/v4"

	"github.com/syncproxy/syncproxy/gen/api"
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
			// failed on our side, and nobody will read this answer. A 503
			// logged at error paged for every dropped mobile connection.
			e = New(StatusClientClosedRequest, "the client closed the request before its answer").Wrap(err)
			logger.InfoContext(c.Request().Context(), "client closed the request", "request_id", requestID)
		} else if e.Status >= http.StatusInternalServerError {
			logger.ErrorContext(c.Request().Context(), "request failed",
				"request_id", requestID, "status", e.Status, "code", string(e.Code), "err", err)
		} else if e.Err != nil {
			// The cause of a 4xx in the database's or a library's words
			// (the value Postgres refused, the read error of a body that
			// broke off) is for the operator, never the client's message.
			logger.WarnContext(c.Request().Context(), "request rejected",
				"request_id", requestID, "status", e.Status, "code", string(e.Code), "err", logText(err.Error()))
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
	if errors.As(err, &pgErr) && len(pgErr.Code) == 5 {
		switch class := pgErr.Code[:2]; {
		case class == "22" || class == "23": // data exception, integrity constraint: a value the request carried
			return rejectedByDatabase(pgErr, err)
		case pgErr.Code == "57014": // query_canceled: statement timeout
			return Unavailable("the database took too long; retry later", RetryAfterUnavailable, err)
		case class == "08" || class == "53" || class == "57":
			return Unavailable("database unavailable; retry later", RetryAfterUnavailable, err)
		}
	}
	return Internal(err)
}

// generatedParamError matches the 400s of the generated parameter binding
// ("Invalid format for parameter limit: error binding string parameter:
// strconv.ParseInt: ..."): only the parameter's name, which comes from the
// spec, is passed on.
var generatedParamError = regexp.MustCompile(`^(?:Invalid format for parameter|Expected one value for) ([A-Za-z0-9_-]{1,64})\b`)

// fromEcho maps the errors of Echo, its binder and the generated wrappers.
// Their messages are Go's words (strconv, encoding/json, type names), so none
// is passed on: the client gets ours, the log gets theirs.
func fromEcho(he *echo.HTTPError) *Error {
	text, _ := he.Message.(string)
	var details []api.ErrorDetail
	message := http.StatusText(he.Code)
	switch he.Code {
	case http.StatusBadRequest:
		message = "the request is malformed"
		if m := generatedParamError.FindStringSubmatch(text); m != nil {
			message = "a parameter has an invalid value"
			details = append(details, Detail("", -1, m[1], "invalid value"))
		}
	case http.StatusNotFound:
		message = "no such route"
	case http.StatusMethodNotAllowed:
		message = "method not allowed on this route"
	case http.StatusRequestEntityTooLarge:
		message = "request body too large; split the push"
	case http.StatusUnsupportedMediaType:
		message = "send the body as Content-Type: application/json"
	}
	e := New(he.Code, message, details...)
	switch {
	case e.Status == http.StatusInternalServerError:
		e.Message = "internal error; retry with backoff"
		e.Err = echoCause(he)
	case he.Internal != nil || (text != "" && text != http.StatusText(he.Code)):
		e.Err = echoCause(he) // Echo's own words, for the log
	}
	return e
}

func echoCause(he *echo.HTTPError) error {
	if he.Internal == nil {
		return fmt.Errorf("echo: %v", he.Message)
	}
	return fmt.Errorf("echo: %v: %w", he.Message, he.Internal)
}

// maxLogText bounds an error text in the log: a database message quotes the
// value it refused, and a client chooses that value.
const maxLogText = 1024

func logText(s string) string {
	if len(s) <= maxLogText {
		return s
	}
	return strings.ToValidUTF8(s[:maxLogText], "") + "…"
}

// isUnavailable reports errors that mean "the database is not there right now":
// the client should retry later rather than treat its request as wrong. That
// includes a connection cut mid-query (EOF) when Postgres stops or restarts,
// and the request deadline passing while waiting for it. pgx passes a cut
// connection up as a bare io.ErrUnexpectedEOF or net.Error, so these cannot be
// told from other streams by type; the one other stream a request reads, its
// body, marks its errors as the client's (BodyUnreadable) where they arise,
// and Classify finds that mark before it gets here.
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
