package main

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// model is everything the Swift files are rendered from, in output order.
type model struct {
	structs []*structDef
	enums   []*enumDef
	unions  []*unionDef
	ops     []*opDef
	// replica: the synced tables, for the SQLite replica (nil when the spec has none)
	replica []replicaTable
}

type structDef struct {
	name   string // Swift type name
	source string // where it comes from in the spec, for error messages
	doc    string
	table  string // x-table: the database table whose rows this schema carries
	fields []*fieldDef
}

type fieldDef struct {
	wire       string // JSON key, exactly as in the spec
	name       string // Swift property name, unescaped
	typ        *swiftType
	required   bool
	nullable   bool
	doc        string
	deprecated bool
}

// optional tells whether the Swift property is an Optional.
func (f *fieldDef) optional() bool { return !f.required || f.nullable }

type enumDef struct {
	name   string
	doc    string
	values []string
}

// unionDef is a component schema that is one of several others (`oneOf` of
// references): a Swift enum with one case per alternative, decoded by trying
// them in order. The alternatives must not overlap (a string and an object).
type unionDef struct {
	name   string
	source string
	doc    string
	cases  []unionCase
}

type unionCase struct {
	name string // Swift case name
	typ  *swiftType
}

type opDef struct {
	id     string // operationId, the Swift method name
	method string
	path   string
	doc    string
	auth   bool
	params []*paramDef
	body   *swiftType // nil without a JSON request body
	// bodyRequired: the request body is not optional.
	bodyRequired bool
	result       result
}

type paramDef struct {
	wire     string
	name     string
	in       string // path, query, header
	required bool
	explode  bool
	typ      *swiftType
	doc      string
}

type resultKind int

const (
	resultNone resultKind = iota // Void
	resultJSON                   // decoded JSON
	resultText                   // String
	resultData                   // raw bytes
)

type result struct {
	kind resultKind
	typ  *swiftType // resultJSON only
}

// builder walks a loaded spec into a model.
type builder struct {
	doc   *openapi3.T
	order *keyOrder
	// component schema name -> named Swift type (struct or enum); schemas that
	// are neither (Uuid, Timestamp) are inlined where they are used.
	named   map[string]string
	structs map[string]*structDef
	enums   map[string]*enumDef
	unions  map[string]*unionDef
	// pending structs whose fields still have to be filled
	queue []pendingStruct
	// pending unions whose cases still have to be resolved
	unionQueue []pendingUnion
}

type pendingUnion struct {
	def    *unionDef
	schema *openapi3.Schema
}

type pendingStruct struct {
	def    *structDef
	schema *openapi3.Schema
	path   []string // YAML path of the schema, for property order
}

const componentSchemaPrefix = "#/components/schemas/"

func buildModel(doc *openapi3.T, order *keyOrder) (*model, error) {
	b := &builder{
		doc:     doc,
		order:   order,
		named:   map[string]string{},
		structs: map[string]*structDef{},
		enums:   map[string]*enumDef{},
		unions:  map[string]*unionDef{},
	}
	if err := b.declareComponents(); err != nil {
		return nil, err
	}
	if err := b.drain(); err != nil {
		return nil, err
	}
	ops, err := b.operations()
	if err != nil {
		return nil, err
	}
	// Operations may declare inline types too.
	if err := b.drain(); err != nil {
		return nil, err
	}
	if err := b.checkNoValueCycles(); err != nil {
		return nil, err
	}
	m := &model{ops: ops}
	for _, s := range b.structs {
		m.structs = append(m.structs, s)
	}
	for _, e := range b.enums {
		m.enums = append(m.enums, e)
	}
	for _, u := range b.unions {
		m.unions = append(m.unions, u)
	}
	sort.Slice(m.structs, func(i, j int) bool { return m.structs[i].name < m.structs[j].name })
	sort.Slice(m.enums, func(i, j int) bool { return m.enums[i].name < m.enums[j].name })
	sort.Slice(m.unions, func(i, j int) bool { return m.unions[i].name < m.unions[j].name })
	replica, err := replicaModel(doc, m, b)
	if err != nil {
		return nil, err
	}
	m.replica = replica
	return m, nil
}

