package live

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Channel is the Postgres notification channel pushes announce on
// (queries/live.sql, AnnouncePush).
const Channel = "syncproxy_live"

// Clock is one contractor's clock as the database holds it: per table, the
// version of the last push that wrote it (sync_clock.table_seqs).
type Clock struct {
	Contractor uuid.UUID
	TableSeqs  json.RawMessage
}

// ClockReader reads the clocks of contractors, in one statement
// (db.LiveClocks).
type ClockReader func(ctx context.Context, contractors []uuid.UUID) ([]Clock, error)

// Feed is how the pushes of other instances reach a hub.
type Feed struct {
	// Clocks reads clocks: the poll, and the catch-up after (re)connecting.
	Clocks ClockReader
	// Listen, if not nil, opens a direct (not pooled) connection to LISTEN
	// on; nil: poll every Interval.
	Listen   func(ctx context.Context) (*pgx.Conn, error)
	Interval time.Duration
	Logger   *slog.Logger
}

// Run brings other instances' pushes to h until ctx ends.
func (f Feed) Run(ctx context.Context, h *Hub) {
	if f.Logger == nil {
		f.Logger = slog.New(slog.DiscardHandler)
	}
	if f.Listen == nil {
		f.Logger.Info("live pulls: polling the clocks of held contractors (no SYNC_LISTEN_DATABASE_URL)", "interval", f.Interval.String())
		f.poll(ctx, h)
		return
	}
	f.listen(ctx, h)
}

// poll reads, once an interval, the clocks of the contractors h holds
// pulls of: one statement per instance however many pulls it holds, none
// while it holds none.
func (f Feed) poll(ctx context.Context, h *Hub) {
	t := time.NewTicker(f.Interval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := f.catchUp(ctx, h)
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			failing = true
			f.Logger.Warn("live pulls: reading the clocks failed; held pulls wake on this instance's pushes only until it works again", "err", err)
		case err == nil && failing:
			failing = false
			f.Logger.Info("live pulls: reading the clocks works again")
		}
	}
}

// catchUp reads the clocks of every contractor h holds pulls of and wakes
// the waiters whose tables moved past their cursors.
func (f Feed) catchUp(ctx context.Context, h *Hub) error {
	contractors := h.Contractors()
	if len(contractors) == 0 {
		return nil
	}
	clocks, err := f.Clocks(ctx, contractors)
	if err != nil {
		return fmt.Errorf("read clocks: %w", err)
	}
	seqs := make([]int64, len(h.ordinals))
	for _, c := range clocks {
		var byName map[string]int64
		if err := json.Unmarshal(c.TableSeqs, &byName); err != nil {
			return fmt.Errorf("decode sync_clock.table_seqs: %w", err)
		}
		clear(seqs)
		for name, seq := range byName {
			if i, ok := h.ordinals[name]; ok {
				seqs[i] = seq
			}
		}
		h.AnnounceClock(c.Contractor, seqs)
	}
	return nil
}

// listen keeps one connection LISTENing on Channel and announces what it
// hears. After every (re)connect it catches up from the clocks, since
// notifications sent while it was away are lost.
func (f Feed) listen(ctx context.Context, h *Hub) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := f.listenOnce(ctx, h)
		if ctx.Err() != nil {
			return
		}
		f.Logger.Warn("live pulls: the LISTEN connection failed; reconnecting (held pulls wake on this instance's pushes meanwhile)",
			"err", err, "retry_in", backoff.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (f Feed) listenOnce(ctx context.Context, h *Hub) error {
	conn, err := f.Listen(ctx)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
		return fmt.Errorf("LISTEN: %w", err)
	}
	f.Logger.Info("live pulls: listening for other instances' pushes")
	if err := f.catchUp(ctx, h); err != nil {
		return err
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return fmt.Errorf("wait for notification: %w", err)
		}
		contractor, version, tables, err := h.parse(n.Payload)
		if err != nil {
			f.Logger.Warn("live pulls: a notification not from a push of this version", "err", err)
			continue
		}
		h.Announce(contractor, version, tables)
	}
}

// errPayload is a notification on Channel that AnnouncePush did not send.
var errPayload = errors.New("payload is not \"<contractor> <version> <table>,...\"")

// parse reads AnnouncePush's payload. A table this instance does not know
// (a newer instance's, during a rolling upgrade) wakes nothing.
func (h *Hub) parse(payload string) (uuid.UUID, int64, Tables, error) {
	parts := strings.Split(payload, " ")
	if len(parts) != 3 {
		return uuid.UUID{}, 0, 0, errPayload
	}
	contractor, err := uuid.Parse(parts[0])
	if err != nil {
		return uuid.UUID{}, 0, 0, errPayload
	}
	version, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return uuid.UUID{}, 0, 0, errPayload
	}
	var tables Tables
	for _, name := range strings.Split(parts[2], ",") {
		if i, ok := h.ordinals[name]; ok {
			tables |= 1 << i
		}
	}
	return contractor, version, tables, nil
}
