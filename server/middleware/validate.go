package middleware

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/labstack/echo/v4"

	"github.com/syncproxy/syncproxy/gen/api"
	"github.com/syncproxy/syncproxy/server/apierror"
	"github.com/syncproxy/syncproxy/wire"
)

// maxDetails bounds the details of one 400: enough to fix a payload, not a
// second copy of a huge one.
const maxDetails = 50

// formatChecks are the string formats the contract relies on, checked as
// the push decoder checks them (package wire).
var formatChecks = map[string]func(string) error{
	"uuid": func(s string) error {
		_, err := wire.CheckUUID([]byte(s))
		return err
	},
	"date": func(s string) error { return wire.CheckDate([]byte(s)) },
	"date-time": func(s string) error {
		_, _, err := wire.CheckDateTime([]byte(s))
		return err
	},
}

// FormatValidators are formatChecks as kin-openapi takes them. kin-openapi
// does not check uuid by default, and its bundled one rejects UUIDv7. It
// applies them to bodies (and responses) only, not to parameters: those are
// checked by Parameters.
func FormatValidators() map[string]openapi3.StringFormatValidator {
	out := map[string]openapi3.StringFormatValidator{}
	for name, check := range formatChecks {
		out[name] = openapi3.NewCallbackValidator(check)
	}
	return out
}

// ValidateRequests checks every request's parameters and headers against the
// embedded spec before a handler sees it. A failure is a 400 whose details
// name the parameter.
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
		AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, // Authenticate did it
		// A request body is decoded once, by the decoder compiled from the
		// same spec (server/pushbody), which validates it as it reads.
		ExcludeRequestBody:      true,
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
			// kin-openapi sees the request without its body: the body is the
			// push decoder's, and kin-openapi would read it all into memory
			// (for its security check) before the decoder could count a row.
			paramsOnly := req.WithContext(req.Context())
			paramsOnly.Body = http.NoBody
			input := &openapi3filter.RequestValidationInput{Request: paramsOnly, PathParams: pathParams, Route: route, Options: opts}
			if err := openapi3filter.ValidateRequest(req.Context(), input); err != nil {
				return badRequest(err)
			}
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
	reason := schemaReason(se)
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

func reasonOf(err error) string {
	var se *openapi3.SchemaError
	if errors.As(err, &se) {
		return schemaReason(se)
	}
	// A parse error's text quotes the value and ends in strconv's words
	// ("value 1e3: an invalid integer: invalid syntax"); its reason is the
	// part written for the client.
	var pe *openapi3filter.ParseError
	if errors.As(err, &pe) && pe.Reason != "" {
		return pe.Reason
	}
	return "invalid value"
}

// schemaReason is se's reason, except where kin-openapi speaks Go: a number
// beyond float64 (1e400) fails with "cannot convert json.Number to float64".
func schemaReason(se *openapi3.SchemaError) string {
	var numErr *strconv.NumError
	if errors.As(se.Origin, &numErr) {
		return "number out of range"
	}
	if se.SchemaField == "pattern" {
		// kin-openapi quotes the regular expression: not the client's words.
		return "does not have the required form"
	}
	return se.Reason
}