// declareComponents names every component schema that becomes a Swift type,
// before any field is resolved, so references can point forwards.
func (b *builder) declareComponents() error {
	if b.doc.Components == nil {
		return nil
	}
	names := make([]string, 0, len(b.doc.Components.Schemas))
	for name := range b.doc.Components.Schemas {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		ref := b.doc.Components.Schemas[name]
		if ref == nil || ref.Value == nil {
			return fmt.Errorf("components.schemas.%s: unresolved", name)
		}
		s := ref.Value
		path := []string{"components", "schemas", name}
		switch {
		case isStruct(s):
			def, err := b.declareStruct(typeName(name), "components.schemas."+name, s, path)
			if err != nil {
				return err
			}
			b.named[name] = def.name
		case isStringEnum(s):
			def, err := b.declareEnum(typeName(name), s)
			if err != nil {
				return fmt.Errorf("components.schemas.%s: %w", name, err)
			}
			b.named[name] = def.name
		case isUnion(s):
			source := "components.schemas." + name
			if b.taken(typeName(name)) {
				return fmt.Errorf("%s: Swift type name %s is already used by another schema", source, typeName(name))
			}
			def := &unionDef{name: typeName(name), source: source, doc: docText(s.Title, s.Description)}
			b.unions[def.name] = def
			b.unionQueue = append(b.unionQueue, pendingUnion{def: def, schema: s})
			b.named[name] = def.name
		}
	}
	return nil
}

func (b *builder) declareStruct(name, source string, s *openapi3.Schema, path []string) (*structDef, error) {
	if b.taken(name) {
		return nil, fmt.Errorf("%s: Swift type name %s is already used by another schema", source, name)
	}
	def := &structDef{name: name, source: source, doc: docText(s.Title, s.Description), table: stringExtension(s, "x-table")}
	b.structs[name] = def
	b.queue = append(b.queue, pendingStruct{def: def, schema: s, path: path})
	return def, nil
}

func (b *builder) declareEnum(name string, s *openapi3.Schema) (*enumDef, error) {
	values, err := enumValues(s)
	if err != nil {
		return nil, err
	}
	if existing, ok := b.enums[name]; ok {
		if slices.Equal(existing.values, values) {
			return existing, nil
		}
		return nil, fmt.Errorf("Swift type name %s is already used by an enum with other values", name)
	}
	if b.taken(name) {
		return nil, fmt.Errorf("Swift type name %s is already used by another schema", name)
	}
	def := &enumDef{name: name, doc: docText(s.Title, s.Description), values: values}
	b.enums[name] = def
	return def, nil
}

func (b *builder) taken(name string) bool {
	_, s := b.structs[name]
	_, e := b.enums[name]
	_, u := b.unions[name]
	return s || e || u
}

// drain fills the fields of every declared struct and the cases of every
// union; filling may declare more.
func (b *builder) drain() error {
	for len(b.queue) > 0 || len(b.unionQueue) > 0 {
		if len(b.queue) > 0 {
			p := b.queue[0]
			b.queue = b.queue[1:]
			if err := b.fillStruct(p); err != nil {
				return err
			}
			continue
		}
		p := b.unionQueue[0]
		b.unionQueue = b.unionQueue[1:]
		if err := b.fillUnion(p); err != nil {
			return err
		}
	}
	return nil
}

// fillUnion resolves the alternatives of a oneOf component: each must be a
// reference to a component (its name names the case), and no two may be
// the same Swift type.
func (b *builder) fillUnion(p pendingUnion) error {
	seen := map[string]string{}
	for i, ref := range p.schema.OneOf {
		if ref == nil || ref.Ref == "" || !strings.HasPrefix(ref.Ref, componentSchemaPrefix) {
			return fmt.Errorf("%s.oneOf[%d]: an alternative must be a reference to a component schema", p.def.source, i)
		}
		component := strings.TrimPrefix(ref.Ref, componentSchemaPrefix)
		typ, nullable, err := b.resolve(ref, p.def.name, component, nil)
		if err != nil {
			return fmt.Errorf("%s.oneOf[%d]: %w", p.def.source, i, err)
		}
		if nullable {
			return fmt.Errorf("%s.oneOf[%d]: a nullable alternative is not supported", p.def.source, i)
		}
		if other, dup := seen[typ.swift()]; dup {
			return fmt.Errorf("%s: alternatives %s and %s are both Swift %s", p.def.source, other, component, typ.swift())
		}
		seen[typ.swift()] = component
		p.def.cases = append(p.def.cases, unionCase{name: memberName(component), typ: typ})
	}
	return nil
}

