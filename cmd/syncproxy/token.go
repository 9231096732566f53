package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/google/uuid"

	"github.com/syncproxy/syncproxy/server/auth"
)

func runToken(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	sub := fs.String("sub", "", "auth user id (uuid) to put in `sub`")
	ttl := fs.Duration("ttl", 24*time.Hour, "lifetime of the token")
	aud := fs.String("aud", envOr("SYNC_JWT_AUDIENCE", auth.DefaultAudience), "audience")
	if err := fs.Parse(args); err != nil {
		return err
	}
	id, err := uuid.Parse(*sub)
	if err != nil {
		return fmt.Errorf("-sub must be a uuid: %w", err)
	}
	secret := os.Getenv("SYNC_JWT_SECRET")
	if secret == "" {
		// With only SYNC_JWKS_URL, tokens come from the identity provider; this
		// command can only sign HS256 ones.
		return errors.New("SYNC_JWT_SECRET is not set (token mints HS256 dev tokens; with SYNC_JWKS_URL alone, get tokens from your identity provider)")
	}
	token, err := auth.MintHS256([]byte(secret), id, *aud, *ttl)
	if err != nil {
		return err
	}
	fmt.Println(token)
	return nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
