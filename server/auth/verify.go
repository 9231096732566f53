// Package auth verifies the identity provider's bearer JWTs locally (no call to
// the provider per request) and yields the auth user id.
package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// DefaultAudience is GoTrue's audience for signed-in users.
const DefaultAudience = "authenticated"

// leeway absorbs clock skew between the identity provider and this server.
const leeway = 30 * time.Second

// ErrInvalidToken is wrapped by every verification failure; its message is safe
// to show to the client (it never contains the token).
var ErrInvalidToken = errors.New("invalid token")

// Verifier checks signature, algorithm, expiry, not-before, audience and subject.
type Verifier struct {
	hmacSecret []byte
	audience   string
}

// NewHS256 verifies tokens signed with the shared secret (SYNC_JWT_SECRET).
func NewHS256(secret []byte, audience string) (*Verifier, error) {
	if len(secret) < 16 {
		return nil, fmt.Errorf("auth: HS256 secret must be at least 16 bytes, got %d", len(secret))
	}
	if audience == "" {
		audience = DefaultAudience
	}
	return &Verifier{hmacSecret: secret, audience: audience}, nil
}

// Verify returns the token's subject, the auth user id.
func (v *Verifier) Verify(token string) (uuid.UUID, error) {
	parsed, err := jwt.Parse(token, v.key,
		// Only HS256: "alg: none" and algorithm-confusion tokens fail here.
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithAudience(v.audience),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(leeway),
	)
	if err != nil {
		return uuid.Nil, fmt.Errorf("%w: %s", ErrInvalidToken, reason(err))
	}
	sub, err := parsed.Claims.GetSubject()
	if err != nil || sub == "" {
		return uuid.Nil, fmt.Errorf("%w: missing sub", ErrInvalidToken)
	}
	id, err := uuid.Parse(sub)
	if err != nil {
		return uuid.Nil, fmt.Errorf("%w: sub is not a uuid", ErrInvalidToken)
	}
	return id, nil
}

func (v *Verifier) key(t *jwt.Token) (any, error) {
	if _, ok := t.Method.(*jwt.SigningMethodHMAC); !ok {
		return nil, fmt.Errorf("unexpected signing method %s", t.Method.Alg())
	}
	return v.hmacSecret, nil
}

// reason turns jwt's errors into a short, client-safe phrase.
func reason(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return "expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "not valid yet"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "wrong audience"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "missing a required claim"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "bad signature"
	case errors.Is(err, jwt.ErrTokenUnverifiable), errors.Is(err, jwt.ErrSignatureInvalid):
		return "unverifiable (algorithm not accepted)"
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "malformed"
	default:
		return "rejected"
	}
}