func (b *builder) fillStruct(p pendingStruct) error {
	s := p.schema
	required := map[string]bool{}
	for _, r := range s.Required {
		required[r] = true
	}
	propPath := append(slices.Clone(p.path), "properties")
	seen := map[string]string{}
	for _, wire := range b.order.ordered(propPath, mapKeys(s.Properties)) {
		ref := s.Properties[wire]
		typ, nullable, err := b.resolve(ref, p.def.name, wire, append(slices.Clone(propPath), wire))
		if err != nil {
			return fmt.Errorf("%s.properties.%s: %w", p.def.source, wire, err)
		}
		name := memberName(wire)
		if other, dup := seen[name]; dup {
			return fmt.Errorf("%s: properties %q and %q both become Swift property %s", p.def.source, other, wire, name)
		}
		seen[name] = wire
		f := &fieldDef{wire: wire, name: name, typ: typ, required: required[wire], nullable: nullable}
		if ref.Value != nil {
			f.deprecated = ref.Value.Deprecated
			if ref.Ref == "" {
				f.doc = docText(ref.Value.Title, ref.Value.Description)
			}
		}
		p.def.fields = append(p.def.fields, f)
	}
	return nil
}

// checkNoValueCycles rejects a struct that contains itself other than through
// an array or dictionary (`parent: Widget?`): Swift value types cannot.
func (b *builder) checkNoValueCycles() error {
	const (
		unvisited = iota
		visiting
		done
	)
	state := map[string]int{}
	var visit func(name string, path []string) error
	visit = func(name string, path []string) error {
		switch state[name] {
		case visiting:
			return fmt.Errorf("%s: recursive reference %s; a Swift struct cannot contain itself (use an array)",
				b.structs[name].source, strings.Join(append(path, name), " -> "))
		case done:
			return nil
		}
		state[name] = visiting
		for _, f := range b.structs[name].fields {
			if f.typ.kind != scalarKind {
				continue // arrays and dictionaries store their elements out of line
			}
			if _, ok := b.structs[f.typ.name]; ok {
				if err := visit(f.typ.name, append(path, name+"."+f.name)); err != nil {
					return err
				}
			}
		}
		state[name] = done
		return nil
	}
	for _, name := range mapKeys(b.structs) {
		if err := visit(name, nil); err != nil {
			return err
		}
	}
	return nil
}

// resolve maps a schema reference to its Swift type and tells whether null is
// allowed. owner and prop name inline types; path is the YAML path of an
// inline schema (for property order of inline objects).
func (b *builder) resolve(ref *openapi3.SchemaRef, owner, prop string, path []string) (*swiftType, bool, error) {
	if ref == nil || ref.Value == nil {
		return opaque("JSONValue"), true, nil
	}
	if ref.Ref != "" {
		if !strings.HasPrefix(ref.Ref, componentSchemaPrefix) {
			return nil, false, fmt.Errorf("$ref %q: only %s... references are supported", ref.Ref, componentSchemaPrefix)
		}
		component := strings.TrimPrefix(ref.Ref, componentSchemaPrefix)
		if name, ok := b.named[component]; ok {
			if _, isEnum := b.enums[name]; isEnum {
				return scalar(name), ref.Value.Nullable, nil
			}
			return opaque(name), ref.Value.Nullable, nil
		}
		// A primitive alias (Uuid, Timestamp): inline it.
		return b.resolveSchema(ref.Value, owner, prop, []string{"components", "schemas", component})
	}
	return b.resolveSchema(ref.Value, owner, prop, path)
}

