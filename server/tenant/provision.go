package tenant

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/syncproxy/syncproxy/gen/db"
	"github.com/syncproxy/syncproxy/server/pgtx"
)

// Member is an auth user to attach to a new contractor.
type Member struct {
	AuthUserID uuid.UUID
	Role       string // owner, admin or member
}

// NewContractor describes a tenant to provision, which happens outside sync
// (docs/contract.md, "Tenant derivation").
type NewContractor struct {
	ID       uuid.UUID // zero: a new random id
	Name     string
	Email    *string
	Currency string // default USD
	Members  []Member
}

// Create provisions a contractor and its team members in one transaction.
func Create(ctx context.Context, pool *pgtx.Pool, n NewContractor) (db.Contractor, error) {
	if n.ID == uuid.Nil {
		n.ID = uuid.New()
	}
	if n.Currency == "" {
		n.Currency = "USD"
	}
	var created db.Contractor
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		q := db.New(tx)
		var err error
		created, err = q.CreateContractor(ctx, db.CreateContractorParams{
			ID: n.ID, Name: n.Name, Email: n.Email, Currency: n.Currency,
		})
		if err != nil {
			return fmt.Errorf("create contractor %q: %w", n.Name, err)
		}
		for _, m := range n.Members {
			if _, err := q.CreateUser(ctx, db.CreateUserParams{
				AuthUserID: m.AuthUserID, ContractorID: created.ID, Role: m.Role,
			}); err != nil {
				return fmt.Errorf("add %s %s: %w", m.Role, m.AuthUserID, err)
			}
		}
		return nil
	})
	return created, err
}
