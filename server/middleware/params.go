package middleware

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/labstack/echo/v4"

	"github.com/syncproxy/syncproxy/gen/api"
	"github.com/syncproxy/syncproxy/server/apierror"
)

// Parameters returns, per operation of the spec ("GET /api/sync/pull"), a
// middleware that rejects the parameters the generated binding and
// kin-openapi would otherwise resolve silently:
//
//   - a query string that does not parse: URL.Query(), which both use, drops
//     every pair with a ';' or a bad %-escape without a word, so
//     `?tables=costbook_items;drop` pulled every table and `?cursor=%%%`
//     answered a full pull to a device that meant to continue;
//   - a parameter the contract expects once, given twice (`?since=a&since=b`
//     used one of them): which one the client meant is not ours to guess;
//   - query and header values that are not valid UTF-8, and header values
//     with control characters (an Idempotency-Key of bytes Postgres cannot
//     store failed in the database, whose message reached the client);
//   - a list longer than its maxItems, or with a repeat (see listRule);
//   - a value of a format the contract checks (`since` is a date-time:
//     years 0001-9999 in UTC, offsets within ±18:00, as a pushed timestamp),
//     which kin-openapi checks in bodies only: `since=0000-01-01T00:00:00Z`
//     reached Postgres, and `+18:01` was taken.
//
// Each is a 400 naming the parameter when it is one of the operation's, and
// it costs nothing, so it runs before authentication.
func Parameters() (map[string]echo.MiddlewareFunc, error) {
	doc, err := api.GetSwagger()
	if err != nil {
		return nil, fmt.Errorf("load embedded spec: %w", err)
	}
	out := map[string]echo.MiddlewareFunc{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			mw, err := parameters(op)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", method, path, err)
			}
			out[method+" "+path] = mw
		}
	}
	return out, nil
}

func parameters(op *openapi3.Operation) (echo.MiddlewareFunc, error) {
	// once: every query parameter of the operation, true if it takes one value.
	once := map[string]bool{}
	// emptyIsAbsent: parameters whose spec says allowEmptyValue: `since=` is
	// how the seed's client asks for a full pull.
	emptyIsAbsent := map[string]bool{}
	lists := map[string]listRule{}
	formats := map[string]func(string) error{}
	var headers []string
	for _, ref := range op.Parameters {
		p := ref.Value
		switch p.In {
		case openapi3.ParameterInQuery:
			once[p.Name] = !repeatable(p)
			if p.AllowEmptyValue {
				emptyIsAbsent[p.Name] = true
			}
			if p.Schema != nil && p.Schema.Value != nil && p.Schema.Value.Type.Is(openapi3.TypeString) {
				if check, ok := formatChecks[p.Schema.Value.Format]; ok {
					formats[p.Name] = check
				}
			}
			if p.Schema != nil && p.Schema.Value != nil && p.Schema.Value.Type.Is(openapi3.TypeArray) {
				rule, err := listRuleOf(p)
				if err != nil {
					return nil, fmt.Errorf("parameter %s: %w", p.Name, err)
				}
				lists[p.Name] = rule
			}
		case openapi3.ParameterInHeader:
			headers = append(headers, http.CanonicalHeaderKey(p.Name))
		}
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if err := checkQuery(c.Request().URL.RawQuery, once, lists, formats); err != nil {
				return err
			}
			if err := checkHeaders(c.Request().Header, headers); err != nil {
				return err
			}
			if len(emptyIsAbsent) > 0 {
				req := c.Request()
				if q, dropped := dropEmpty(req.URL.RawQuery, emptyIsAbsent); dropped {
					req.URL.RawQuery = q
				}
			}
			return next(c)
		}
	}, nil
}

// listRule is what the spec bounds a list parameter (`tables=a,b`) by.
// kin-openapi does work for every item (one error each: `tables=` with
// 900 KB of `x,` cost 531 MiB), so both bounds are checked on the raw
// query, before kin-openapi and before the token, by counting.
type listRule struct {
	maxItems int
	unique   bool
	exploded bool // `?t=a&t=b` rather than `?t=a,b`
}

// listRuleOf reads maxItems and uniqueItems. A list of an enum that lists
// each value once can hold no more items than the enum has values, and the
// spec must say so (the contract: at most as many tables as there are), so a
// value added to the enum without raising maxItems fails at start.
func listRuleOf(p *openapi3.Parameter) (listRule, error) {
	s := p.Schema.Value
	if s.MaxItems == nil {
		return listRule{}, fmt.Errorf("an array parameter needs maxItems (kin-openapi does work per item of any count)")
	}
	rule := listRule{maxItems: int(*s.MaxItems), unique: s.UniqueItems, exploded: repeatable(p)}
	if s.Items != nil && s.Items.Value != nil && len(s.Items.Value.Enum) > 0 && s.UniqueItems &&
		rule.maxItems != len(s.Items.Value.Enum) {
		return listRule{}, fmt.Errorf("maxItems is %d but its items are one of %d values, each at most once: make them equal",
			rule.maxItems, len(s.Items.Value.Enum))
	}
	return rule, nil
}

