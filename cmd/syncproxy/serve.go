package main

import (
	"context"
	"errors"
	"flag"

	"github.com/syncproxy/syncproxy/migrations"
	"github.com/syncproxy/syncproxy/server"
	"github.com/syncproxy/syncproxy/server/config"
)

func runServe(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(nil)
	if err != nil {
		return err
	}
	if cfg.DatabaseURL == "" {
		return errors.New("config: DATABASE_URL is required (or run `syncproxy dev` for a local database)")
	}
	return server.Run(ctx, cfg, newLogger(cfg.LogLevel), nil)
}

func runMigrate(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(nil)
	if cfg.DatabaseURL == "" {
		return errors.New("config: DATABASE_URL is required")
	}
	if err != nil && cfg.DatabaseURL == "" {
		return err
	}
	pool, err := server.OpenPool(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	return migrations.Apply(ctx, pool, newLogger(cfg.LogLevel))
}
