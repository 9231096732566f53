package pushbody

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/syncproxy/syncproxy/internal/contract"
)

// Limits bound what one push may cost before and while it is validated.
type Limits struct {
	MaxRows           int // upsert rows plus ids to delete (413 above)
	MaxJSONValueBytes int // one value of a JSON column, encoded
	MaxJSONDepth      int // nesting of one value of a JSON column
	// MaxJSONNumberDigits bounds one number in a JSON column, in digits as
	// Postgres stores and writes it out (see numbers.go).
	MaxJSONNumberDigits int
	MaxProblems         int // validation stops after this many problems
}

// The contract's fixed bounds.
const (
	DefaultMaxJSONDepth = 32
	DefaultMaxProblems  = 50
	// DefaultMaxJSONNumberDigits admits every float64 a JSON encoder writes,
	// in any notation, written out in full: the largest (1.8e308) has 309
	// integer digits, the smallest (5e-324, or 2.2250738585072014e-308 with
	// its 16 fraction digits) 324 after the point. Swift's Decimal (38
	// digits, exponents to ±128) needs at most 166. Above 400 a number is
	// no measurement or price any app of ours sends, and Postgres would
	// store every digit of it: `1e131071` is 8 bytes pushed and 131,072
	// digits in every later read.
	DefaultMaxJSONNumberDigits = 400
)

// Decoder decodes push bodies against the rules it compiled from the spec.
type Decoder struct {
	limits  Limits
	tables  []tableRules            // by ordinal
	props   map[string]*propRules   // SyncPushRequest properties holding rows
	deletes map[string]*deleteRules // DeleteRequest property -> its entries' rules
}

// deleteRules are the rules of one table's entries in `deletes`: a plain id
// (1.0), and/or an object with the id and the base_version the delete was
// decided on (1.2), as the DeleteRequest schema says.
type deleteRules struct {
	table   int  // ordinal
	plainID bool // an entry may be a uuid string
	// object: an entry may be an object of these members (nil: it may not).
	object   map[string]*column
	required []*column
}

// propRules is one SyncPushRequest property that holds rows: a table's own
// array or a deprecated alias of it.
type propRules struct {
	name  string
	table int // ordinal
	alias bool
}

// tableRules are the rules of one table's write rows.
type tableRules struct {
	name     string
	key      contract.KeyKind
	columns  map[string]*column
	required []*column
	ncols    int
}

type valueKind int

const (
	kindString valueKind = iota
	kindInteger
	kindBoolean
	kindObject  // a JSON column holding an object
	kindArray   // a JSON column holding an array
	kindAny     // a JSON column holding any JSON value
	kindDecimal // a decimal string, or a JSON number of the same range
)

// column is one property of a write row, compiled.
type column struct {
	name     string
	slot     int
	kind     valueKind
	nullable bool
	// strings
	minLength, maxLength int // in characters; maxLength < 0: unbounded
	pattern              *regexp.Regexp
	patternReason        string // what a value that does not match is told (never the regular expression)
	enum                 map[string]bool
	enumText             string
	format               string
	// integers
	min, max int64
	// role
	key  bool // the row's id
	base bool // base_version: the version the edit started from
}

