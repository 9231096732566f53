package testenv

// The generated client (gen/api, from openapi.yaml) as the test harnesses and
// the bench use it: requests are built the way a Go app built from the
// contract builds them, not by three hand-rolled copies that drift apart.

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/syncproxy/syncproxy/gen/api"
)

// NewClient is the generated client for the server at baseURL, sending token
// as a bearer (no Authorization header when token is empty) and every request
// through doer: an *http.Client, or a CheckedDoer around one.
func NewClient(baseURL, token string, doer api.HttpRequestDoer) *api.Client {
	// The struct itself, not api.NewClient: that one can only fail through
	// options, and a harness builds a client per request.
	return &api.Client{
		Server:         strings.TrimSuffix(baseURL, "/") + "/",
		Client:         doer,
		RequestEditors: []api.RequestEditorFn{Bearer(token)},
	}
}

// Bearer authenticates a request as token; an empty token sends none.
func Bearer(token string) api.RequestEditorFn {
	return func(_ context.Context, req *http.Request) error {
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		return nil
	}
}

// Headers sets each header of h, or deletes it when its value is "": a test
// can send a wrong Content-Type, another Authorization or none at all.
func Headers(h map[string]string) api.RequestEditorFn {
	return func(_ context.Context, req *http.Request) error {
		for k, v := range h {
			if v == "" {
				req.Header.Del(k)
			} else {
				req.Header.Set(k, v)
			}
		}
		return nil
	}
}

// operation is one operation of openapi.yaml as a call of the generated client.
type operation struct {
	takesBody bool
	call      func(ctx context.Context, c *api.Client, contentType string, body io.Reader, editors []api.RequestEditorFn) (*http.Response, error)
}

// operations are the generated client's calls by "METHOD path" of
// openapi.yaml. TestOperations_CoverTheSpec fails when an operation is added
// to the spec and not here, so no operation quietly falls to the raw path.
var operations = map[string]operation{
	"GET /api/sync/canary": {call: func(ctx context.Context, c *api.Client, _ string, _ io.Reader, e []api.RequestEditorFn) (*http.Response, error) {
		return c.GetCanary(ctx, e...)
	}},
	// No typed parameters: Do gives the request the caller's query verbatim.
	"GET /api/sync/pull": {call: func(ctx context.Context, c *api.Client, _ string, _ io.Reader, e []api.RequestEditorFn) (*http.Response, error) {
		return c.PullChanges(ctx, nil, e...)
	}},
	"POST /api/sync/push": {takesBody: true, call: func(ctx context.Context, c *api.Client, contentType string, body io.Reader, e []api.RequestEditorFn) (*http.Response, error) {
		return c.PushChangesWithBody(ctx, nil, contentType, body, e...)
	}},
	"GET /api/sync/digest": {call: func(ctx context.Context, c *api.Client, _ string, _ io.Reader, e []api.RequestEditorFn) (*http.Response, error) {
		return c.GetDigest(ctx, nil, e...)
	}},
	"GET /api/sync/devices": {call: func(ctx context.Context, c *api.Client, _ string, _ io.Reader, e []api.RequestEditorFn) (*http.Response, error) {
		return c.ListDevices(ctx, e...)
	}},
	"GET /healthz": {call: func(ctx context.Context, c *api.Client, _ string, _ io.Reader, e []api.RequestEditorFn) (*http.Response, error) {
		return c.GetHealth(ctx, e...)
	}},
	"GET /readyz": {call: func(ctx context.Context, c *api.Client, _ string, _ io.Reader, e []api.RequestEditorFn) (*http.Response, error) {
		return c.GetReady(ctx, e...)
	}},
	"GET /metrics": {call: func(ctx context.Context, c *api.Client, _ string, _ io.Reader, e []api.RequestEditorFn) (*http.Response, error) {
		return c.GetMetrics(ctx, e...)
	}},
	"GET /api/openapi.json": {call: func(ctx context.Context, c *api.Client, _ string, _ io.Reader, e []api.RequestEditorFn) (*http.Response, error) {
		return c.GetOpenAPI(ctx, e...)
	}},
}

// Do sends method and target (a path, optionally with a query) to c's server,
// with body (nil: none) of contentType ("": no Content-Type header), then
// applies editors. A request for an operation of openapi.yaml is built by the
// generated client; its query is the caller's, byte for byte, so tests of
// malformed or repeated parameters still say exactly what goes out. Anything
// the generated client cannot express (a route or method outside the spec, a
// body on a GET, a path spelled differently) is built by hand instead, with
// the same bearer and editors and through the same doer.
func Do(ctx context.Context, c *api.Client, method, target, contentType string, body io.Reader, editors ...api.RequestEditorFn) (*http.Response, error) {
	path, query, hasQuery := strings.Cut(target, "?")
	op, ok := operations[method+" "+path]
	if !ok || (body != nil && !op.takesBody) {
		return doRaw(ctx, c, method, target, contentType, body, editors)
	}
	verbatim := func(_ context.Context, req *http.Request) error {
		req.URL.RawQuery, req.URL.ForceQuery = query, hasQuery && query == ""
		if contentType == "" {
			// The generated client always names a content type; a request
			// without a body names none.
			req.Header.Del("Content-Type")
		}
		return nil
	}
	return op.call(ctx, c, contentType, body, append([]api.RequestEditorFn{verbatim}, editors...))
}

// doRaw is Do's way for requests outside the spec.
func doRaw(ctx context.Context, c *api.Client, method, target, contentType string, body io.Reader, editors []api.RequestEditorFn) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.Server, "/")+target, body)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for _, edit := range slices.Concat(c.RequestEditors, editors) {
		if err := edit(ctx, req); err != nil {
			return nil, err
		}
	}
	return c.Client.Do(req)
}
