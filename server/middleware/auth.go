package middleware

import (
	"errors"
	"strings"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/syncproxy/syncproxy/gen/db"
	"github.com/syncproxy/syncproxy/server/apierror"
	"github.com/syncproxy/syncproxy/server/tenant"
)

// TokenVerifier checks a bearer token and returns its auth user id.
type TokenVerifier interface {
	Verify(token string) (uuid.UUID, error)
}

// Authenticate verifies the bearer token, derives the contractor on the server
// and puts the identity into the request context for the strict handlers. The
// tenant lookup runs under the request's context, which Deadline bounds.
//
// users, when not nil, is a rate limit per auth user checked between the two:
// a caller over it is refused before the database is asked who it is. The
// canary costs nothing but that lookup, and one token sending 4,760 a second
// slowed another tenant 60×. A user's bucket is charged what the
// contractor's is (RateLimit), and a user's requests are a part of its
// contractor's, so this refuses only requests the contractor's limit would
// refuse too. It is keyed by the user, not the contractor: a solo
// contractor's id is its user's id, and the two must not share a bucket.
func Authenticate(v TokenVerifier, queries *db.Queries, users *RateLimiter) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			header := c.Request().Header.Get(echo.HeaderAuthorization)
			scheme, token, found := strings.Cut(header, " ")
			if !found || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
				return apierror.Unauthorized("missing bearer token (Authorization: Bearer <jwt>)")
			}
			userID, err := v.Verify(strings.TrimSpace(token))
			if err != nil {
				return apierror.Unauthorized(err.Error())
			}
			if allowed, wait := users.Allow(userID); !allowed {
				c.SetRequest(c.Request().WithContext(tenant.WithUser(c.Request().Context(), userID)))
				return refuse(wait, "user")
			}
			ctx := c.Request().Context()
			id, err := tenant.Resolve(ctx, queries, userID)
			if errors.Is(err, tenant.ErrNoContractor) {
				return apierror.Forbidden("this user belongs to no contractor")
			}
			if err != nil {
				return err
			}
			c.SetRequest(c.Request().WithContext(tenant.WithIdentity(ctx, id)))
			return next(c)
		}
	}
}
