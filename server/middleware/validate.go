package middleware

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/syncproxy/syncproxy/gen/api"
	"github.com/syncproxy/syncproxy/server/apierror"
)

// maxDetails bounds the details of one 400: enough to fix a payload, not a
// second copy of a huge one.
const maxDetails = 50

// FormatValidators are the string formats the contract relies on. kin-openapi
// does not check uuid by default, and its bundled one rejects UUIDv7.
func FormatValidators() map[string]openapi3.StringFormatValidator {
	return map[string]openapi3.StringFormatValidator{
		"uuid": openapi3.NewCallbackValidator(func(s string) error {
			if _, err := uuid.Parse(s); err != nil || len(s) != 36 {
				return errors.New("not a uuid (want 8-4-4-4-12 hex digits)")
			}
			return nil
		}),
		// Go parses year 0000, Postgres has no year 0: without the year check
		// such a value failed in the database, a 400 that named no field.
		"date": openapi3.NewCallbackValidator(func(s string) error {
			if t, err := time.Parse("2006-01-02", s); err != nil || t.Year() < 1 {
				return errors.New("not a calendar date (want YYYY-MM-DD, year 0001 or later)")
			}
			return nil
		}),
		"date-time": openapi3.NewCallbackValidator(func(s string) error {
			if t, err := time.Parse(time.RFC3339Nano, s); err != nil || t.Year() < 1 {
				return errors.New("not an RFC 3339 date-time (want 2025-01-15T12:00:00.000Z, year 0001 or later)")
			}
			return nil
		}),
	}
}

// ValidateRequests checks every request against the embedded spec before a
// handler sees it: types, required fields, formats, unknown tables and columns.
// A failure is a 400 whose details name table, row index and field.
func ValidateRequests() (echo.MiddlewareFunc, error) {
	doc, err := api.GetSwagger()
	if err != nil {
		return nil, fmt.Errorf("load embedded spec: %w", err)
	}
	doc.Servers = nil // match any host: the spec's server URL is only an example
	router, err := legacy.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("build spec router: %w", err)
	}
	opts := &openapi3filter.Options{
		AuthenticationFunc:      openapi3filter.NoopAuthenticationFunc, // Authenticate did it
		MultiError:              true,
		SkipSettingDefaults:     true, // the handler sees the body the client sent
		SchemaValidationOptions: []openapi3.SchemaValidationOption{openapi3.WithStringFormatValidators(FormatValidators())},
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			route, pathParams, err := router.FindRoute(req)
			if err != nil {
				return err // not an operation of the spec: let the router answer
			}
			var body []byte
			if req.Body != nil {
				body, err = io.ReadAll(req.Body)
				if err != nil {
					return err // the body limit's 413, or a broken connection
				}
			}
			// kin-openapi checks only the first JSON value of a body; the
			// decoder that binds it (server/jsonnumbers.go) rejects anything after.
			req.Body = io.NopCloser(bytes.NewReader(body))
			input := &openapi3filter.RequestValidationInput{Request: req, PathParams: pathParams, Route: route, Options: opts}
			if err := openapi3filter.ValidateRequest(req.Context(), input); err != nil {
				return badRequest(err)
			}
			if details := nulDetails(body); len(details) > 0 {
				return apierror.BadRequest("a text contains a NUL character, which cannot be stored", details...)
			}
			req.Body = io.NopCloser(bytes.NewReader(body))
			return next(c)
		}
	}, nil
}

// badRequest turns kin-openapi's errors into the envelope's details.
func badRequest(err error) error {
	var details []api.ErrorDetail
	for _, e := range flatten(err) {
		if len(details) == maxDetails {
			break
		}
		details = append(details, detailOf(e))
	}
	message := "the request does not match the contract"
	if len(details) > 0 && strings.HasPrefix(details[0].Reason, "malformed JSON") {
		message = "the body is not valid JSON"
	}
	return apierror.BadRequest(message, details...)
}

func flatten(err error) []error {
	// Only a MultiError at the top: errors.As would also find the one inside a
	// parameter's RequestError and lose which parameter it was about.
	if me, ok := err.(openapi3.MultiError); ok {
		var out []error
		for _, e := range me {
			out = append(out, flatten(e)...)
		}
		return out
	}
	var re *openapi3filter.RequestError
	if errors.As(err, &re) && re.Err != nil {
		var inner openapi3.MultiError
		if errors.As(re.Err, &inner) {
			var out []error
			for _, e := range inner {
				for _, f := range flatten(e) {
					out = append(out, withParameter(re, f))
				}
			}
			return out
		}
	}
	return []error{err}
}

