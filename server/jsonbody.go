package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"

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
	var httpErr *echo.HTTPError
	switch {
	case errors.As(err, &typeErr):
		return wrongType(typeErr)
	case errors.As(err, &syntaxErr):
		return apierror.BadRequest("the body is not valid JSON",
			apierror.Detail("", -1, "", fmt.Sprintf("malformed JSON at byte %d", syntaxErr.Offset))).Wrap(err)
	case errors.As(err, &httpErr):
		return httpErr // the body limit's 413
	case err != nil:
		if _, ok := apierror.As(err); ok {
			return err // a body that broke off
		}
		// A wire type's UnmarshalJSON speaks Go (time.Parse, strconv):
		// Echo's binder would send that text as the message.
		return apierror.BadRequest("the body does not match the contract").Wrap(err)
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

// wrongType names the field a value of the wrong type was given for, in the
// contract's words: json's own message names Go types ("want int32", the
// generated struct), which mean nothing to a client.
func wrongType(typeErr *json.UnmarshalTypeError) error {
	table, field, _ := strings.Cut(typeErr.Field, ".")
	want := "another type"
	if typeErr.Type != nil {
		switch typeErr.Type.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			want = "an integer in range, without fraction or exponent"
		case reflect.Float32, reflect.Float64:
			want = "a number"
		case reflect.String:
			want = "a string"
		case reflect.Bool:
			want = "a boolean"
		case reflect.Slice, reflect.Array:
			want = "an array"
		case reflect.Map, reflect.Struct:
			want = "an object"
		}
	}
	return apierror.BadRequest("a value has the wrong type", apierror.Detail(table, -1, field, "must be "+want)).Wrap(typeErr)
}
