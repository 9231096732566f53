package handlers

import (
	"context"
	"time"

	"github.com/syncproxy/syncproxy/gen/api"
	"github.com/syncproxy/syncproxy/wire"
)

// GetCanary tells a device who the server thinks it is.
func (s *Server) GetCanary(ctx context.Context, _ api.GetCanaryRequestObject) (api.GetCanaryResponseObject, error) {
	id, err := identity(ctx)
	if err != nil {
		return nil, err
	}
	return api.GetCanary200JSONResponse{Body: api.CanaryResponse{
		Ok:           true,
		UserId:       id.UserID,
		ContractorId: id.ContractorID,
		ServerTime:   wire.NewTimestamp(time.Now()),
	}}, nil
}