// Compile reads the push rules from spec: every table's write schema, the
// deprecated aliases and the deletable tables. It refuses a schema keyword it
// does not implement, so the decoder can never accept what the spec forbids.
func Compile(spec *contract.Spec, limits Limits) (*Decoder, error) {
	if limits.MaxJSONDepth <= 0 {
		limits.MaxJSONDepth = DefaultMaxJSONDepth
	}
	if limits.MaxProblems <= 0 {
		limits.MaxProblems = DefaultMaxProblems
	}
	if limits.MaxJSONNumberDigits <= 0 {
		limits.MaxJSONNumberDigits = DefaultMaxJSONNumberDigits
	}
	if limits.MaxRows <= 0 || limits.MaxJSONValueBytes <= 0 {
		return nil, fmt.Errorf("pushbody: MaxRows and MaxJSONValueBytes must be positive")
	}
	tables, err := spec.Tables()
	if err != nil {
		return nil, fmt.Errorf("pushbody: %w", err)
	}
	d := &Decoder{limits: limits, props: map[string]*propRules{}, deletes: map[string]*deleteRules{}}
	byName := map[string]int{}
	for _, t := range tables {
		rules, err := compileTable(t)
		if err != nil {
			return nil, fmt.Errorf("pushbody: %w", err)
		}
		d.tables = append(d.tables, rules)
		byName[t.Name] = t.Ordinal
		d.props[t.Name] = &propRules{name: t.Name, table: t.Ordinal}
		for _, a := range t.PushAliases {
			d.props[a] = &propRules{name: a, table: t.Ordinal, alias: true}
		}
	}
	envelope := spec.Component(contract.PushRequestSchema)
	for _, prop := range contract.PropertyNames(envelope) {
		if _, ok := d.props[prop]; !ok && contract.PushNonTables[prop] == "" {
			return nil, fmt.Errorf("pushbody: %s.%s is neither a table nor the deletes", contract.PushRequestSchema, prop)
		}
	}
	deletes := spec.Component(contract.DeleteRequestSchema)
	for _, name := range contract.PropertyNames(deletes) {
		ordinal, ok := byName[name]
		if !ok || tables[ordinal].Key != contract.Regular {
			return nil, fmt.Errorf("pushbody: %s.%s is not a table whose rows have an id", contract.DeleteRequestSchema, name)
		}
		rules, err := compileDeletes(deletes.Properties[name].Value)
		if err != nil {
			return nil, fmt.Errorf("pushbody: %s.%s: %w", contract.DeleteRequestSchema, name, err)
		}
		rules.table = ordinal
		d.deletes[name] = rules
	}
	return d, nil
}

// compileDeletes reads the schema of one table's entries in `deletes`: an
// array whose items are a uuid string, an object with a uuid `id` (and
// optionally an integer `base_version`), or a oneOf of the two.
func compileDeletes(s *openapi3.Schema) (*deleteRules, error) {
	if s == nil || !s.Type.Is("array") || s.Items == nil || s.Items.Value == nil {
		return nil, fmt.Errorf("must be an array of ids (or of {id, base_version})")
	}
	rules := &deleteRules{}
	items := s.Items.Value
	alternatives := []*openapi3.Schema{items}
	if len(items.OneOf) > 0 {
		alternatives = alternatives[:0]
		for _, alt := range items.OneOf {
			alternatives = append(alternatives, alt.Value)
		}
	}
	for _, alt := range alternatives {
		switch {
		case alt != nil && alt.Type.Is("string") && alt.Format == "uuid" && !rules.plainID:
			rules.plainID = true
		case alt != nil && alt.Type.Is("object") && rules.object == nil:
			if err := compileDeleteObject(alt, rules); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("an entry must be a uuid string or an object {id, base_version}; the push decoder implements nothing else")
		}
	}
	return rules, nil
}

func compileDeleteObject(s *openapi3.Schema, rules *deleteRules) error {
	if s.AdditionalProperties.Has == nil || *s.AdditionalProperties.Has {
		return fmt.Errorf("an object entry must say additionalProperties: false")
	}
	rules.object = map[string]*column{}
	for _, name := range contract.PropertyNames(s) {
		c, err := compileColumn(name, s.Properties[name].Value)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		c.key = name == "id"
		c.base = name == "base_version"
		switch {
		case c.key && (c.kind != kindString || c.format != "uuid"):
			return fmt.Errorf("id must be a uuid string")
		case c.base && (c.kind != kindInteger || c.min < 0):
			return fmt.Errorf("base_version must be an integer >= 0")
		case !c.key && !c.base:
			return fmt.Errorf("%s: an object entry carries only id and base_version", name)
		}
		rules.object[name] = c
	}
	for _, name := range s.Required {
		c, ok := rules.object[name]
		if !ok {
			return fmt.Errorf("requires %s, which is not a property", name)
		}
		rules.required = append(rules.required, c)
	}
	if !contains(s.Required, "id") {
		return fmt.Errorf("an object entry needs a required id")
	}
	return nil
}

