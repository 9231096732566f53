package auth

import (
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// MintHS256 signs a GoTrue-shaped token for an auth user: what `syncproxy token`
// prints for development and what tests send.
func MintHS256(secret []byte, sub uuid.UUID, audience string, ttl time.Duration) (string, error) {
	if audience == "" {
		audience = DefaultAudience
	}
	now := time.Now()
	claims := jwt.MapClaims{
		"sub":  sub.String(),
		"aud":  audience,
		"role": "authenticated",
		"iat":  now.Unix(),
		"exp":  now.Add(ttl).Unix(),
	}
	token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("auth: sign token: %w", err)
	}
	return token, nil
}