func (b *builder) resolveSchema(s *openapi3.Schema, owner, prop string, path []string) (*swiftType, bool, error) {
	nullable := s.Nullable || (s.Type != nil && s.Type.IncludesNull())
	if isDecimalAnyOf(s) {
		// A decimal string or a JSON number on input: the SDK sends the string.
		return wrapped("Decimal", "DecimalString"), nullable, nil
	}
	if len(s.OneOf) > 0 || len(s.AnyOf) > 0 || s.Not != nil {
		return nil, false, fmt.Errorf("oneOf, anyOf and not are not supported (except anyOf of a decimal string and numbers)")
	}
	if len(s.AllOf) > 0 {
		// `allOf: [$ref]` is the usual way to attach nullable or a description to a reference.
		if len(s.AllOf) != 1 || isStruct(s) {
			return nil, false, fmt.Errorf("allOf is supported only with exactly one schema")
		}
		typ, innerNullable, err := b.resolve(s.AllOf[0], owner, prop, append(slices.Clone(path), "allOf", "0"))
		return typ, nullable || innerNullable, err
	}
	var types []string
	if s.Type != nil {
		for _, t := range s.Type.Slice() {
			if t != "null" {
				types = append(types, t)
			}
		}
	}
	if len(types) == 0 {
		switch {
		case len(s.Properties) > 0:
			types = []string{"object"}
		case s.Items != nil:
			types = []string{"array"}
		default:
			return opaque("JSONValue"), nullable, nil // any JSON
		}
	}
	if len(types) > 1 {
		return opaque("JSONValue"), nullable, nil
	}
	switch types[0] {
	case "string":
		if len(s.Enum) > 0 {
			typ, err := b.inlineEnum(owner, prop, s)
			return typ, nullable, err
		}
		switch s.Format {
		case "date-time":
			return wrapped("Date", "TimestampString"), nullable, nil
		case "date":
			return scalar("DayDate"), nullable, nil
		case "decimal":
			return wrapped("Decimal", "DecimalString"), nullable, nil
		case "uuid":
			return wrapped("UUID", "UUIDString"), nullable, nil
		}
		return scalar("String"), nullable, nil
	case "integer":
		switch s.Format {
		case "int32":
			return scalar("Int32"), nullable, nil
		case "int64":
			return scalar("Int64"), nullable, nil
		}
		return scalar("Int"), nullable, nil
	case "number":
		if s.Format == "float" {
			return scalar("Float"), nullable, nil
		}
		return scalar("Double"), nullable, nil
	case "boolean":
		return scalar("Bool"), nullable, nil
	case "array":
		if s.Items == nil || isAnyJSON(s.Items) {
			return arrayOf(opaque("JSONValue")), nullable, nil
		}
		elem, elemNullable, err := b.resolve(s.Items, owner, prop+"_item", append(slices.Clone(path), "items"))
		if err != nil {
			return nil, false, fmt.Errorf("items: %w", err)
		}
		if elemNullable {
			return nil, false, fmt.Errorf("items: nullable array elements are not supported")
		}
		return arrayOf(elem), nullable, nil
	case "object":
		if isStruct(s) {
			def, err := b.declareStruct(typeName(owner+"_"+prop), owner+"."+prop, s, path)
			if err != nil {
				return nil, false, err
			}
			return opaque(def.name), nullable, nil
		}
		if ap := s.AdditionalProperties.Schema; ap != nil && !isAnyJSON(ap) {
			elem, elemNullable, err := b.resolve(ap, owner, prop+"_value", append(slices.Clone(path), "additionalProperties"))
			if err != nil {
				return nil, false, fmt.Errorf("additionalProperties: %w", err)
			}
			if elemNullable {
				return nil, false, fmt.Errorf("additionalProperties: nullable values are not supported")
			}
			return dictOf(elem), nullable, nil
		}
		return dictOf(opaque("JSONValue")), nullable, nil
	}
	return nil, false, fmt.Errorf("unsupported type %q", types[0])
}

// inlineEnum reuses a component enum with the same values (a write schema
// repeating EstimateStatus inline), else declares <Owner><Prop>.
func (b *builder) inlineEnum(owner, prop string, s *openapi3.Schema) (*swiftType, error) {
	values, err := enumValues(s)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(b.enums))
	for name := range b.enums {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if sameSet(b.enums[name].values, values) {
			return scalar(name), nil
		}
	}
	def, err := b.declareEnum(typeName(owner+"_"+prop), s)
	if err != nil {
		return nil, err
	}
	return scalar(def.name), nil
}

