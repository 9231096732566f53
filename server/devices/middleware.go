package devices

import (
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/syncproxy/syncproxy/server/apierror"
	"github.com/syncproxy/syncproxy/server/tenant"
)

// HeaderDeviceID names the device a request comes from (contract 1.2).
const HeaderDeviceID = "X-Device-Id"

// Routes of the requests the ledger counts as pushes and pulls, and of the
// one it does not record: reading the ledger is no sync (a support tool
// listing it would show up as a device).
const (
	pushRoute    = "/api/sync/push"
	pullRoute    = "/api/sync/pull"
	devicesRoute = "/api/sync/devices"
)

// Middleware records every request that reached it with an identity (it
// runs after authentication) once it has been answered. An X-Device-Id
// that is not a uuid is counted under NoDevice: the header is optional,
// and a request must never fail for bookkeeping. r nil: records nothing.
func Middleware(r *Recorder) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		if r == nil {
			return next
		}
		return func(c echo.Context) error {
			ctx, n := withNote(c.Request().Context())
			c.SetRequest(c.Request().WithContext(ctx))
			err := next(c)
			id, ok := tenant.FromContext(c.Request().Context())
			if !ok || c.Path() == devicesRoute {
				return err
			}
			status := c.Response().Status
			if err != nil {
				status = apierror.Classify(err).Status
			}
			req := Request{
				ContractorID: id.ContractorID,
				DeviceID:     DeviceOf(c.Request()),
				UserID:       id.UserID,
				UserAgent:    c.Request().UserAgent(),
				Kind:         kindOf(c.Path()),
				Status:       status,
				At:           time.Now(),
				Pulled:       n.pulled,
			}
			r.Record(req)
			return err
		}
	}
}

// DeviceOf is the device a request names, NoDevice when none or not a uuid.
func DeviceOf(req *http.Request) uuid.UUID {
	v := req.Header.Get(HeaderDeviceID)
	if v == "" {
		return NoDevice
	}
	id, err := uuid.Parse(v)
	if err != nil {
		return NoDevice
	}
	return id
}

func kindOf(route string) Kind {
	switch route {
	case pushRoute:
		return Push
	case pullRoute:
		return Pull
	}
	return Other
}