func compileTable(t contract.Table) (tableRules, error) {
	schema := t.Write.Schema
	if schema.AdditionalProperties.Has == nil || *schema.AdditionalProperties.Has {
		return tableRules{}, fmt.Errorf("%s: a write row must say additionalProperties: false (unknown columns are rejected)", t.Write.Name)
	}
	rules := tableRules{name: t.Name, key: t.Key, columns: map[string]*column{}}
	for i, name := range contract.PropertyNames(schema) {
		c, err := compileColumn(name, schema.Properties[name].Value)
		if err != nil {
			return tableRules{}, fmt.Errorf("%s.%s: %w", t.Write.Name, name, err)
		}
		c.slot = i
		c.key = name == "id" && t.Key != contract.Singleton
		c.base = name == "base_version"
		if c.base && (c.kind != kindInteger || c.min < 0) {
			return tableRules{}, fmt.Errorf("%s.base_version: must be an integer >= 0", t.Write.Name)
		}
		if c.key && (c.kind != kindString || c.format != "uuid") {
			return tableRules{}, fmt.Errorf("%s.id: a row key must be a uuid string", t.Write.Name)
		}
		rules.columns[name] = c
	}
	rules.ncols = len(rules.columns)
	for _, name := range schema.Required {
		c, ok := rules.columns[name]
		if !ok {
			return tableRules{}, fmt.Errorf("%s: requires %s, which is not a property", t.Write.Name, name)
		}
		rules.required = append(rules.required, c)
	}
	if k := rules.columns["id"]; t.Key == contract.Regular && (k == nil || !contains(schema.Required, "id")) {
		return tableRules{}, fmt.Errorf("%s: rows of %s need a required uuid id", t.Write.Name, t.Name)
	}
	return rules, nil
}

// supported lists the schema keywords compileColumn implements; any other
// keyword set on a write row's property is refused at start.
func unsupported(s *openapi3.Schema) []string {
	var bad []string
	add := func(cond bool, kw string) {
		if cond {
			bad = append(bad, kw)
		}
	}
	add(len(s.OneOf) > 0, "oneOf")
	add(len(s.AnyOf) > 0 && decimalAlternatives(s.AnyOf) == nil, "anyOf (other than a decimal string or number)")
	add(len(s.AllOf) > 0, "allOf")
	add(s.Not != nil, "not")
	add(s.MultipleOf != nil, "multipleOf")
	add(s.ExclusiveMin.IsSet() || s.ExclusiveMax.IsSet(), "exclusiveMinimum/exclusiveMaximum")
	add(s.MinItems != 0 || s.MaxItems != nil, "minItems/maxItems")
	add(s.UniqueItems, "uniqueItems")
	add(s.MinProps != 0 || s.MaxProps != nil, "minProperties/maxProperties")
	add(len(s.Properties) > 0, "properties (nested objects)")
	add(s.ReadOnly || s.WriteOnly, "readOnly/writeOnly")
	if s.Items != nil && s.Items.Value != nil && !isEmptySchema(s.Items.Value) {
		bad = append(bad, "items with constraints")
	}
	if s.AdditionalProperties.Schema != nil && !isEmptySchema(s.AdditionalProperties.Schema.Value) {
		bad = append(bad, "additionalProperties with a schema")
	}
	if s.AdditionalProperties.Has != nil && !*s.AdditionalProperties.Has {
		bad = append(bad, "additionalProperties: false (nested objects)")
	}
	return bad
}

func isEmptySchema(s *openapi3.Schema) bool {
	if s == nil {
		return true
	}
	return (s.Type == nil || len(s.Type.Slice()) == 0) && len(unsupported(s)) == 0 && s.Format == "" &&
		s.Pattern == "" && len(s.Enum) == 0 && s.MinLength == 0 && s.MaxLength == nil && s.Min == nil && s.Max == nil
}