func (b *builder) operations() ([]*opDef, error) {
	if b.doc.Paths == nil {
		return nil, nil
	}
	var ops []*opDef
	ids := map[string]string{}
	for path, item := range b.doc.Paths.Map() {
		for method, op := range item.Operations() {
			where := method + " " + path
			if op.OperationID == "" {
				return nil, fmt.Errorf("%s: operationId is required (it names the Swift method)", where)
			}
			name := memberName(op.OperationID)
			if other, dup := ids[name]; dup {
				return nil, fmt.Errorf("%s: operationId %q clashes with %s", where, op.OperationID, other)
			}
			ids[name] = where
			def, err := b.operation(name, method, path, item, op)
			if err != nil {
				return nil, fmt.Errorf("%s (%s): %w", where, op.OperationID, err)
			}
			ops = append(ops, def)
		}
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].id < ops[j].id })
	return ops, nil
}

func (b *builder) operation(name, method, path string, item *openapi3.PathItem, op *openapi3.Operation) (*opDef, error) {
	def := &opDef{
		id:     name,
		method: method,
		path:   path,
		doc:    docText(op.Summary, op.Description),
		auth:   b.requiresAuth(op),
	}
	owner := typeName(op.OperationID)

	// Path-level parameters apply unless the operation overrides them.
	var params []*openapi3.ParameterRef
	overridden := map[string]bool{}
	for _, p := range op.Parameters {
		if p.Value != nil {
			overridden[p.Value.In+" "+p.Value.Name] = true
		}
	}
	for _, p := range item.Parameters {
		if p.Value != nil && !overridden[p.Value.In+" "+p.Value.Name] {
			params = append(params, p)
		}
	}
	params = append(params, op.Parameters...)
	seen := map[string]string{"body": "the request body"}
	for _, ref := range params {
		p := ref.Value
		if p == nil {
			return nil, fmt.Errorf("unresolved parameter %q", ref.Ref)
		}
		switch p.In {
		case openapi3.ParameterInPath, openapi3.ParameterInQuery, openapi3.ParameterInHeader:
		default:
			return nil, fmt.Errorf("parameter %s in %s is not supported", p.Name, p.In)
		}
		if p.Schema == nil {
			return nil, fmt.Errorf("parameter %s: only schema parameters are supported", p.Name)
		}
		typ, _, err := b.resolve(p.Schema, owner, p.Name, nil)
		if err != nil {
			return nil, fmt.Errorf("parameter %s: %w", p.Name, err)
		}
		if !typ.isParameter() {
			return nil, fmt.Errorf("parameter %s: type %s cannot be sent as a parameter", p.Name, typ.swift())
		}
		pd := &paramDef{
			wire:     p.Name,
			name:     memberName(p.Name),
			in:       p.In,
			required: p.Required || p.In == openapi3.ParameterInPath,
			explode:  p.Explode == nil || *p.Explode, // form style explodes by default
			typ:      typ,
			doc:      p.Description,
		}
		if p.In != openapi3.ParameterInQuery {
			pd.explode = false // path and header (simple style) join arrays with commas
		}
		if other, dup := seen[pd.name]; dup {
			return nil, fmt.Errorf("parameter %s becomes Swift argument %s, like %s", p.Name, pd.name, other)
		}
		seen[pd.name] = "parameter " + p.Name
		def.params = append(def.params, pd)
	}
	// Path parameters first, in the order they appear in the path, then the rest as declared.
	sort.SliceStable(def.params, func(i, j int) bool {
		pi, pj := def.params[i], def.params[j]
		if (pi.in == "path") != (pj.in == "path") {
			return pi.in == "path"
		}
		if pi.in == "path" {
			return strings.Index(path, "{"+pi.wire+"}") < strings.Index(path, "{"+pj.wire+"}")
		}
		return false
	})

	if rb := op.RequestBody; rb != nil {
		if rb.Value == nil {
			return nil, fmt.Errorf("unresolved request body %q", rb.Ref)
		}
		mt, _ := jsonContent(rb.Value.Content)
		if mt == nil || mt.Schema == nil {
			return nil, fmt.Errorf("only application/json request bodies are supported")
		}
		typ, _, err := b.resolve(mt.Schema, owner, "request", nil)
		if err != nil {
			return nil, fmt.Errorf("request body: %w", err)
		}
		def.body = typ
		def.bodyRequired = rb.Value.Required
	}

	res, err := b.successResult(owner, op)
	if err != nil {
		return nil, err
	}
	def.result = res
	return def, nil
}

