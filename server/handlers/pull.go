package handlers

import (
	"context"
	"net/http"

	"github.com/syncproxy/syncproxy/gen/api"
	"github.com/syncproxy/syncproxy/server/devices"
	"github.com/syncproxy/syncproxy/server/syncstore"
)

// defaultPullLimit is the spec's default for `limit`.
const defaultPullLimit = 1000

// PullChanges returns one page of the caller's rows.
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
	page, err := s.Store.Pull(ctx, id.ContractorID, pr)
	if err != nil {
		return nil, err
	}
	s.Metrics.Pulled(ctx, tableCounts(page.Outcomes()))
	if version, behind, ok := page.Delivered(); ok {
		s.Metrics.ObserveDeviceLag(behind)
		devices.NotePulled(ctx, version, page.ServerTime().Time)
	}
	return pullResponse{page}, nil
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
