package devicetest

// The sync calls as a test makes them: any answer (Push, Pull, Digest,
// Canary), or 200 and its decoded body (the Must forms).

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/syncproxy/syncproxy/gen/api"
)

// The paths of the sync operations of openapi.yaml.
const (
	PushPath    = "/api/sync/push"
	PullPath    = "/api/sync/pull"
	DigestPath  = "/api/sync/digest"
	CanaryPath  = "/api/sync/canary"
	DevicesPath = "/api/sync/devices"
)

// Push sends body (a string or []byte verbatim, anything else as JSON), with
// the first of headers if given.
func (d *Device) Push(body any, headers ...map[string]string) Response {
	d.t.Helper()
	var h map[string]string
	if len(headers) > 0 {
		h = headers[0]
	}
	return d.Do(http.MethodPost, PushPath, body, h)
}

// MustPush pushes and expects 200.
func (d *Device) MustPush(body any) api.SyncPushResponse {
	d.t.Helper()
	r := d.Push(body)
	if r.Status != http.StatusOK {
		d.t.Fatalf("push = %d: %s", r.Status, Truncate(r.Body))
	}
	var out api.SyncPushResponse
	r.Decode(d.t, &out)
	return out
}

// Pull asks for one page with query verbatim.
func (d *Device) Pull(query url.Values) Response {
	d.t.Helper()
	return d.Do(http.MethodGet, withQuery(PullPath, query), nil, nil)
}

// MustPull pulls one page and expects 200.
func (d *Device) MustPull(query url.Values) api.SyncPullResponse {
	d.t.Helper()
	r := d.Pull(query)
	if r.Status != http.StatusOK {
		d.t.Fatalf("pull = %d: %s", r.Status, Truncate(r.Body))
	}
	var out api.SyncPullResponse
	r.Decode(d.t, &out)
	return out
}

// PullAll follows cursors from query until hasMore is false and returns
// every page.
func (d *Device) PullAll(query url.Values) []api.SyncPullResponse {
	d.t.Helper()
	var pages []api.SyncPullResponse
	q := url.Values{}
	for k, v := range query {
		q[k] = v
	}
	for i := 0; ; i++ {
		if i > 1000 {
			d.t.Fatal("pull did not end after 1000 pages")
		}
		page := d.MustPull(q)
		pages = append(pages, page)
		if !page.HasMore {
			return pages
		}
		q.Del("since")
		q.Set("cursor", page.Cursor)
	}
}

// PullRaw pulls one page, expects 200, and returns its top-level members
// byte for byte.
func (d *Device) PullRaw(query url.Values) map[string]json.RawMessage {
	d.t.Helper()
	r := d.Pull(query)
	if r.Status != http.StatusOK {
		d.t.Fatalf("pull = %d: %s", r.Status, Truncate(r.Body))
	}
	var m map[string]json.RawMessage
	r.Decode(d.t, &m)
	return m
}

// PullRows returns the rows of one table of a full pull as generic objects.
func (d *Device) PullRows(table string) []map[string]json.RawMessage {
	d.t.Helper()
	page := d.PullRaw(url.Values{"tables": {table}, "limit": {"5000"}})
	var rows []map[string]json.RawMessage
	if err := json.Unmarshal(page[table], &rows); err != nil {
		d.t.Fatalf("decode %s: %v", table, err)
	}
	return rows
}

// State is a full pull without serverTime (the only member that must move
// when nothing changed): two equal states are byte-for-byte the same data.
func (d *Device) State() string {
	d.t.Helper()
	page := d.PullRaw(url.Values{"limit": {"5000"}})
	if string(page["hasMore"]) != "false" {
		d.t.Fatalf("state does not fit in one page")
	}
	delete(page, "serverTime")
	b, err := json.Marshal(page) // map keys sorted; RawMessage members kept verbatim
	if err != nil {
		d.t.Fatal(err)
	}
	return string(b)
}

// Digest asks for the replica digest with query verbatim.
func (d *Device) Digest(query url.Values) Response {
	d.t.Helper()
	return d.Do(http.MethodGet, withQuery(DigestPath, query), nil, nil)
}

// MustDigest asks for the digest of tables (none: every table), expects
// 200, and returns its cursor and each table's figures by table name.
func (d *Device) MustDigest(tables ...string) (cursor string, figures map[string]api.TableDigest) {
	d.t.Helper()
	q := url.Values{}
	if len(tables) > 0 {
		q.Set("tables", strings.Join(tables, ","))
	}
	r := d.Digest(q)
	if r.Status != http.StatusOK {
		d.t.Fatalf("digest = %d: %s", r.Status, Truncate(r.Body))
	}
	var out struct {
		Cursor string                     `json:"cursor"`
		Tables map[string]api.TableDigest `json:"tables"`
	}
	r.Decode(d.t, &out)
	return out.Cursor, out.Tables
}

// Canary checks the device's token.
func (d *Device) Canary() Response {
	d.t.Helper()
	return d.Do(http.MethodGet, CanaryPath, nil, nil)
}

// MustCanary expects 200 and returns the identity the server derived.
func (d *Device) MustCanary() api.CanaryResponse {
	d.t.Helper()
	r := d.Canary()
	if r.Status != http.StatusOK {
		d.t.Fatalf("canary = %d: %s", r.Status, Truncate(r.Body))
	}
	var c api.CanaryResponse
	r.Decode(d.t, &c)
	return c
}

func withQuery(path string, query url.Values) string {
	if len(query) > 0 {
		return path + "?" + query.Encode()
	}
	return path
}

// Devices asks for the caller's contractor's device ledger.
func (d *Device) Devices() Response {
	d.t.Helper()
	return d.Do(http.MethodGet, DevicesPath, nil, nil)
}

// MustDevices lists the ledger and expects 200.
func (d *Device) MustDevices() api.DeviceList {
	d.t.Helper()
	r := d.Devices()
	if r.Status != http.StatusOK {
		d.t.Fatalf("devices = %d: %s", r.Status, Truncate(r.Body))
	}
	var out api.DeviceList
	r.Decode(d.t, &out)
	return out
}