// successResult is the first 2xx response (by status code) of op.
func (b *builder) successResult(owner string, op *openapi3.Operation) (result, error) {
	if op.Responses == nil {
		return result{}, nil
	}
	codes := make([]string, 0)
	for code := range op.Responses.Map() {
		if len(code) == 3 && code[0] == '2' {
			codes = append(codes, code)
		}
	}
	sort.Strings(codes)
	if len(codes) == 0 {
		return result{}, nil
	}
	resp := op.Responses.Map()[codes[0]]
	if resp == nil || resp.Value == nil || len(resp.Value.Content) == 0 {
		return result{}, nil
	}
	if mt, _ := jsonContent(resp.Value.Content); mt != nil {
		if mt.Schema == nil {
			return result{kind: resultJSON, typ: opaque("JSONValue")}, nil
		}
		typ, _, err := b.resolve(mt.Schema, owner, "response", nil)
		if err != nil {
			return result{}, fmt.Errorf("response %s: %w", codes[0], err)
		}
		return result{kind: resultJSON, typ: typ}, nil
	}
	for _, ct := range mapKeys(resp.Value.Content) {
		if strings.HasPrefix(ct, "text/") {
			return result{kind: resultText}, nil
		}
	}
	return result{kind: resultData}, nil
}

func (b *builder) requiresAuth(op *openapi3.Operation) bool {
	security := b.doc.Security
	if op.Security != nil {
		security = *op.Security
	}
	return len(security) > 0
}

// jsonContent picks application/json (or a +json type) from content.
func jsonContent(content openapi3.Content) (*openapi3.MediaType, string) {
	if mt := content["application/json"]; mt != nil {
		return mt, "application/json"
	}
	for _, ct := range mapKeys(content) {
		if strings.HasSuffix(strings.Split(ct, ";")[0], "+json") {
			return content[ct], ct
		}
	}
	return nil, ""
}

// isUnion: a schema that is only a oneOf of other schemas.
func isUnion(s *openapi3.Schema) bool {
	return len(s.OneOf) > 0 && (s.Type == nil || len(s.Type.Slice()) == 0) && len(s.Properties) == 0 &&
		len(s.AnyOf) == 0 && len(s.AllOf) == 0 && s.Not == nil
}

// isStruct: an object schema with named properties (or explicitly none).
func isStruct(s *openapi3.Schema) bool {
	if s.Type != nil && !s.Type.Includes("object") {
		return false
	}
	if len(s.Properties) > 0 {
		return true
	}
	closed := s.AdditionalProperties.Has != nil && !*s.AdditionalProperties.Has
	return closed && s.Type != nil && s.Type.Includes("object")
}

func isStringEnum(s *openapi3.Schema) bool {
	return s.Type != nil && s.Type.Is("string") && len(s.Enum) > 0
}

// isAnyJSON: `{}` or a schema that constrains nothing about the type.
func isAnyJSON(ref *openapi3.SchemaRef) bool {
	if ref.Ref != "" || ref.Value == nil {
		return false
	}
	s := ref.Value
	return (s.Type == nil || len(s.Type.Slice()) == 0) && len(s.Properties) == 0 && s.Items == nil &&
		len(s.Enum) == 0 && len(s.AllOf) == 0 && len(s.OneOf) == 0 && len(s.AnyOf) == 0
}

func enumValues(s *openapi3.Schema) ([]string, error) {
	values := make([]string, 0, len(s.Enum))
	seen := map[string]bool{}
	for _, v := range s.Enum {
		if v == nil {
			continue // `null` in a nullable enum
		}
		str, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("enum value %v is not a string", v)
		}
		if !seen[str] {
			seen[str] = true
			values = append(values, str)
		}
	}
	if len(values) == 0 {
		return nil, fmt.Errorf("enum has no string values")
	}
	return values, nil
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	x, y := slices.Clone(a), slices.Clone(b)
	sort.Strings(x)
	sort.Strings(y)
	return slices.Equal(x, y)
}

func stringExtension(s *openapi3.Schema, key string) string {
	v, _ := s.Extensions[key].(string)
	return v
}

// docText joins a summary (or title) and a description into one doc comment.
func docText(summary, description string) string {
	summary, description = strings.TrimSpace(summary), strings.TrimSpace(description)
	switch {
	case summary == "":
		return description
	case description == "":
		return summary
	}
	return summary + "\n\n" + description
}

func mapKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
