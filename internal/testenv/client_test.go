package testenv

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"

	"github.com/syncproxy/syncproxy/gen/api"
)

// TestOperations_CoverTheSpec: every operation of openapi.yaml has its
// generated call in operations, and nothing else does; otherwise a new
// operation's traffic would quietly bypass the generated client.
func TestOperations_CoverTheSpec(t *testing.T) {
	doc, err := api.GetSwagger()
	if err != nil {
		t.Fatal(err)
	}
	var spec, ours []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			spec = append(spec, method+" "+path)
		}
	}
	for k := range operations {
		ours = append(ours, k)
	}
	sort.Strings(spec)
	sort.Strings(ours)
	if strings.Join(spec, "\n") != strings.Join(ours, "\n") {
		t.Fatalf("operations in openapi.yaml:\n  %s\nin testenv.operations:\n  %s", strings.Join(spec, "\n  "), strings.Join(ours, "\n  "))
	}
}

// seen is one request as the server received it.
type seen struct {
	method, uri, contentType, auth, custom string
	body                                   string
}

// TestDo_SendsWhatTheCallerSaid: the generated client's requests and the
// hand-built ones carry the caller's query byte for byte, its headers (set,
// replaced or deleted) and body, and the bearer.
func TestDo_SendsWhatTheCallerSaid(t *testing.T) {
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_, hasCT := r.Header["Content-Type"]
		ct := r.Header.Get("Content-Type")
		if !hasCT {
			ct = "<none>"
		}
		got <- seen{r.Method, r.RequestURI, ct, r.Header.Get("Authorization"), r.Header.Get("X-Custom"), string(b)}
	}))
	defer srv.Close()
	c := NewClient(srv.URL, "tok", srv.Client())

	cases := []struct {
		name, method, target, contentType, body string
		headers                                 map[string]string
		want                                    seen
	}{
		{"pull, odd query verbatim", "GET", "/api/sync/pull?limit=0x10&limit=2&tables=a%2Cb&x=%zz", "", "", nil,
			seen{"GET", "/api/sync/pull?limit=0x10&limit=2&tables=a%2Cb&x=%zz", "<none>", "Bearer tok", "", ""}},
		{"canary, no query", "GET", "/api/sync/canary", "", "", map[string]string{"X-Custom": "1"},
			seen{"GET", "/api/sync/canary", "<none>", "Bearer tok", "1", ""}},
		{"push, content type replaced, token deleted", "POST", "/api/sync/push?a=1", "application/json", `{"x":1}`,
			map[string]string{"Content-Type": "text/plain", "Authorization": ""},
			seen{"POST", "/api/sync/push?a=1", "text/plain", "", "", `{"x":1}`}},
		{"push without a body names no content type", "POST", "/api/sync/push", "", "", nil,
			seen{"POST", "/api/sync/push", "<none>", "Bearer tok", "", ""}},
		{"outside the spec", "DELETE", "/api/sync/push", "", "", nil,
			seen{"DELETE", "/api/sync/push", "<none>", "Bearer tok", "", ""}},
		{"a body on a GET", "GET", "/api/sync/canary", "application/json", "{}", nil,
			seen{"GET", "/api/sync/canary", "application/json", "Bearer tok", "", "{}"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			res, err := Do(context.Background(), c, tc.method, tc.target, tc.contentType, body, Headers(tc.headers))
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if g := <-got; g != tc.want {
				t.Fatalf("server saw %+v\nwant         %+v", g, tc.want)
			}
		})
	}
}