// checkList counts the items of one more value of a list parameter (before
// splitting it: splitting an overlong list is the per-item cost this check
// prevents), then looks for a repeat among the items given so far.
func checkList(name string, rule listRule, value string, items []string) ([]string, error) {
	n := 1
	if !rule.exploded {
		n = strings.Count(value, ",") + 1
	}
	if len(items)+n > rule.maxItems {
		return nil, apierror.BadRequest("the "+name+" list is too long",
			apierror.Detail("", -1, name, fmt.Sprintf("at most %d items", rule.maxItems)))
	}
	if rule.exploded {
		items = append(items, value)
	} else {
		items = append(items, strings.Split(value, ",")...)
	}
	if rule.unique {
		for i, item := range items {
			if slices.Contains(items[:i], item) {
				return nil, apierror.BadRequest("the "+name+" list names an item twice",
					apierror.Detail("", -1, name, "lists an item more than once"))
			}
		}
	}
	return items, nil
}

// repeatable: only an exploded array (`?t=a&t=b`, form style's default) is
// meant to be given several times.
func repeatable(p *openapi3.Parameter) bool {
	if p.Schema == nil || p.Schema.Value == nil || !p.Schema.Value.Type.Is(openapi3.TypeArray) {
		return false
	}
	if p.Style != "" && p.Style != openapi3.SerializationForm {
		return false
	}
	return p.Explode == nil || *p.Explode
}

// checkQuery parses raw as url.ParseQuery does, but stops at the first pair
// it cannot parse instead of dropping it. Only a name the operation declares
// is echoed back in the details: anything else is the client's text, of any
// length.
func checkQuery(raw string, once map[string]bool, lists map[string]listRule, formats map[string]func(string) error) error {
	seen := map[string]bool{}
	items := map[string][]string{} // of the list parameters
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" {
			continue
		}
		rawName, rawValue, _ := strings.Cut(pair, "=")
		name, nameErr := url.QueryUnescape(rawName)
		declared := ""
		if _, ok := once[name]; ok && nameErr == nil {
			declared = name
		}
		switch {
		case strings.Contains(pair, ";"):
			return queryError(declared, "contains ';', which does not separate parameters (separate with '&'; write a ';' as %3B)")
		case nameErr != nil || !utf8.ValidString(name):
			return queryError("", "a parameter name is not a valid %-escaped UTF-8 text")
		}
		value, err := url.QueryUnescape(rawValue)
		switch {
		case err != nil:
			return queryError(declared, "malformed %-escape (write a '%' as %25)")
		case !utf8.ValidString(value):
			return queryError(declared, "not valid UTF-8")
		case once[name] && seen[name]:
			return apierror.BadRequest("a parameter is given more than once",
				apierror.Detail("", -1, name, "given more than once; the contract takes one value"))
		}
		seen[name] = true
		if check, ok := formats[name]; ok && value != "" { // empty: allowEmptyValue's "absent"
			if err := check(value); err != nil {
				return apierror.BadRequest("a parameter has an invalid value", apierror.Detail("", -1, name, err.Error()))
			}
		}
		if rule, ok := lists[name]; ok {
			if items[name], err = checkList(name, rule, value, items[name]); err != nil {
				return err
			}
		}
	}
	return nil
}

func queryError(name, reason string) error {
	return apierror.BadRequest("the query string cannot be parsed", apierror.Detail("", -1, name, reason))
}

// checkHeaders: net/http already refuses control characters other than tab
// in header values (with its own plain-text 400, see apierror.Listener), but
// passes tab and any byte above 0x7f.
func checkHeaders(h http.Header, names []string) error {
	for _, name := range names {
		values := h[name]
		if len(values) > 1 {
			return apierror.BadRequest("the "+name+" header is given more than once",
				apierror.Detail("", -1, name, "given more than once; the contract takes one value"))
		}
		for _, v := range values {
			if !printable(v) {
				return apierror.BadRequest("the "+name+" header must be printable UTF-8 text",
					apierror.Detail("", -1, name, "must be valid UTF-8 without control characters"))
			}
		}
	}
	return nil
}

func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	return strings.IndexFunc(s, unicode.IsControl) < 0
}

// dropEmpty removes from a query string (already checked by checkQuery) the
// pairs of names given with an empty value.
func dropEmpty(raw string, names map[string]bool) (string, bool) {
	var kept []string
	dropped := false
	for _, pair := range strings.Split(raw, "&") {
		name, value, _ := strings.Cut(pair, "=")
		if n, err := url.QueryUnescape(name); err == nil && names[n] && value == "" {
			dropped = true
			continue
		}
		kept = append(kept, pair)
	}
	return strings.Join(kept, "&"), dropped
}
