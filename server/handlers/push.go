package handlers

import (
	"context"
	"net/http"

	"github.com/syncproxy/syncproxy/gen/api"
	"github.com/syncproxy/syncproxy/server/apierror"
)

// PushChanges applies the caller's upserts and deletes in one transaction.
func (s *Server) PushChanges(ctx context.Context, req api.PushChangesRequestObject) (api.PushChangesResponseObject, error) {
	id, err := identity(ctx)
	if err != nil {
		return nil, err
	}
	// The decoder gives a body one entry per table: none means Echo never
	// called it (an empty request).
	if req.Body == nil || len(req.Body.Tables) == 0 {
		return nil, apierror.BadRequest("the body is required", apierror.Detail("", -1, "", "empty body"))
	}
	key := ""
	if req.Params.IdempotencyKey != nil {
		key = *req.Params.IdempotencyKey
	}
	result, err := s.Store.Push(ctx, id.ContractorID, req.Body, key)
	if err != nil {
		return nil, err
	}
	if !result.Replayed && len(result.Tables) > 0 {
		// Before the 200 is written: this instance's held pulls start
		// their reads while the pusher is still reading its answer.
		tables, err := s.Live.Mask(result.Tables)
		if err != nil {
			return nil, err
		}
		s.Live.Announce(id.ContractorID, result.Response.Version, tables)
	}
	s.Metrics.Pushed(ctx, tableCounts(result.Outcomes()), result.Replayed)
	return pushResponse{body: result.Response, replayed: result.Replayed}, nil
}

// pushResponse is the generated 200 response plus the replay header, which
// tells a client (and its logs) that nothing was applied this time.
type pushResponse struct {
	body     api.SyncPushResponse
	replayed bool
}

func (r pushResponse) VisitPushChangesResponse(w http.ResponseWriter) error {
	if r.replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	return api.PushChanges200JSONResponse{Body: r.body}.VisitPushChangesResponse(w)
}
