package server

import (
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/labstack/echo/v4"

	"github.com/syncproxy/syncproxy/server/middleware"
)

// operation is what the spec says about one route beyond its types.
type operation struct {
	// authenticated: the operation does not say `security: []`, so it needs
	// a bearer token, a contractor and a request deadline.
	authenticated bool
	// rateLimited: the operation declares a 429 response.
	rateLimited bool
	// hasBody: the operation takes a request body (checked for JSON).
	hasBody bool
}

// operationsOf reads, for every operation of the spec, who may call it and
// how it is limited. A route's middleware comes from here, not from a hand
// list of paths, so a new operation is protected by what its spec says.
func operationsOf(doc *openapi3.T) (map[string]operation, error) {
	ops := map[string]operation{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			security := doc.Security
			if op.Security != nil {
				security = *op.Security
			}
			o := operation{
				authenticated: len(security) > 0,
				rateLimited:   op.Responses != nil && op.Responses.Value("429") != nil,
				hasBody:       op.RequestBody != nil,
			}
			if o.authenticated {
				for _, req := range security {
					for scheme := range req {
						if scheme != "bearerAuth" {
							return nil, fmt.Errorf("%s %s: security scheme %q is not implemented (only bearerAuth)", method, path, scheme)
						}
					}
				}
			}
			ops[routeKey(method, echoPath(path))] = o
		}
	}
	return ops, nil
}

// echoPath spells an OpenAPI path template the way Echo routes it, and
// specPath the other way round.
func echoPath(path string) string { return pathParam.ReplaceAllString(path, ":$1") }
func specPath(path string) string { return echoParam.ReplaceAllString(path, "{$1}") }

var (
	pathParam = regexp.MustCompile(`\{([^}/]+)\}`)
	echoParam = regexp.MustCompile(`:([A-Za-z0-9_]+)`)
)

func routeKey(method, path string) string { return strings.ToUpper(method) + " " + path }

// routes attaches per-route middleware while the generated code registers the
// spec's operations: authenticated operations get a deadline and the tenant,
// rate-limited ones a per-contractor budget, bodies are checked for JSON and
// their bytes reserved (per contractor and in all) before they are read, and
// every operation is validated against the spec. Unknown routes skip all of
// it and get 404/405.
type routes struct {
	e          *echo.Echo
	ops        map[string]operation
	registered map[string]bool
	deadline   echo.MiddlewareFunc
	auth       echo.MiddlewareFunc
	// authLimited is auth with the per-user rate limit before the tenant
	// lookup, for rate-limited operations.
	authLimited echo.MiddlewareFunc
	rateLimit   echo.MiddlewareFunc
	// device records each authenticated request in the device ledger; right
	// after auth, so it sees the rate limit's and the validator's refusals.
	device    echo.MiddlewareFunc
	bodyBytes echo.MiddlewareFunc // the bytes of bodies being read at once
	validate  echo.MiddlewareFunc
	params    map[string]echo.MiddlewareFunc // by "METHOD /path" as the spec writes it
}

func (r *routes) chain(method, path string, m []echo.MiddlewareFunc) []echo.MiddlewareFunc {
	key := routeKey(method, path)
	op, ok := r.ops[key]
	if !ok {
		// The generated code registers only the spec's operations.
		panic(fmt.Sprintf("server: route %s is not an operation of the spec", key))
	}
	if r.registered == nil {
		r.registered = map[string]bool{}
	}
	r.registered[key] = true
	params, ok := r.params[method+" "+specPath(path)]
	if !ok {
		panic(fmt.Sprintf("server: no parameter check for %s", key))
	}
	// Parameters that do not parse are refused first: it costs nothing.
	out := []echo.MiddlewareFunc{params}
	switch {
	case op.authenticated && op.rateLimited:
		out = append(out, r.deadline, r.authLimited, r.device)
	case op.authenticated:
		out = append(out, r.deadline, r.auth, r.device)
	}
	if op.rateLimited {
		out = append(out, r.rateLimit)
	}
	if op.hasBody {
		out = append(out, middleware.RequireJSON())
		if op.authenticated {
			out = append(out, r.bodyBytes)
		}
	}
	out = append(out, r.validate)
	return append(out, m...)
}

// unregistered lists the spec's operations the generated code did not route.
func (r *routes) unregistered() []string {
	var missing []string
	for key := range r.ops {
		if !r.registered[key] {
			missing = append(missing, key)
		}
	}
	sort.Strings(missing)
	return missing
}

func (r *routes) CONNECT(p string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.e.CONNECT(p, h, r.chain(http.MethodConnect, p, m)...)
}
func (r *routes) DELETE(p string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.e.DELETE(p, h, r.chain(http.MethodDelete, p, m)...)
}
func (r *routes) GET(p string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.e.GET(p, h, r.chain(http.MethodGet, p, m)...)
}
func (r *routes) HEAD(p string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.e.HEAD(p, h, r.chain(http.MethodHead, p, m)...)
}
func (r *routes) OPTIONS(p string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.e.OPTIONS(p, h, r.chain(http.MethodOptions, p, m)...)
}
func (r *routes) PATCH(p string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.e.PATCH(p, h, r.chain(http.MethodPatch, p, m)...)
}
func (r *routes) POST(p string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.e.POST(p, h, r.chain(http.MethodPost, p, m)...)
}
func (r *routes) PUT(p string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.e.PUT(p, h, r.chain(http.MethodPut, p, m)...)
}
func (r *routes) TRACE(p string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.e.TRACE(p, h, r.chain(http.MethodTrace, p, m)...)
}
