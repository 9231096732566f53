// Package tenant derives the caller's contractor on the server
// (docs/contract.md, "Tenant derivation") and carries it in the request context. The contractor
// id is never taken from a request.
package tenant

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/syncproxy/syncproxy/gen/db"
)

// Identity is who is calling: the auth user and the contractor it belongs to.
type Identity struct {
	UserID       uuid.UUID
	ContractorID uuid.UUID
}

// ErrNoContractor means the auth user is valid but belongs to no contractor.
var ErrNoContractor = errors.New("the user belongs to no contractor")

// Resolve maps an auth user to its contractor: users.contractor_id where
// users.auth_user_id = user, else a contractor whose id is the user.
func Resolve(ctx context.Context, q *db.Queries, userID uuid.UUID) (Identity, error) {
	contractorID, err := q.ResolveContractor(ctx, userID)
	if err != nil {
		return Identity{}, fmt.Errorf("resolve contractor of %s: %w", userID, err)
	}
	if contractorID == uuid.Nil {
		return Identity{}, ErrNoContractor
	}
	return Identity{UserID: userID, ContractorID: contractorID}, nil
}

type contextKey struct{}

// WithIdentity returns ctx carrying id. Strict handlers only see the request's
// context (not Echo's), so this is where the identity must live.
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, contextKey{}, id)
}

// FromContext returns the identity the auth middleware stored.
func FromContext(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(contextKey{}).(Identity)
	return id, ok
}

type userKey struct{}

// WithUser returns ctx carrying the verified auth user before its
// contractor is known, so that a request refused between the two (a
// user's rate limit) can still be told apart (the ops page).
func WithUser(ctx context.Context, user uuid.UUID) context.Context {
	return context.WithValue(ctx, userKey{}, user)
}

// UserFromContext returns the user WithUser stored.
func UserFromContext(ctx context.Context) (uuid.UUID, bool) {
	u, ok := ctx.Value(userKey{}).(uuid.UUID)
	return u, ok
}
