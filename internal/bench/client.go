package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/syncproxy/syncproxy/gen/api"
	"github.com/syncproxy/syncproxy/internal/testenv"
	"github.com/syncproxy/syncproxy/wire/push"
)

// pushReply is what the bench reads of a push response.
type pushReply struct {
	Version  int64 `json:"version"`
	Upserted struct {
		CostbookItems int `json:"costbook_items"`
	} `json:"upserted"`
}

// pullPage is what the bench reads of a pull page. Rows decode into empty
// structs: the client still scans every byte, as an app must, but builds
// nothing, so the client's share of the CPU stays small.
type pullPage struct {
	HasMore       bool       `json:"hasMore"`
	Cursor        string     `json:"cursor"`
	Contractors   []struct{} `json:"contractors"`
	CostbookItems []struct{} `json:"costbook_items"`
	Deleted       struct {
		CostbookItems []struct{} `json:"costbook_items"`
	} `json:"deleted"`
}

func (p pullPage) rows() int {
	return len(p.Contractors) + len(p.CostbookItems) + len(p.Deleted.CostbookItems)
}

// countingReader counts the bytes of a response body.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	return n, err
}

// client is the generated client (gen/api) as the device holding token. It
// is three fields, built per request so that each device sends its own
// bearer; requests are built by the generated code, responses read below as
// cheaply as a client can.
func (e *env) apiClient(token string) *api.Client {
	return testenv.NewClient(e.baseURL, token, e.client)
}

// push sends body to /api/sync/push as token with the generated client's
// typed call; idempotencyKey may be empty.
func (e *env) push(ctx context.Context, token string, body push.Body, idempotencyKey string) (pushReply, error) {
	res, err := testenv.Push(ctx, e.apiClient(token), body, idempotencyKey)
	var reply pushReply
	_, err = decode(res, err, &reply)
	return reply, err
}

// pushBytes sends a body written by hand, for the bodies the typed call
// would inflate: encoding/json, which the generated client encodes with,
// writes every '<', '>' and '&' of a string as six bytes (\u003c).
func (e *env) pushBytes(ctx context.Context, token string, body []byte) (pushReply, error) {
	res, err := e.apiClient(token).PushChangesWithBody(ctx, nil, "application/json", bytes.NewReader(body))
	var reply pushReply
	_, err = decode(res, err, &reply)
	return reply, err
}

// pullParams asks for the page after cursor (none: a full pull) of at most
// limit rows (0: the server's default).
func pullParams(cursor string, limit int) *api.PullChangesParams {
	var p api.PullChangesParams
	if cursor != "" {
		p.Cursor = &cursor
	}
	if limit > 0 {
		l := int32(limit)
		p.Limit = &l
	}
	return &p
}

// pull fetches one page of /api/sync/pull as token and says how many body bytes it read.
func (e *env) pull(ctx context.Context, token, cursor string, limit int) (pullPage, int64, error) {
	res, err := e.apiClient(token).PullChanges(ctx, pullParams(cursor, limit))
	var page pullPage
	n, err := decode(res, err, &page)
	return page, n, err
}

// pullLight fetches one page as the timed full pulls do: it reads every byte
// into buf but parses only hasMore and cursor, so that the client's JSON
// decoding (an app's cost, on the app's CPU) does not take the server's CPU
// here. The bench's tenants hold no JSON columns, so the last "hasMore" and
// "cursor" keys of a page are the top-level ones.
func (e *env) pullLight(ctx context.Context, token, cursor string, limit int, buf *bytes.Buffer) (hasMore bool, next string, err error) {
	resp, err := e.apiClient(token).PullChanges(ctx, pullParams(cursor, limit))
	if err != nil {
		return false, "", err
	}
	defer resp.Body.Close()
	buf.Reset()
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return false, "", err
	}
	b := buf.Bytes()
	if resp.StatusCode != http.StatusOK {
		return false, "", fmt.Errorf("GET /api/sync/pull: %d %s", resp.StatusCode, bytes.TrimSpace(b[:min(len(b), 512)]))
	}
	if i := bytes.LastIndex(b, []byte(`"hasMore":`)); i >= 0 {
		hasMore = bytes.HasPrefix(b[i+len(`"hasMore":`):], []byte("true"))
	}
	if i := bytes.LastIndex(b, []byte(`"cursor":"`)); i >= 0 {
		rest := b[i+len(`"cursor":"`):]
		if j := bytes.IndexByte(rest, '"'); j >= 0 {
			next = string(rest[:j])
		}
	}
	if hasMore && next == "" {
		return false, "", fmt.Errorf("GET /api/sync/pull: hasMore without a cursor")
	}
	return hasMore, next, nil
}

// decode reads the response to a request that returned resp or err, decoding
// a 200 body into out; any other status is an error carrying the envelope's
// code and message. It returns how many body bytes it read.
func decode(resp *http.Response, err error, out any) (int64, error) {
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	req := resp.Request
	body := &countingReader{r: resp.Body}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(body, 512))
		return body.n, fmt.Errorf("%s %s: %d %s", req.Method, req.URL.Path, resp.StatusCode, bytes.TrimSpace(b))
	}
	if err := json.NewDecoder(body).Decode(out); err != nil {
		return body.n, fmt.Errorf("%s %s: decode: %w", req.Method, req.URL.Path, err)
	}
	// Read the rest (the encoder's trailing newline) so the connection is reused.
	io.Copy(io.Discard, body) //nolint:errcheck // the page is already decoded
	return body.n, nil
}
