// Package middleware holds the Echo middleware that every request passes
// through before the generated handlers: request ids, access logs and metrics,
// authentication, content type and spec validation.
package middleware

import (
	"regexp"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
)

// clientRequestID is what we accept from a client's X-Request-Id; anything
// else is replaced, so a header cannot inject text into logs.
var clientRequestID = regexp.MustCompile(`^[A-Za-z0-9._-]{8,64}$`)

// RequestID gives every response an X-Request-Id (the client's, if sane).
func RequestID() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			id := c.Request().Header.Get(echo.HeaderXRequestID)
			if !clientRequestID.MatchString(id) {
				id = uuid.NewString()
			}
			c.Response().Header().Set(echo.HeaderXRequestID, id)
			return next(c)
		}
	}
}
