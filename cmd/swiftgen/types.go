package main

// typeKind is the shape of a Swift type the generator emits.
type typeKind int

const (
	scalarKind typeKind = iota
	arrayKind
	dictKind
)

// swiftType is how a schema is spelled in Swift. Some scalars are carried on
// the wire by an internal Codable wrapper of the runtime (Date as
// TimestampString, Decimal as DecimalString, UUID as UUIDString), so the
// generated coding code converts between the public type and its wire form.
type swiftType struct {
	kind typeKind
	name string     // scalar: the public Swift type
	wire string     // scalar: the runtime wrapper used on the wire, "" when name is Codable as is
	elem *swiftType // array and dictionary elements
	// param tells whether the type conforms to the runtime's ParameterValue,
	// i.e. can be sent in a path, query or header.
	param bool
}

func scalar(name string) *swiftType { return &swiftType{kind: scalarKind, name: name, param: true} }

func wrapped(name, wire string) *swiftType {
	return &swiftType{kind: scalarKind, name: name, wire: wire, param: true}
}

func opaque(name string) *swiftType { return &swiftType{kind: scalarKind, name: name} }

func arrayOf(elem *swiftType) *swiftType { return &swiftType{kind: arrayKind, elem: elem} }

func dictOf(elem *swiftType) *swiftType { return &swiftType{kind: dictKind, elem: elem} }

// swift is the public spelling: "UUID", "[CostbookItem]", "[String: JSONValue]".
func (t *swiftType) swift() string {
	switch t.kind {
	case arrayKind:
		return "[" + t.elem.swift() + "]"
	case dictKind:
		return "[String: " + t.elem.swift() + "]"
	}
	return t.name
}

// wireType is the spelling decoded from and encoded to JSON.
func (t *swiftType) wireType() string {
	switch t.kind {
	case arrayKind:
		return "[" + t.elem.wireType() + "]"
	case dictKind:
		return "[String: " + t.elem.wireType() + "]"
	}
	if t.wire != "" {
		return t.wire
	}
	return t.name
}

// needsWire tells whether the wire spelling differs from the public one.
func (t *swiftType) needsWire() bool {
	if t.kind == scalarKind {
		return t.wire != ""
	}
	return t.elem.needsWire()
}

// fromWire is the postfix that turns a decoded wire value into the public
// value: ".value", ".map { $0.value }", "" when no conversion is needed.
func (t *swiftType) fromWire() string {
	if !t.needsWire() {
		return ""
	}
	switch t.kind {
	case arrayKind:
		return ".map { $0" + t.elem.fromWire() + " }"
	case dictKind:
		return ".mapValues { $0" + t.elem.fromWire() + " }"
	}
	return ".value"
}

// toWire turns the public value expr into its wire form.
func (t *swiftType) toWire(expr string) string {
	if !t.needsWire() {
		return expr
	}
	switch t.kind {
	case arrayKind:
		return expr + ".map { " + t.elem.toWire("$0") + " }"
	case dictKind:
		return expr + ".mapValues { " + t.elem.toWire("$0") + " }"
	}
	return t.wire + "(" + expr + ")"
}

// optionalToWire is toWire for an Optional expr.
func (t *swiftType) optionalToWire(expr string) string {
	if !t.needsWire() {
		return expr
	}
	return expr + ".map { " + t.toWire("$0") + " }"
}

// isParameter tells whether values of t can be sent as a path, query or
// header parameter: a ParameterValue or an array of them.
func (t *swiftType) isParameter() bool {
	switch t.kind {
	case scalarKind:
		return t.param
	case arrayKind:
		return t.elem.kind == scalarKind && t.elem.param
	}
	return false
}
