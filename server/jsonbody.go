package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/labstack/echo/v4"

	"github.com/syncproxy/syncproxy/server/apierror"
	"github.com/syncproxy/syncproxy/server/pushbody"
)

// jsonBodies is Echo's JSON serializer with two changes. A push body is
// decoded once, by the decoder compiled from the spec, which validates it as
// it reads (the generated strict handler binds it through here). Any other
// body decodes numbers as json.Number: float64 would round an integer above
// 2^53.
type jsonBodies struct {
	push *pushbody.Decoder
}

func (jsonBodies) Serialize(c echo.Context, i any, indent string) error {
	enc := json.NewEncoder(c.Response())
	if indent != "" {
		enc.SetIndent("", indent)
	}
	return enc.Encode(i)
}

func (j jsonBodies) Deserialize(c echo.Context, i any) error {
	if body, ok := i.(*pushbody.Body); ok {
		return j.push.Decode(c.Request().Body, body)
	}
	dec := json.NewDecoder(c.Request().Body)
	dec.UseNumber()
	err := dec.Decode(i)
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		return apierror.BadRequest("the body does not match the contract",
			apierror.Detail("", -1, typeErr.Field, "wrong type")).Wrap(err)
	case errors.As(err, &syntaxErr):
		return apierror.BadRequest("the body is not valid JSON",
			apierror.Detail("", -1, "", fmt.Sprintf("malformed JSON at byte %d", syntaxErr.Offset))).Wrap(err)
	case err != nil:
		return err
	}
	// A body is one JSON value: `{..}{..}` or trailing garbage would otherwise
	// be accepted with everything after the first value silently dropped.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return apierror.BadRequest("the body is not valid JSON",
			apierror.Detail("", -1, "", "malformed JSON body (one JSON value expected)"))
	}
	return nil
}

var _ echo.JSONSerializer = jsonBodies{}
