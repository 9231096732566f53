package testenv

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/syncproxy/syncproxy/gen/api"
	"github.com/syncproxy/syncproxy/server/middleware"
)

// Response is a response read whole: what a check and a test look at.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// ReadResponse reads res's body to the end and closes it.
func ReadResponse(res *http.Response) (Response, error) {
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return Response{}, fmt.Errorf("%s %s: read body: %w", res.Request.Method, res.Request.URL.Path, err)
	}
	return Response{Status: res.StatusCode, Header: res.Header, Body: body}, nil
}

// CheckedDoer sends requests through Doer and shows every response, read
// whole, with its request, to Check before the caller sees it: the check sees
// exactly what went over the wire, whether the generated client or a test's
// hand-made request asked. An error from Check is the request's error; the
// response it judged is then not returned.
type CheckedDoer struct {
	Doer  api.HttpRequestDoer
	Check func(req *http.Request, res Response) error
}

func (d CheckedDoer) Do(req *http.Request) (*http.Response, error) {
	res, err := d.Doer.Do(req)
	if err != nil {
		return nil, err
	}
	r, err := ReadResponse(res)
	if err != nil {
		return nil, err
	}
	if err := d.Check(req, r); err != nil {
		return nil, err
	}
	res.Body = io.NopCloser(bytes.NewReader(r.Body))
	return res, nil
}

// SpecCheck returns a check that validates each response of an operation of
// openapi.yaml (gen/api's embedded copy) against the spec, with the server's
// own string formats: a status the operation does not declare, or a header
// or body field missing, mistyped or misnamed, is an error naming the
// request. Requests for no operation (the 404 and 405 tests) pass unchecked.
func SpecCheck() (func(*http.Request, Response) error, error) {
	doc, err := api.GetSwagger()
	if err != nil {
		return nil, err
	}
	doc.Servers = nil // match any host: the servers under test listen on random ports
	router, err := legacy.NewRouter(doc)
	if err != nil {
		return nil, err
	}
	formats := openapi3.WithStringFormatValidators(middleware.FormatValidators())
	return func(req *http.Request, r Response) error {
		route, params, err := router.FindRoute(req)
		if err != nil {
			return nil
		}
		input := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
			Status:                 r.Status,
			Header:                 r.Header,
			Body:                   io.NopCloser(bytes.NewReader(r.Body)),
			Options: &openapi3filter.Options{
				IncludeResponseStatus:   true,
				MultiError:              true,
				SchemaValidationOptions: []openapi3.SchemaValidationOption{formats},
			},
		}
		if err := openapi3filter.ValidateResponse(context.Background(), input); err != nil {
			return fmt.Errorf("%s %s → %d does not match the spec: %w\nbody: %s", req.Method, req.URL.Path, r.Status, err, excerpt(r.Body))
		}
		return nil
	}, nil
}

// excerpt keeps a failure message readable when the body is a 5,000-row page.
func excerpt(b []byte) string {
	if len(b) > 2000 {
		return string(b[:2000]) + "…"
	}
	return string(b)
}
