package handlers

import (
	"context"
	"net/http"

	"github.com/syncproxy/syncproxy/gen/api"
	"github.com/syncproxy/syncproxy/server/syncstore"
	"github.com/syncproxy/syncproxy/wire"
)

// GetDigest answers the figures a device compares with its replica.
func (s *Server) GetDigest(ctx context.Context, req api.GetDigestRequestObject) (api.GetDigestResponseObject, error) {
	id, err := identity(ctx)
	if err != nil {
		return nil, err
	}
	d, err := s.Store.Digest(ctx, id.ContractorID, tableNames(req.Params.Tables))
	if err != nil {
		return nil, err
	}
	return digestResponse{d}, nil
}

// digestResponse writes DigestResponse with only the tables asked for (the
// generated TableDigests names every table; the registry decides which
// exist).
type digestResponse struct {
	d syncstore.Digest
}

func (r digestResponse) VisitGetDigestResponse(w http.ResponseWriter) error {
	tables := make(map[string]api.TableDigest, len(r.d.Tables))
	for _, t := range r.d.Tables {
		tables[t.Table] = api.TableDigest{Count: t.Count, Digest: t.Digest}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	return wire.NewJSONEncoder(w).Encode(struct {
		Ok         bool                       `json:"ok"`
		ServerTime api.Timestamp              `json:"serverTime"`
		Cursor     string                     `json:"cursor"`
		Tables     map[string]api.TableDigest `json:"tables"`
	}{true, r.d.ServerTime, r.d.Cursor, tables})
}
