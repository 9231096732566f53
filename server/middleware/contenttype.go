package middleware

import (
	"mime"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/syncproxy/syncproxy/server/apierror"
)

// RequireJSON answers 415 to a request body that is not application/json.
func RequireJSON() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			mediaType, _, err := mime.ParseMediaType(c.Request().Header.Get(echo.HeaderContentType))
			if err != nil || mediaType != echo.MIMEApplicationJSON {
				return apierror.New(http.StatusUnsupportedMediaType, "send the body as Content-Type: application/json")
			}
			return next(c)
		}
	}
}
