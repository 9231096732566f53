package handlers

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/syncproxy/syncproxy/gen/api"
	"github.com/syncproxy/syncproxy/server/apierror"
	"github.com/syncproxy/syncproxy/server/devices"
	"github.com/syncproxy/syncproxy/server/live"
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
		pr.Current = true
	}
	page, err := s.Store.Pull(ctx, id.ContractorID, pr)
	if err != nil || w == nil || !page.Empty() {
		if w != nil {
			s.Live.Release(w)
		}
		if err != nil {
			return nil, err
		}
		s.pulled(ctx, page)
		return pullResponse{page}, nil
	}
	// Nothing new: the response holds the waiter from here on (held.go).
	return &heldPull{s: s, w: w, pr: pr, ctx: ctx, cursor: page.Cursor(), at: page.ServerTime(), base: page.Version(),
		deadline: time.Now().Add(wait)}, nil
}

// pulled records a page answered: its rows, and the version the device holds.
func (s *Server) pulled(ctx context.Context, page *syncstore.Page) {
	s.Metrics.Pulled(ctx, tableCounts(page.Outcomes()))
	if version, behind, ok := page.Delivered(); ok {
		s.Metrics.ObserveDeviceLag(behind)
		devices.NotePulled(ctx, version, page.ServerTime().Time)
	}
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

// pullResponse writes a page the store encoded as it read it (a page is
// bounded in bytes, so its rows are encoded once, on the way in); the test
// harness checks every such response against SyncPullResponse.
type pullResponse struct {
	page *syncstore.Page
}

func (r pullResponse) VisitPullChangesResponse(w http.ResponseWriter) error {
	w.Header().Set("Content-Type", "application/json")
	// Known before the first byte: no chunked encoding (compression, when
	// the client asks for it, drops it).
	w.Header().Set("Content-Length", strconv.FormatInt(r.page.Len(), 10))
	w.WriteHeader(http.StatusOK)
	_, err := r.page.WriteTo(w)
	r.page.Release()
	return err
}
