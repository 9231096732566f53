package devicetest

// Pulls as a reader in a goroutine makes them: errors returned, never a
// test failed, and pages kept generic so that every table's rows can be
// checked (for their tenant, say) whatever columns they have.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/syncproxy/syncproxy/gen/api"
	"github.com/syncproxy/syncproxy/server/syncstore"
)

// Page is one pull response.
type Page struct {
	HasMore    bool                        `json:"hasMore"`
	Cursor     string                      `json:"cursor"`
	ServerTime string                      `json:"serverTime"`
	Deleted    map[string][]uuid.UUID      `json:"deleted"`
	Rows       map[string][]map[string]any `json:"-"` // every table's, by table name
}

// Tables are the table keys every pull carries, from the generated registry.
func Tables() []string {
	var names []string
	for _, t := range syncstore.Tables() {
		names = append(names, t.Name)
	}
	return names
}

// DecodePage reads a pull body; a table missing or not an array is an error.
func DecodePage(body []byte) (Page, error) {
	var p Page
	if err := json.Unmarshal(body, &p); err != nil {
		return p, fmt.Errorf("decode pull: %w", err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return p, fmt.Errorf("decode pull: %w", err)
	}
	p.Rows = map[string][]map[string]any{}
	for _, table := range Tables() {
		rows, ok := raw[table]
		if !ok {
			return p, fmt.Errorf("pull lacks table %q", table)
		}
		var list []map[string]any
		if err := json.Unmarshal(rows, &list); err != nil || list == nil {
			return p, fmt.Errorf("pull table %q is not an array: %s", table, rows)
		}
		p.Rows[table] = list
	}
	return p, nil
}

// PullPage fetches one page from cursor (empty: a full pull) or since (a
// serverTime) with the generated client's typed parameters; limit 0 is the
// server's default.
func (d *Device) PullPage(cursor, since string, limit int) (Page, error) {
	var params api.PullChangesParams
	if cursor != "" {
		params.Cursor = &cursor
	}
	if since != "" {
		t, err := time.Parse(time.RFC3339Nano, since)
		if err != nil {
			return Page{}, fmt.Errorf("since %q: %w", since, err)
		}
		params.Since = &t
	}
	if limit > 0 {
		l := int32(limit)
		params.Limit = &l
	}
	res, err := d.Client().PullChanges(context.Background(), &params)
	r, err := received(http.MethodGet, PullPath, res, err)
	if err != nil {
		return Page{}, err
	}
	if r.Status != http.StatusOK {
		return Page{}, fmt.Errorf("pull = %d: %s", r.Status, Truncate(r.Body))
	}
	return DecodePage(r.Body)
}

// Walk follows cursors from cursor (or since) until hasMore is false and
// returns every page; the last page's cursor is where the next walk starts.
func (d *Device) Walk(cursor, since string, limit int) ([]Page, error) {
	return WalkEach(func() *Device { return d }, cursor, since, limit)
}

// WalkEach is Walk with each page pulled by the device next returns: a device
// whose requests a load balancer spreads over instances (Device.On).
func WalkEach(next func() *Device, cursor, since string, limit int) ([]Page, error) {
	var pages []Page
	for i := 0; ; i++ {
		if i > 10000 {
			return pages, fmt.Errorf("pull did not end after %d pages", i)
		}
		p, err := next().PullPage(cursor, since, limit)
		if err != nil {
			return pages, err
		}
		pages = append(pages, p)
		if !p.HasMore {
			return pages, nil
		}
		cursor, since = p.Cursor, ""
	}
}