func compileColumn(name string, s *openapi3.Schema) (*column, error) {
	if s == nil {
		return nil, fmt.Errorf("no schema")
	}
	if bad := unsupported(s); len(bad) > 0 {
		return nil, fmt.Errorf("uses %s, which the push decoder does not implement (server/pushbody)", strings.Join(bad, ", "))
	}
	c := &column{name: name, nullable: s.Nullable, maxLength: -1, min: math.MinInt64, max: math.MaxInt64}
	if dec := decimalAlternatives(s.AnyOf); dec != nil {
		// A decimal the client may send as a string or as a JSON number: the
		// number must fit the string's pattern once written out in full.
		re, err := regexp.Compile(dec.Pattern)
		if err != nil || dec.Pattern == "" {
			return nil, fmt.Errorf("decimal string alternative needs a valid pattern")
		}
		c.kind, c.pattern, c.patternReason = kindDecimal, re, decimalReason
		return c, nil
	}
	types := []string{}
	if s.Type != nil {
		types = s.Type.Slice()
	}
	if len(types) > 1 {
		return nil, fmt.Errorf("several types %v", types)
	}
	typ := ""
	if len(types) == 1 {
		typ = types[0]
	}
	stringOnly := s.Pattern != "" || s.MinLength != 0 || s.MaxLength != nil
	intOnly := s.Min != nil || s.Max != nil
	switch typ {
	case "string":
		c.kind = kindString
		c.minLength = int(s.MinLength)
		if s.MaxLength != nil {
			c.maxLength = int(*s.MaxLength)
		}
		if s.Pattern != "" {
			re, err := regexp.Compile(s.Pattern)
			if err != nil {
				return nil, fmt.Errorf("pattern %q: %w", s.Pattern, err)
			}
			c.pattern, c.patternReason = re, patternReason(s)
		}
		switch s.Format {
		case "", "uuid", "date", "date-time", "decimal":
			c.format = s.Format
		default:
			return nil, fmt.Errorf("string format %q is not implemented", s.Format)
		}
		if len(s.Enum) > 0 {
			c.enum = map[string]bool{}
			var values []string
			for _, v := range s.Enum {
				str, ok := v.(string)
				if !ok {
					if v == nil && s.Nullable {
						continue // `nullable` enums may list null
					}
					return nil, fmt.Errorf("enum value %v is not a string", v)
				}
				c.enum[str] = true
				values = append(values, str)
			}
			c.enumText = strings.Join(values, ", ")
		}
		intOnly = false
	case "integer":
		c.kind = kindInteger
		switch s.Format {
		case "int32":
			c.min, c.max = math.MinInt32, math.MaxInt32
		case "", "int64":
		default:
			return nil, fmt.Errorf("integer format %q is not implemented", s.Format)
		}
		if s.Min != nil {
			c.min = max(c.min, int64(math.Ceil(*s.Min)))
		}
		if s.Max != nil {
			c.max = min(c.max, int64(math.Floor(*s.Max)))
		}
		intOnly = false
		if stringOnly || len(s.Enum) > 0 {
			return nil, fmt.Errorf("string keywords or enum on an integer")
		}
	case "boolean":
		c.kind = kindBoolean
	case "object":
		c.kind = kindObject
	case "array":
		c.kind = kindArray
	case "":
		c.kind = kindAny
	default:
		return nil, fmt.Errorf("type %q is not implemented", typ)
	}
	if c.kind != kindString && (stringOnly || len(s.Enum) > 0 || (s.Format != "" && c.kind != kindInteger)) {
		return nil, fmt.Errorf("string keywords (pattern, length, enum, format) on a %s", typ)
	}
	if intOnly {
		return nil, fmt.Errorf("minimum/maximum on a %s", typ)
	}
	return c, nil
}

// decimalReason is what a decimal that does not fit its column is told.
const decimalReason = "must be a decimal with at most 20 integer and 10 fraction digits, like \"1234.50\""

// patternReason tells a client what a pattern asks for in its words: the
// spec's example of a valid value, never the regular expression (details
// quoted `^[A-Z]{3}$`).
func patternReason(s *openapi3.Schema) string {
	if s.Format == "decimal" {
		return decimalReason
	}
	if s.Example != nil {
		return fmt.Sprintf("does not have the required form (for example %q)", fmt.Sprint(s.Example))
	}
	return "does not have the required form"
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TableNames are the tables the decoder knows, by ordinal.
func (d *Decoder) TableNames() []string {
	names := make([]string, len(d.tables))
	for i, t := range d.tables {
		names[i] = t.name
	}
	return names
}

// sortedProps lists the row-holding properties, for messages.
func (d *Decoder) sortedProps() []string {
	names := make([]string, 0, len(d.props))
	for n := range d.props {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// decimalAlternatives returns the decimal string of an anyOf of a decimal
// string and numbers, or nil.
func decimalAlternatives(alts openapi3.SchemaRefs) *openapi3.Schema {
	var dec *openapi3.Schema
	numbers := 0
	for _, a := range alts {
		v := a.Value
		switch {
		case v == nil:
			return nil
		case v.Type.Is("string") && v.Format == "decimal" && dec == nil:
			dec = v
		case v.Type.Is("number"):
			numbers++
		default:
			return nil
		}
	}
	if numbers == 0 {
		return nil
	}
	return dec
}
