package devicetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/syncproxy/syncproxy/gen/api"
	"github.com/syncproxy/syncproxy/internal/testenv"
)

// Device is one app install: a token for one auth user of one contractor,
// talking HTTP to a server (the harness's unless On says otherwise). Its
// methods fail the test it reports to (see As) on a transport error or a
// response outside the spec; Exchange, PullPage and Walk return errors
// instead, for goroutines.
type Device struct {
	Token        string
	UserID       uuid.UUID
	ContractorID uuid.UUID
	// URL is the server the device talks to.
	URL string

	t      testing.TB
	server *Server
	// headers go with every request (an app install's X-Device-Id and
	// User-Agent); a call's own headers win.
	headers map[string]string
}

// NewTenant provisions a contractor with one owner (an operator's `syncproxy
// tenant create`) and returns the owner's device: every test has tenants no
// other test touches.
func (s *Server) NewTenant(t testing.TB) *Device {
	t.Helper()
	contractor, owner, err := testenv.NewTenant(context.Background(), s.admin(), "Contractor "+t.Name())
	if err != nil {
		t.Fatalf("provision tenant: %v", err)
	}
	return s.DeviceFor(t, owner, contractor)
}

// DeviceFor is the device of auth user user, a member of contractor,
// with a valid token of its own.
func (s *Server) DeviceFor(t testing.TB, user, contractor uuid.UUID) *Device {
	t.Helper()
	token, err := testenv.Token(Secret, user)
	if err != nil {
		t.Fatal(err)
	}
	return &Device{Token: token, UserID: user, ContractorID: contractor, URL: s.URL, t: t, server: s}
}

// As returns a copy of d that reports to t (a subtest, a goroutine's test).
func (d *Device) As(t testing.TB) *Device {
	c := *d
	c.t = t
	return &c
}

// WithToken returns a copy of d that sends token instead of its own.
func (d *Device) WithToken(token string) *Device {
	c := *d
	c.Token = token
	return &c
}

// WithHeaders returns a copy of d that sends headers with every request,
// as an app install sends its X-Device-Id and User-Agent.
func (d *Device) WithHeaders(headers map[string]string) *Device {
	c := *d
	c.headers = maps.Clone(d.headers)
	if c.headers == nil {
		c.headers = map[string]string{}
	}
	maps.Copy(c.headers, headers)
	return &c
}

// On returns a copy of d that talks to the server at url.
func (d *Device) On(url string) *Device {
	c := *d
	c.URL = url
	return &c
}

// Client is the generated client (gen/api) as d: its token, its server,
// every response checked against the spec on arrival.
func (d *Device) Client() *api.Client {
	return testenv.NewClient(d.URL, d.Token, d.server.doer)
}

// Exchange sends body (nil: none; a string or []byte verbatim, anything else
// as JSON) to path, which may carry a query, with headers set or ("" values)
// deleted. A request for an operation of the spec goes through the
// generated client with the query given verbatim; anything else (404, 405, a
// body on a GET) is sent as written. It fails no test: a transport error or
// a response outside the spec is its error.
func (d *Device) Exchange(method, path string, body any, headers map[string]string) (Response, error) {
	var reader io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		reader = strings.NewReader(b)
	case []byte:
		reader = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			return Response{}, err
		}
		reader = bytes.NewReader(raw)
	}
	if len(d.headers) > 0 {
		all := maps.Clone(d.headers)
		maps.Copy(all, headers)
		headers = all
	}
	contentType := ""
	if body != nil {
		contentType = "application/json"
	}
	res, err := testenv.Do(context.Background(), d.Client(), method, path, contentType, reader, testenv.Headers(headers))
	return received(method, path, res, err)
}

// Do is Exchange, failing the test on its error.
func (d *Device) Do(method, path string, body any, headers map[string]string) Response {
	d.t.Helper()
	r, err := d.Exchange(method, path, body, headers)
	if err != nil {
		d.t.Fatal(err)
	}
	return r
}

// Send performs a request the test prepared by hand (a chunked body, a
// header given twice), through the same spec check.
func (d *Device) Send(req *http.Request) Response {
	d.t.Helper()
	res, err := d.server.doer.Do(req)
	r, err := received(req.Method, req.URL.Path, res, err)
	if err != nil {
		d.t.Fatal(err)
	}
	return r
}

// received reads a response whole.
func received(method, path string, res *http.Response, err error) (Response, error) {
	if err != nil {
		return Response{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	r, err := testenv.ReadResponse(res)
	if err != nil {
		return Response{}, err
	}
	return Response(r), nil
}

// DeviceWithToken is a device of no known user that sends token as it is
// (none when empty): for tokens a test crafts, expired, forged or missing.
func (s *Server) DeviceWithToken(t testing.TB, token string) *Device {
	return &Device{Token: token, URL: s.URL, t: t, server: s}
}
