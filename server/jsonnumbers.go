package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/syncproxy/syncproxy/server/apierror"
)

// exactJSON is Echo's JSON serializer with one change: request bodies decode
// numbers as json.Number. JSON columns (line_items, payload, ...) are untyped
// in Go, and float64 would round an integer above 2^53 on its way to jsonb.
type exactJSON struct{}

func (exactJSON) Serialize(c echo.Context, i any, indent string) error {
	enc := json.NewEncoder(c.Response())
	if indent != "" {
		enc.SetIndent("", indent)
	}
	return enc.Encode(i)
}

func (exactJSON) Deserialize(c echo.Context, i any) error {
	dec := json.NewDecoder(c.Request().Body)
	dec.UseNumber()
	err := dec.Decode(i)
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		return echo.NewHTTPError(http.StatusBadRequest,
			fmt.Sprintf("field %q: want %v, got %v", typeErr.Field, typeErr.Type, typeErr.Value)).SetInternal(err)
	case errors.As(err, &syntaxErr):
		return echo.NewHTTPError(http.StatusBadRequest,
			fmt.Sprintf("malformed JSON at offset %d", syntaxErr.Offset)).SetInternal(err)
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
