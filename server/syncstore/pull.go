package syncstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/syncproxy/syncproxy/gen/api"
	"github.com/syncproxy/syncproxy/gen/db"
	"github.com/syncproxy/syncproxy/server/apierror"
	"github.com/syncproxy/syncproxy/wire"
)

// PullRequest is a pull's query, already validated against the spec.
type PullRequest struct {
	Cursor string
	Since  *time.Time
	Limit  int
	Tables []api.TableName // empty: all tables
}

// Pull returns one page of contractorID's rows.
//
// Why it cannot miss a change: a page sequence first reads the contractor's
// clock with FOR SHARE, which waits for any push still in flight; every push
// holds the clock row lock until it commits and gets the next seq. So when the
// clock reads N, every change with seq <= N has committed and no change with
// seq <= N can still appear. The walk delivers (Base, N] table by table; the
// next walk starts at Base = N. A row rewritten during a walk gets a seq > N and
// comes in the next walk (delivered twice at worst, never zero times).
func (s *Store) Pull(ctx context.Context, contractorID uuid.UUID, req PullRequest) (api.SyncPullResponse, error) {
	mask := tableMask(req.Tables)
	c, err := startingCursor(req, mask)
	if err != nil {
		return api.SyncPullResponse{}, err
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return api.SyncPullResponse{}, fmt.Errorf("pull: %w", err)
	}
	defer conn.Release()
	q := db.New(conn)

	if !c.Paging {
		clock, err := q.ReadClock(ctx, contractorID)
		if errors.Is(err, pgx.ErrNoRows) {
			return api.SyncPullResponse{}, fmt.Errorf("pull: contractor %s has no sync clock", contractorID)
		}
		if err != nil {
			return api.SyncPullResponse{}, fmt.Errorf("pull: read clock: %w", err)
		}
		c.Paging, c.Horizon, c.At = true, clock.Seq, clock.Now.UnixMicro()
		c.Table, c.Seq, c.ID = 0, c.Base, endOfTable
	}

	page := emptyPullResponse(wire.NewTimestamp(microsTime(c.At)))
	var since *api.Timestamp
	if c.Since != 0 {
		t := wire.NewTimestamp(microsTime(c.Since))
		since = &t
	}
	remaining := req.Limit
	for i := c.Table; i < len(pullTables) && c.Horizon > c.Base; i++ {
		if mask&(1<<i) == 0 {
			continue
		}
		r := read{contractorID: contractorID, horizon: c.Horizon, afterSeq: c.Base, afterID: endOfTable,
			withDeleted: !c.Full, since: since, limit: remaining}
		if i == c.Table {
			r.afterSeq, r.afterID = c.Seq, c.ID
		}
		taken, last, more, err := pullTables[i].read(ctx, q, r, &page)
		if err != nil {
			return api.SyncPullResponse{}, fmt.Errorf("pull %s: %w", pullTables[i].name, err)
		}
		remaining -= taken
		if more {
			next := c
			next.Table, next.Seq, next.ID = i, r.afterSeq, r.afterID
			if taken > 0 {
				next.Seq, next.ID = last.seq, last.id
			}
			page.HasMore, page.Cursor = true, next.encode()
			return page, nil
		}
	}
	page.Cursor = cursor{Base: c.Horizon, Tables: mask}.encode()
	return page, nil
}

func startingCursor(req PullRequest, mask uint16) (cursor, error) {
	if req.Cursor == "" {
		c := cursor{Base: noneDelivered, Tables: mask, Full: req.Since == nil}
		if req.Since != nil {
			c.Since = req.Since.UnixMicro()
		}
		return c, nil
	}
	if req.Since != nil {
		return cursor{}, apierror.BadRequest("give either cursor or since, not both",
			apierror.Detail("", -1, "since", "not allowed together with cursor"))
	}
	c, err := decodeCursor(req.Cursor)
	if err != nil {
		return cursor{}, apierror.BadRequest("invalid cursor: "+err.Error(),
			apierror.Detail("", -1, "cursor", err.Error()))
	}
	if c.Tables != mask {
		return cursor{}, apierror.BadRequest("the cursor was issued for another set of tables",
			apierror.Detail("", -1, "tables", "must be the same as when the cursor was issued: "+maskNames(c.Tables)))
	}
	return c, nil
}

func tableMask(tables []api.TableName) uint16 {
	if len(tables) == 0 {
		return 1<<len(pullTables) - 1
	}
	var m uint16
	for _, t := range tables {
		for i, pt := range pullTables {
			if pt.name == t {
				m |= 1 << i
			}
		}
	}
	return m
}

func maskNames(m uint16) string {
	var names []string
	for i, pt := range pullTables {
		if m&(1<<i) != 0 {
			names = append(names, string(pt.name))
		}
	}
	return strings.Join(names, ",")
}

func emptyPullResponse(serverTime api.Timestamp) api.SyncPullResponse {
	return api.SyncPullResponse{
		Ok:              true,
		ServerTime:      serverTime,
		Contractors:     []api.Contractor{},
		CostbookFolders: []api.CostbookFolder{},
		CostbookItems:   []api.CostbookItem{},
		Estimates:       []api.Estimate{},
		EstimateEvents:  []api.EstimateEvent{},
		PdfSettings:     []api.PdfSettings{},
		PricingRules:    []api.PricingRule{},
		StepAConfigs:    []api.StepAConfig{},
		StepARules:      []api.StepARule{},
		Deleted: api.DeletedIds{
			CostbookFolders: []api.Uuid{},
			CostbookItems:   []api.Uuid{},
			Estimates:       []api.Uuid{},
			EstimateEvents:  []api.Uuid{},
			PricingRules:    []api.Uuid{},
			StepARules:      []api.Uuid{},
		},
	}
}
