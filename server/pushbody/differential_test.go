package pushbody_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/google/uuid"

	"github.com/syncproxy/syncproxy/gen/api"
	"github.com/syncproxy/syncproxy/internal/testenv"
	"github.com/syncproxy/syncproxy/server/middleware"
	"github.com/syncproxy/syncproxy/wire/push"
)

// TestDecoder_AgreesWithKinOpenAPI holds the push decoder to the spec as a
// general validator reads it: for every table, a valid sample row and one
// mutation at a time of every column its write schema describes (wrong type,
// null, bad format, value off the enum, length and range bounds, a missing
// required column, an unknown one). Both must reach the same verdict, with
// kin-openapi using the server's format checkers. (The decoder's own limits,
// JSON size and depth and timestamp bounds, are tested over HTTP in
// server/hostile_push_test.go.)
func TestDecoder_AgreesWithKinOpenAPI(t *testing.T) {
	tables := specTables(t)
	samples, err := testenv.Samples()
	if err != nil {
		t.Fatal(err)
	}
	dec := compileSpec(t)
	kin := newKinValidator(t)

	cases := 0
	for _, tb := range tables {
		base, err := samples.Row(tb.Name, uuid.New(), 1)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range mutationsOf(tb.Write.Schema, base) {
			body, err := json.Marshal(map[string]any{tb.Name: []any{m.row}})
			if err != nil {
				t.Fatal(err)
			}
			decErr := dec.DecodeBytes(body, &push.Body{})
			kinErr := kin.validate(body)
			cases++
			switch {
			case m.name == "valid" && (decErr != nil || kinErr != nil):
				t.Errorf("%s valid sample: decoder %v, kin-openapi %v\n  %s", tb.Name, decErr, kinErr, body)
			case kinErr != nil && decErr == nil:
				t.Errorf("%s %s: kin-openapi rejects (%v), the decoder accepts\n  %s", tb.Name, m.name, kinErr, body)
			case kinErr == nil && decErr != nil:
				t.Errorf("%s %s: the decoder rejects (%v), kin-openapi accepts\n  %s", tb.Name, m.name, decErr, body)
			case m.mustFail && decErr == nil:
				t.Errorf("%s %s: accepted, the contract forbids it\n  %s", tb.Name, m.name, body)
			}
		}
	}
	if cases < 10*len(tables) {
		t.Fatalf("only %d cases over %d tables: the mutations found too little to check", cases, len(tables))
	}
}

// mutation is a row to push and what is known of it.
type mutation struct {
	name     string
	row      map[string]any
	mustFail bool // the contract rejects it
}

// mutationsOf derives from a write schema the valid base row and, per
// property, the values its keywords forbid.
func mutationsOf(schema *openapi3.Schema, base map[string]any) []mutation {
	with := func(name string, v any) map[string]any {
		r := make(map[string]any, len(base)+1)
		for k, x := range base {
			r[k] = x
		}
		r[name] = v
		return r
	}
	out := []mutation{
		{name: "valid", row: base},
		{name: "unknown column", row: with("no_such_column", 1), mustFail: true},
	}
	required := map[string]bool{}
	for _, r := range schema.Required {
		required[r] = true
	}
	names := make([]string, 0, len(schema.Properties))
	for n := range schema.Properties {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		s := schema.Properties[name].Value
		add := func(what string, v any) {
			out = append(out, mutation{name: fmt.Sprintf("%s %s", name, what), row: with(name, v), mustFail: true})
		}
		if required[name] {
			r := with(name, nil)
			delete(r, name)
			out = append(out, mutation{name: name + " missing", row: r, mustFail: true})
		}
		if !s.Nullable && !(len(s.AnyOf) > 0) {
			add("null", nil)
		}
		if isDecimal(s) {
			add("decimal as text", "twelve")
			add("decimal with 21 integer digits", strings.Repeat("9", 21))
			add("decimal as bool", true)
			continue
		}
		switch {
		case s.Type.Is("string"):
			add("as number", 12345)
			switch s.Format {
			case "uuid", "date", "date-time":
				add("bad "+s.Format, "2025-13-45 not a "+s.Format)
			}
			if len(s.Enum) > 0 {
				add("off the enum", "not-in-the-enum")
			}
			if s.MaxLength != nil {
				add("over maxLength", strings.Repeat("x", int(*s.MaxLength)+1))
			}
			if s.MinLength > 0 {
				add("under minLength", "")
			}
		case s.Type.Is("integer"):
			add("as string", "7")
			add("as fraction", 1.5)
			if s.Max != nil {
				add("over maximum", int64(*s.Max)+1)
			}
			if s.Min != nil {
				add("under minimum", int64(*s.Min)-1)
			}
		case s.Type.Is("boolean"):
			add("as string", "yes")
		case s.Type.Is("object"):
			add("as string", "x")
		case s.Type.Is("array"):
			add("as object", map[string]any{"a": 1})
		}
	}
	return out
}

// isDecimal: a decimal column (format decimal, or anyOf its string and
// number forms).
func isDecimal(s *openapi3.Schema) bool {
	for _, alt := range s.AnyOf {
		if alt.Value != nil && alt.Value.Format == "decimal" {
			return true
		}
	}
	return s.Format == "decimal"
}

