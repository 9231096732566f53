package handlers

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/syncproxy/syncproxy/gen/api"
	"github.com/syncproxy/syncproxy/server/devices"
	"github.com/syncproxy/syncproxy/server/live"
	"github.com/syncproxy/syncproxy/server/middleware"
	"github.com/syncproxy/syncproxy/server/syncstore"
)

// heldPull is a live pull that found nothing new: it waits for a push of a
// requested table, holding no database connection, then answers that
// delta; a wake that brings nothing (a push that changed no row) is not
// answered: it waits on. Past its wait, or when the server shuts down, it
// answers the empty page it has (its cursor is still good).
//
// Why it parks its connection. Held by net/http, a waiting request keeps
// the goroutine that served it (a stack grown to 16 KiB by the request's
// validation and reads), a second goroutine watching the idle connection,
// 8 KiB of connection buffers, the request and its contexts: 44 KiB each,
// 462 MiB for 10,000 held pulls (the live phase of make bench). So the
// response takes the connection over from net/http (Hijack) and parks it:
// one fresh goroutine blocked reading it (which is how a client that goes
// away is seen at once), no buffers; the waiter wakes it by moving the
// connection's read deadline to now. The answer is written as HTTP/1.1 with
// Connection: close (the client opens a new connection for its next pull).
type heldPull struct {
	s        *Server
	w        *live.Waiter
	pr       syncstore.PullRequest
	ctx      context.Context // the request's; parked, none (the handler has returned)
	cursor   string          // of the last page read, which brought nothing
	at       api.Timestamp
	base     int64
	deadline time.Time
}

// errGone: the client went away while its pull was held.
var errGone = errors.New("the client went away")

// answer waits with wait and reads again after each wake, until there is a
// page to answer.
func (h *heldPull) answer(ctx context.Context, wait func(base int64) (live.Outcome, int64)) (*syncstore.Page, error) {
	for {
		outcome, version := wait(h.base)
		switch outcome {
		case live.TimedOut, live.Closing:
			return syncstore.EmptyPage(h.cursor, h.at, h.base), nil
		case live.Gone:
			return nil, errGone
		}
		// The woken read must see version: the primary does once the push
		// committed; a replica only once it has replayed it.
		h.pr.Cursor, h.pr.MinVersion, h.pr.Current = h.cursor, version, false
		readCtx, cancel := context.WithTimeout(ctx, h.s.RequestTimeout)
		page, err := h.s.Store.Pull(readCtx, h.w.Contractor(), h.pr)
		cancel()
		if err != nil {
			return nil, err
		}
		if !page.Empty() {
			return page, nil
		}
		h.cursor, h.at, h.base = page.Cursor(), page.ServerTime(), page.Version()
	}
}

// VisitPullChangesResponse parks the connection (see heldPull), or, where
// the writer cannot be taken over, waits here.
func (h *heldPull) VisitPullChangesResponse(rw http.ResponseWriter) error {
	requestID := rw.Header().Get(echo.HeaderXRequestID)
	conn, buffered, err := http.NewResponseController(rw).Hijack()
	if err != nil {
		return h.waitHere(rw)
	}
	if buffered.Reader.Buffered() > 0 {
		// The client sent its next request before this one's answer: the
		// empty page now, so that it is not taken for a client gone.
		h.s.Live.Release(h.w)
		defer conn.Close()
		return h.write(conn, buffered.Writer, requestID, syncstore.EmptyPage(h.cursor, h.at, h.base))
	}
	// The ledger records the version the device holds now: the parked
	// answer comes after this request's record was taken.
	devices.NotePulled(h.ctx, h.base, h.at.Time)
	// Nothing of the request is kept (its values are its middlewares',
	// which are done with it): the reads once woken need none.
	h.ctx = context.Background()
	h.s.Live.Park(func() { h.park(conn, requestID) })
	return nil
}

// waitHere holds the request in its own goroutine: for writers that cannot
// be taken over (never net/http's HTTP/1.1 server, which is the server's).
func (h *heldPull) waitHere(rw http.ResponseWriter) error {
	defer h.s.Live.Release(h.w)
	// Past SYNC_WRITE_TIMEOUT (counted from when the request was read)
	// net/http would cut the answer off.
	_ = http.NewResponseController(rw).SetWriteDeadline(h.deadline.Add(h.s.RequestTimeout)) // fails only where there is no deadline
	waitCtx := middleware.Unbounded(h.ctx)
	page, err := h.answer(waitCtx, func(base int64) (live.Outcome, int64) {
		return h.s.Live.Wait(waitCtx, h.w, base, h.deadline)
	})
	if err != nil {
		return err
	}
	h.s.pulled(h.ctx, page)
	return pullResponse{page}.VisitPullChangesResponse(rw)
}

// park runs on the parked connection's goroutine until the pull is
// answered or its client goes away.
func (h *heldPull) park(conn net.Conn, requestID string) {
	defer conn.Close()
	defer h.s.Live.Release(h.w)
	h.s.Live.Interrupt(h.w, func() { _ = conn.SetReadDeadline(time.Now()) })
	var one [1]byte
	page, err := h.answer(h.ctx, func(base int64) (live.Outcome, int64) {
		for {
			_ = conn.SetReadDeadline(h.deadline)
			if outcome, version := h.s.Live.Check(h.w, base, h.deadline); outcome != live.Waiting {
				return outcome, version
			}
			// Returns when the deadline moves to now (a wake, the
			// shutdown), passes, or the client closes (or, against the
			// protocol, sends before its answer).
			if _, err := conn.Read(one[:]); !isTimeout(err) {
				return live.Gone, 0
			}
		}
	})
	if errors.Is(err, errGone) {
		return
	}
	if err != nil {
		// A failed read (the database, a purge since the cursor): the empty
		// page, whose cursor is still good; the device's next pull meets
		// the error itself.
		slog.Default().Warn("a woken live pull could not read its delta; answered the empty page", "request_id", requestID, "err", err)
		page = syncstore.EmptyPage(h.cursor, h.at, h.base)
	}
	h.s.Metrics.Pulled(h.ctx, tableCounts(page.Outcomes()))
	_ = h.write(conn, bufio.NewWriterSize(conn, 4096), requestID, page)
}

// write answers page on a connection taken over from net/http, and closes
// it (the caller does).
func (h *heldPull) write(conn net.Conn, w *bufio.Writer, requestID string, page *syncstore.Page) error {
	var body bytes.Buffer
	if _, err := page.WriteTo(&body); err != nil {
		return err
	}
	// A client that stops reading does not keep the goroutine (net/http
	// cleared its own deadlines when it let the connection go).
	_ = conn.SetWriteDeadline(time.Now().Add(h.s.RequestTimeout))
	w.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: ")
	w.WriteString(strconv.Itoa(body.Len()))
	if requestID != "" {
		w.WriteString("\r\nX-Request-Id: ")
		w.WriteString(requestID)
	}
	w.WriteString("\r\n\r\n")
	w.Write(body.Bytes())
	return w.Flush()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
