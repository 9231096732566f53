package handlers

import (
	"context"

	"github.com/syncproxy/syncproxy/gen/api"
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
	pr := syncstore.PullRequest{Since: req.Params.Since, Limit: defaultPullLimit}
	if req.Params.Cursor != nil {
		pr.Cursor = *req.Params.Cursor
	}
	if req.Params.Limit != nil {
		pr.Limit = int(*req.Params.Limit)
	}
	if req.Params.Tables != nil {
		pr.Tables = *req.Params.Tables
	}
	page, err := s.Store.Pull(ctx, id.ContractorID, pr)
	if err != nil {
		return nil, err
	}
	s.Metrics.Pulled(ctx, page)
	return api.PullChanges200JSONResponse{Body: page}, nil
}
