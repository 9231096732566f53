package apierror

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"

	"github.com/google/uuid"

	"github.com/syncproxy/syncproxy/wire"
)

// Listener wraps ln so that the replies net/http writes by itself, before any
// handler runs, leave as the envelope with an X-Request-Id like every other
// error: a malformed request line or header ("400 Bad Request: invalid header
// value"), headers over MaxHeaderBytes ("431 Request Header Fields Too
// Large"), an unsupported Transfer-Encoding (501) or HTTP version (505).
//
// net/http offers no hook for these (http.Server has none, and no handler
// has run), so the only place left is the connection: net/http writes each
// with one Write, straight to the connection, as
//
//	HTTP/1.1 <status> <text>\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n<text>
//
// A response of a handler never starts like that: net/http writes its
// headers sorted (Connection before Content-Type) and with a Date, and a
// handler's body is JSON or the metrics text, which carry no CR LF. What
// net/http still answers itself without a body (a request it cannot read at
// all, a header that times out) it answers by closing the connection.
//
// maxHeaderBytes is the server's MaxHeaderBytes, for the 431's message.
func Listener(ln net.Listener, logger *slog.Logger, maxHeaderBytes int) net.Listener {
	return listener{Listener: ln, logger: logger, maxHeaderBytes: maxHeaderBytes}
}

type listener struct {
	net.Listener
	logger         *slog.Logger
	maxHeaderBytes int
}

func (l listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return envelopeConn{Conn: c, logger: l.logger, maxHeaderBytes: l.maxHeaderBytes}, nil
}

type envelopeConn struct {
	net.Conn
	logger         *slog.Logger
	maxHeaderBytes int
}

// plainHeaders is what follows net/http's status line in its own replies.
var plainHeaders = []byte("\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n")

func (c envelopeConn) Write(p []byte) (int, error) {
	status, text, ok := parsePlainReply(p)
	if !ok {
		return c.Conn.Write(p)
	}
	requestID := uuid.NewString()
	c.logger.Warn("request rejected by the HTTP server", "request_id", requestID, "status", status,
		"reason", logText(text))
	if _, err := c.Conn.Write(plainReplyAsEnvelope(status, text, requestID, c.maxHeaderBytes)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// parsePlainReply recognises one of net/http's own replies and returns its
// status and the text of its body ("400 Bad Request: invalid header value").
func parsePlainReply(p []byte) (status int, text string, ok bool) {
	const prefix = "HTTP/1.1 "
	if !bytes.HasPrefix(p, []byte(prefix)) || len(p) < len(prefix)+3 {
		return 0, "", false
	}
	end := bytes.Index(p, []byte("\r\n"))
	if end < 0 || !bytes.HasPrefix(p[end:], plainHeaders) {
		return 0, "", false
	}
	status, err := strconv.Atoi(string(p[len(prefix) : len(prefix)+3]))
	if err != nil || status < 400 {
		return 0, "", false
	}
	return status, string(p[end+len(plainHeaders):]), true
}

// netHTTPReasons are net/http's texts (after "400 Bad Request: "), in the
// client's words.
var netHTTPReasons = map[string]string{
	"invalid header value":         "a header value contains a control character",
	"invalid header name":          "a header name is not a valid token",
	"missing required Host header": "the Host header is missing or malformed",
	"malformed Host header":        "the Host header is missing or malformed",
	"unsupported protocol version": "unsupported HTTP version",
}

// plainReplyAsEnvelope gives each of net/http's replies the contract's status
// and code: 431 HEADERS_TOO_LARGE, naming the bound; everything else, a
// request the client must fix and never retry as it is, 400 BAD_REQUEST. A
// 501 (unsupported Transfer-Encoding) or 505 (HTTP version) answered with
// BAD_REQUEST said two things at once; the contract has no code for them.
func plainReplyAsEnvelope(status int, text, requestID string, maxHeaderBytes int) []byte {
	message := "the request line or headers are malformed"
	switch {
	case status == http.StatusRequestHeaderFieldsTooLarge:
		message = fmt.Sprintf("the request headers are too large: send at most %d KiB of request line and headers", maxHeaderBytes>>10)
	case status == http.StatusNotImplemented:
		status, message = http.StatusBadRequest, "unsupported Transfer-Encoding (send chunked, or a Content-Length)"
	default:
		status = http.StatusBadRequest
		_, reason, _ := bytes.Cut([]byte(text), []byte(": "))
		if m, ok := netHTTPReasons[string(reason)]; ok {
			message = m
		}
	}
	e := New(status, message)
	body, err := wire.Marshal(e.Envelope(requestID))
	if err != nil {
		panic(fmt.Sprintf("apierror: envelope: %v", err)) // plain struct: cannot fail
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\n", status, http.StatusText(status))
	fmt.Fprintf(&b, "Content-Type: application/json\r\nX-Request-Id: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", requestID, len(body))
	b.Write(body)
	return b.Bytes()
}
