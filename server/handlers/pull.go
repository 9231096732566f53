package handlers

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/syncproxy/syncproxy/gen/api"
	"github.com/syncproxy/syncproxy/server/apierror"
	"github.com/syncproxy/syncproxy/server/devices"
	"github.com/syncproxy/syncproxy/server/live"
	"github.com/syncproxy/syncproxy/server/middleware"
	"github.com/syncproxy/syncproxy/server/syncstore"
)

// defaultPullLimit is the spec's default for `limit`.
const defaultPullLimit = 1000

// PullChanges returns one page of the caller's rows; with `wait`, a live
// pull (contract 1.2): when nothing is new it is held until a push wakes it.
func (s *Server) PullChanges(ctx context.Context, req api.PullChangesRequestObject) (api.PullChangesResponseObject, error) {
	id, err := identity(ctx)
	if err != nil {
		return nil, err
	}
	pr := syncstore.PullRequest{Since: req.Params.Since, Limit: defaultPullLimit, Tables: tableNames(req.Params.Tables)}
	if req.Params.Cursor != nil {
		pr.Cursor = *req.Params.Cursor
	}
	if req.Params.Limit != nil {
		pr.Limit = int(*req.Params.Limit)
	}
	wait, err := s.waitOf(req.Params)
	if err != nil {
		return nil, err
	}
	var w *live.Waiter
	if wait > 0 {
		tables, err := s.Live.Mask(pr.Tables)
		if err != nil {
			return nil, err
		}
		// Held before the pull reads the clock: a push that commits after
		// that read wakes it; one before is in the page.
		w = s.Live.Hold(id.ContractorID, tables)
		defer s.Live.Release(w)
		pr.Current = true
	}
	page, err := s.Store.Pull(ctx, id.ContractorID, pr)
	if err != nil {
		return nil, err
	}
	if w != nil && page.Empty() {
		if page, err = s.hold(ctx, w, pr, page, wait); err != nil {
			return nil, err
		}
	}
	s.Metrics.Pulled(ctx, tableCounts(page.Outcomes()))
	if version, behind, ok := page.Delivered(); ok {
		s.Metrics.ObserveDeviceLag(behind)
		devices.NotePulled(ctx, version, page.ServerTime().Time)
	}
	return pullResponse{page}, nil
}

// waitOf checks `wait` against what the spec cannot say: it needs a cursor,
// refuses since, and is at most SYNC_MAX_PULL_WAIT. 0: not a live pull.
func (s *Server) waitOf(p api.PullChangesParams) (time.Duration, error) {
	if p.Wait == nil {
		return 0, nil
	}
	n := int(*p.Wait)
	var reason string
	switch {
	case p.Cursor == nil:
		reason = "needs a cursor: a live pull waits for changes after one (pull without wait first)"
	case p.Since != nil:
		reason = "cannot be combined with since: follow the cursor"
	case n < 1 || n > s.MaxPullWait:
		reason = fmt.Sprintf("must be whole seconds from 1 to %d", s.MaxPullWait)
	}
	if reason != "" {
		return 0, apierror.BadRequest("wait "+reason, apierror.Detail("", -1, "wait", reason))
	}
	return time.Duration(n) * time.Second, nil
}

// hold waits, holding no database connection, until a push of a requested
// table wakes w, then answers its delta; a wake that brings nothing (a push
// that changed no row) is not answered: the pull waits on. Past wait, or
// when the server shuts down, it answers the empty page it has (its cursor
// is still good). A client that goes away ends it at once.
func (s *Server) hold(ctx context.Context, w *live.Waiter, pr syncstore.PullRequest, empty *syncstore.Page, wait time.Duration) (*syncstore.Page, error) {
	deadline := time.Now().Add(wait)
	// Only what the answer needs is kept while held: no page buffers.
	cursor, at, base := empty.Cursor(), empty.ServerTime(), empty.Version()
	empty = nil
	waitCtx := middleware.Unbounded(ctx)
	for {
		outcome, version := s.Live.Wait(waitCtx, w, base, deadline)
		switch outcome {
		case live.TimedOut, live.Closing:
			return syncstore.EmptyPage(cursor, at, base), nil
		case live.Gone:
			return nil, waitCtx.Err()
		}
		// The woken read must see version: the primary does once the push
		// committed; a replica only once it has replayed it.
		pr.Cursor, pr.MinVersion, pr.Current = cursor, version, false
		readCtx, cancel := middleware.Renewed(ctx)
		page, err := s.Store.Pull(readCtx, w.Contractor(), pr)
		cancel()
		if err != nil {
			return nil, err
		}
		if !page.Empty() {
			return page, nil
		}
		cursor, at, base = page.Cursor(), page.ServerTime(), page.Version()
	}
}

// pullResponse writes a page the store encoded as it read it (a page is
// bounded in bytes, so its rows are encoded once, on the way in); the test
// harness checks every such response against SyncPullResponse.
type pullResponse struct {
	page *syncstore.Page
}

func (r pullResponse) VisitPullChangesResponse(w http.ResponseWriter) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, err := r.page.WriteTo(w)
	return err
}