// parameterError remembers which query/header parameter a schema error is about.
type parameterError struct {
	name string
	err  error
}

func (p parameterError) Error() string { return p.name + ": " + p.err.Error() }
func (p parameterError) Unwrap() error { return p.err }

func withParameter(re *openapi3filter.RequestError, err error) error {
	if re.Parameter != nil {
		return parameterError{name: re.Parameter.Name, err: err}
	}
	return err
}

var propertyName = regexp.MustCompile(`property "([^"]+)" is (unsupported|missing)`)

func detailOf(err error) api.ErrorDetail {
	var pe parameterError
	if errors.As(err, &pe) {
		return apierror.Detail("", -1, pe.name, reasonOf(pe.err))
	}
	var re *openapi3filter.RequestError
	if errors.As(err, &re) {
		var parse *openapi3filter.ParseError
		if errors.As(re.Err, &parse) && re.Parameter == nil {
			return apierror.Detail("", -1, "", "malformed JSON body")
		}
		if re.Parameter != nil {
			return apierror.Detail("", -1, re.Parameter.Name, reasonOf(re.Err))
		}
	}
	var se *openapi3.SchemaError
	if !errors.As(err, &se) {
		if re != nil && re.Err == nil {
			return apierror.Detail("", -1, "", re.Reason)
		}
		return apierror.Detail("", -1, "", "invalid request")
	}
	path := se.JSONPointer()
	table, index, field := locate(path)
	reason := se.Reason
	if m := propertyName.FindStringSubmatch(se.Reason); m != nil {
		name, kind := m[1], m[2]
		switch {
		case len(path) == 0 && kind == "unsupported":
			return apierror.Detail(name, -1, "", "unknown table")
		case kind == "unsupported":
			reason = "unknown column"
		default:
			reason = "required"
		}
		// kin-openapi puts a missing property's name on the path already.
		if field == "" {
			field = name
		} else if !strings.HasSuffix("/"+field, "/"+name) {
			field += "/" + name
		}
	}
	return apierror.Detail(table, index, field, reason)
}

// locate maps a JSON path in a push body to the envelope's table, row index
// and field.
func locate(path []string) (table string, index int, field string) {
	index = -1
	if len(path) > 0 {
		table = path[0]
	}
	if len(path) > 1 {
		if n, err := strconv.Atoi(path[1]); err == nil {
			index = n
		} else {
			field = strings.Join(path[1:], "/") // deletes/<table>/...
		}
	}
	if len(path) > 2 && index >= 0 {
		field = strings.Join(path[2:], "/")
	}
	return table, index, field
}

// nulDetails names every string of a JSON body that contains U+0000. Postgres
// stores it neither in text nor in jsonb, and the spec cannot forbid it; left
// to the database, the whole push failed with a 400 that named no field.
func nulDetails(body []byte) []api.ErrorDetail {
	if !bytes.Contains(body, []byte(`\u0000`)) { // the only way JSON can carry a NUL
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var root any
	if dec.Decode(&root) != nil {
		return nil
	}
	var details []api.ErrorDetail
	var walk func(path []string, v any)
	walk = func(path []string, v any) {
		if len(details) == maxDetails {
			return
		}
		switch v := v.(type) {
		case string:
			if strings.ContainsRune(v, 0) {
				table, index, field := locate(path)
				details = append(details, apierror.Detail(table, index, field, "contains a NUL character (\\u0000)"))
			}
		case []any:
			for i, e := range v {
				walk(append(path[:len(path):len(path)], strconv.Itoa(i)), e)
			}
		case map[string]any:
			keys := make([]string, 0, len(v))
			for k := range v {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				next := append(path[:len(path):len(path)], k)
				if strings.ContainsRune(k, 0) {
					walk(next, k)
					continue
				}
				walk(next, v[k])
			}
		}
	}
	walk(nil, root)
	return details
}

func reasonOf(err error) string {
	var se *openapi3.SchemaError
	if errors.As(err, &se) {
		return se.Reason
	}
	return err.Error()
}
