package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/google/uuid"

	"github.com/syncproxy/syncproxy/server"
	"github.com/syncproxy/syncproxy/server/config"
	"github.com/syncproxy/syncproxy/server/tenant"
)

// uuidList is a repeatable -owner/-admin/-member flag.
type uuidList []uuid.UUID

func (l *uuidList) String() string { return fmt.Sprint(*l) }
func (l *uuidList) Set(s string) error {
	id, err := uuid.Parse(s)
	if err != nil {
		return fmt.Errorf("not a uuid: %q", s)
	}
	*l = append(*l, id)
	return nil
}

func runTenant(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "create" {
		return errors.New("usage: syncproxy tenant create -name NAME [-id UUID] [-email E] [-currency USD] [-owner AUTH_UUID]... [-admin AUTH_UUID]... [-member AUTH_UUID]...")
	}
	fs := flag.NewFlagSet("tenant create", flag.ContinueOnError)
	name := fs.String("name", "", "contractor name (required)")
	id := fs.String("id", "", "contractor id (default: random)")
	email := fs.String("email", "", "contact email")
	currency := fs.String("currency", "USD", "ISO 4217 currency")
	var owners, admins, members uuidList
	fs.Var(&owners, "owner", "auth user id of an owner (repeatable)")
	fs.Var(&admins, "admin", "auth user id of an admin (repeatable)")
	fs.Var(&members, "member", "auth user id of a member (repeatable)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if strings.TrimSpace(*name) == "" {
		return errors.New("-name is required")
	}
	n := tenant.NewContractor{Name: *name, Currency: *currency}
	if *id != "" {
		parsed, err := uuid.Parse(*id)
		if err != nil {
			return fmt.Errorf("-id must be a uuid: %w", err)
		}
		n.ID = parsed
	}
	if *email != "" {
		n.Email = email
	}
	for role, ids := range map[string]uuidList{"owner": owners, "admin": admins, "member": members} {
		for _, u := range ids {
			n.Members = append(n.Members, tenant.Member{AuthUserID: u, Role: role})
		}
	}
	cfg, _ := config.Load(nil) // only DATABASE_URL and pool settings matter here
	if cfg.DatabaseURL == "" {
		return errors.New("DATABASE_URL is required")
	}
	pool, err := server.OpenPool(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	created, err := tenant.Create(ctx, pool, n)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(map[string]any{"contractor": created, "members": n.Members})
}
