// Package auth verifies the identity provider's bearer JWTs locally (no call to
// the provider per request) and yields the auth user id.
package auth

import (
	"errors"
	"fmt"
	"slices"
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

// Options says which signatures a Verifier accepts; at least one of
// HS256Secret and KeySet is required, and both may be set.
type Options struct {
	HS256Secret []byte  // SYNC_JWT_SECRET; nil: no HS256
	KeySet      *KeySet // SYNC_JWKS_URL; nil: no RS256/ES256
	Audience    string  // required `aud`; empty: DefaultAudience
}

// Verifier checks signature, algorithm, expiry, not-before, audience and subject.
type Verifier struct {
	hmacSecret []byte
	keys       *KeySet
	audience   string
	algs       []string // the only algorithms accepted: "none" is never among them
}

// New returns a Verifier for o.
func New(o Options) (*Verifier, error) {
	v := &Verifier{audience: o.Audience, keys: o.KeySet}
	if v.audience == "" {
		v.audience = DefaultAudience
	}
	if o.HS256Secret != nil {
		if len(o.HS256Secret) < 16 {
			return nil, fmt.Errorf("auth: HS256 secret must be at least 16 bytes, got %d", len(o.HS256Secret))
		}
		v.hmacSecret = o.HS256Secret
		v.algs = append(v.algs, jwt.SigningMethodHS256.Alg())
	}
	if o.KeySet != nil {
		v.algs = append(v.algs, jwt.SigningMethodRS256.Alg(), jwt.SigningMethodES256.Alg())
	}
	if len(v.algs) == 0 {
		return nil, errors.New("auth: configure an HS256 secret, a JWKS URL, or both")
	}
	return v, nil
}

// NewHS256 verifies tokens signed with the shared secret (SYNC_JWT_SECRET).
func NewHS256(secret []byte, audience string) (*Verifier, error) {
	if secret == nil {
		secret = []byte{}
	}
	return New(Options{HS256Secret: secret, Audience: audience})
}

// Verify returns the token's subject, the auth user id.
func (v *Verifier) Verify(token string) (uuid.UUID, error) {
	parsed, err := jwt.Parse(token, v.key,
		// "alg: none" and any algorithm we have no key type for fail here.
		jwt.WithValidMethods(v.algs),
		jwt.WithAudience(v.audience),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(leeway),
	)
	if err != nil {
		return uuid.Nil, fmt.Errorf("%w: %s", ErrInvalidToken, v.reason(parsed, err))
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

// key picks the verification key by algorithm. Each algorithm gets only its
// own key type, so a public key can never be used as an HMAC secret (the
// HS256-with-RSA-public-key confusion) and an EC key never checks RS256.
func (v *Verifier) key(t *jwt.Token) (any, error) {
	switch alg := t.Method.Alg(); alg {
	case jwt.SigningMethodHS256.Alg():
		if v.hmacSecret == nil {
			return nil, errKeyMismatch
		}
		return v.hmacSecret, nil
	case jwt.SigningMethodRS256.Alg(), jwt.SigningMethodES256.Alg():
		if v.keys == nil {
			return nil, errKeyMismatch
		}
		return v.keys.key(t)
	default:
		return nil, fmt.Errorf("unexpected signing method %s", alg)
	}
}

// reason turns jwt's errors into a short, client-safe phrase.
func (v *Verifier) reason(parsed *jwt.Token, err error) string {
	switch {
	case parsed != nil && parsed.Method != nil && !slices.Contains(v.algs, parsed.Method.Alg()):
		return fmt.Sprintf("algorithm %q not accepted", parsed.Method.Alg())
	case errors.Is(err, errUnknownKey):
		return "unknown signing key (kid)"
	case errors.Is(err, errMissingKid):
		return "missing kid header"
	case errors.Is(err, errKeyMismatch):
		return "algorithm does not match the signing key"
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