// kinValidator validates a push body with kin-openapi and the server's
// format checkers.
type kinValidator struct {
	router routers.Router
	opts   *openapi3filter.Options
}

func newKinValidator(t testing.TB) *kinValidator {
	t.Helper()
	doc, err := api.GetSwagger()
	if err != nil {
		t.Fatal(err)
	}
	doc.Servers = nil
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &kinValidator{router: router, opts: &openapi3filter.Options{
		AuthenticationFunc:      openapi3filter.NoopAuthenticationFunc,
		MultiError:              true,
		SkipSettingDefaults:     true,
		SchemaValidationOptions: []openapi3.SchemaValidationOption{openapi3.WithStringFormatValidators(middleware.FormatValidators())},
	}}
}

func (k *kinValidator) validate(body []byte) error {
	req := httptest.NewRequest(http.MethodPost, "/api/sync/push", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	route, params, err := k.router.FindRoute(req)
	if err != nil {
		return fmt.Errorf("route: %w", err)
	}
	return openapi3filter.ValidateRequest(context.Background(), &openapi3filter.RequestValidationInput{
		Request: req, PathParams: params, Route: route, Options: k.opts})
}

// TestDecoder_DeleteEntries_AgreeWithKinOpenAPI holds the decoding of
// `deletes` (contract 1.2: an id, or {id, base_version}) to the spec the
// same way: every entry shape a client could send, one verdict from both.
func TestDecoder_DeleteEntries_AgreeWithKinOpenAPI(t *testing.T) {
	dec := compileSpec(t)
	kin := newKinValidator(t)
	id := uuid.NewString()
	for name, tc := range map[string]struct {
		entry any
		valid bool
		// kinLax: kin-openapi reads integers through float64 and accepts
		// these; the decoder, like Postgres' bigint input, refuses them
		// (as it does for a row's integer columns).
		kinLax bool
	}{
		"id (1.0)":                 {entry: id, valid: true},
		"id and base":              {entry: map[string]any{"id": id, "base_version": 7}, valid: true},
		"base 0":                   {entry: map[string]any{"id": id, "base_version": 0}, valid: true},
		"uppercase id":             {entry: strings.ToUpper(id), valid: true},
		"not a uuid":               {entry: "nope", valid: false},
		"object without base":      {entry: map[string]any{"id": id}, valid: false},
		"object without id":        {entry: map[string]any{"base_version": 1}, valid: false},
		"negative base":            {entry: map[string]any{"id": id, "base_version": -1}, valid: false},
		"fractional base":          {entry: map[string]any{"id": id, "base_version": 1.5}, valid: false},
		"base as string":           {entry: map[string]any{"id": id, "base_version": "1"}, valid: false},
		"null base":                {entry: map[string]any{"id": id, "base_version": nil}, valid: false},
		"unknown member":           {entry: map[string]any{"id": id, "base_version": 1, "x": 1}, valid: false},
		"bad id in object":         {entry: map[string]any{"id": "nope", "base_version": 1}, valid: false},
		"number":                   {entry: 42, valid: false},
		"null":                     {entry: nil, valid: false},
		"array":                    {entry: []any{id}, valid: false},
		"base beyond int64":        {entry: map[string]any{"id": id, "base_version": json.Number("9223372036854775808")}, valid: false, kinLax: true},
		"base at the int64 bound":  {entry: map[string]any{"id": id, "base_version": json.Number("9223372036854775807")}, valid: true},
		"empty object":             {entry: map[string]any{}, valid: false},
		"id as number in object":   {entry: map[string]any{"id": 5, "base_version": 1}, valid: false},
		"boolean":                  {entry: true, valid: false},
		"nested object as id":      {entry: map[string]any{"id": map[string]any{"id": id}, "base_version": 1}, valid: false},
		"base with exponent":       {entry: map[string]any{"id": id, "base_version": json.Number("1e2")}, valid: false, kinLax: true},
		"empty string":             {entry: "", valid: false},
		"object with extra and ok": {entry: map[string]any{"id": id, "base_version": 1, "base": 1}, valid: false},
	} {
		body, err := json.Marshal(map[string]any{"deletes": map[string]any{"costbook_items": []any{tc.entry}}})
		if err != nil {
			t.Fatal(err)
		}
		var b push.Body
		decErr := dec.DecodeBytes(body, &b)
		kinErr := kin.validate(body)
		switch {
		case (decErr == nil) != tc.valid:
			t.Errorf("%s: decoder %v, want valid=%v\n  %s", name, decErr, tc.valid, body)
		case (kinErr == nil) != tc.valid && !tc.kinLax:
			t.Errorf("%s: kin-openapi %v, want valid=%v\n  %s", name, kinErr, tc.valid, body)
		}
		if tc.valid && decErr == nil {
			dels := b.Tables[2].Deletes
			_, versioned := tc.entry.(map[string]any)
			if len(dels) != 1 || dels[0].HasBase != versioned || !strings.EqualFold(dels[0].ID.String(), id) {
				t.Errorf("%s: decoded %+v", name, dels)
			}
		}
	}
}
