package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
)

// pushReply is what the bench reads of a push response.
type pushReply struct {
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

// push sends body to /api/sync/push as token; idempotencyKey may be empty.
func (e *env) push(ctx context.Context, token string, body []byte, idempotencyKey string) (pushReply, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.baseURL+"/api/sync/push", bytes.NewReader(body))
	if err != nil {
		return pushReply{}, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	if idempotencyKey != "" {
		req.Header.Set("Idempotency-Key", idempotencyKey)
	}
	var reply pushReply
	_, err = e.do(req, &reply)
	return reply, err
}

// pull fetches one page of /api/sync/pull as token and says how many body bytes it read.
func (e *env) pull(ctx context.Context, token, cursor string, limit int) (pullPage, int64, error) {
	q := url.Values{}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	u := e.baseURL + "/api/sync/pull"
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return pullPage{}, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	var page pullPage
	n, err := e.do(req, &page)
	return page, n, err
}

// pullLight fetches one page as the timed full pulls do: it reads every byte
// into buf but parses only hasMore and cursor, so that the client's JSON
// decoding (an app's cost, on the app's CPU) does not take the server's CPU
// here. The bench's tenants hold no JSON columns, so the last "hasMore" and
// "cursor" keys of a page are the top-level ones.
func (e *env) pullLight(ctx context.Context, token, cursor string, limit int, buf *bytes.Buffer) (hasMore bool, next string, err error) {
	q := url.Values{"limit": {strconv.Itoa(limit)}}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.baseURL+"/api/sync/pull?"+q.Encode(), nil)
	if err != nil {
		return false, "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := e.client.Do(req)
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

// do sends req and decodes a 200 body into out; any other status is an error
// carrying the envelope's code and message.
func (e *env) do(req *http.Request, out any) (int64, error) {
	resp, err := e.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
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
