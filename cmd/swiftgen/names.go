package main

import (
	"fmt"
	"strings"
	"unicode"
)

// swiftKeywords must be escaped with backticks when used as identifiers.
var swiftKeywords = map[string]bool{
	"associatedtype": true, "class": true, "deinit": true, "enum": true, "extension": true,
	"fileprivate": true, "func": true, "import": true, "init": true, "inout": true,
	"internal": true, "let": true, "open": true, "operator": true, "private": true,
	"precedencegroup": true, "protocol": true, "public": true, "rethrows": true,
	"static": true, "struct": true, "subscript": true, "typealias": true, "var": true,
	"break": true, "case": true, "catch": true, "continue": true, "default": true,
	"defer": true, "do": true, "else": true, "fallthrough": true, "for": true,
	"guard": true, "if": true, "in": true, "repeat": true, "return": true, "throw": true,
	"switch": true, "where": true, "while": true, "Any": true, "as": true, "await": true,
	"false": true, "is": true, "nil": true, "self": true, "Self": true, "super": true,
	"throws": true, "true": true, "try": true, "Type": true, "Protocol": true,
}

// reservedTypeNames are spellings a schema must not take as a Swift type name:
// the standard library and Foundation types the generated code uses (a schema
// called `Error` would shadow Swift.Error everywhere in the module) and the
// names of the hand-written runtime. Such schemas get the prefix "API".
var reservedTypeNames = map[string]bool{
	"Any": true, "AnyObject": true, "Array": true, "Bool": true, "Character": true,
	"Codable": true, "Data": true, "Date": true, "Decimal": true, "Decodable": true,
	"Decoder": true, "Dictionary": true, "Double": true, "Encodable": true, "Encoder": true,
	"Equatable": true, "Error": true, "Float": true, "Hashable": true, "Int": true,
	"Int32": true, "Int64": true, "Never": true, "Optional": true, "Protocol": true,
	"Result": true, "Self": true, "Sendable": true, "Set": true, "String": true,
	"Task": true, "Type": true, "URL": true, "UUID": true, "Void": true,
	// runtime
	"APIRequest": true, "CodingKeys": true, "DayDate": true, "DecimalString": true,
	"HTTPLogEntry": true, "JSONValue": true, "LocalStore": true, "ParameterValue": true,
	"PendingChanges": true, "RetryPolicy": true, "StaticTokenProvider": true,
	"SyncAPIClient": true, "SyncAPIOperations": true, "SyncClientError": true,
	"SyncEngine": true, "TimestampString": true, "TokenProvider": true, "UUIDString": true,
	"SQLiteReplica": true, "SQLiteValue": true, "SQLiteError": true, "ReplicaSchema": true,
	"ReplicaTableSchema": true, "ReplicaColumn": true, "ReplicaRow": true, "ReplicaWrite": true,
	"ReplicaTable": true, "ReplicaSyncEngine": true, "ReplicaConflict": true, "ConflictResolution": true,
	"QuarantinedChange": true, "SyncStatus": true, "VerificationReport": true, "SHA256": true,
}

// words splits an identifier from the spec into its words: separators are any
// non-alphanumeric characters ("Idempotency-Key", "contractor_id").
func words(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
}

// upperFirst upper-cases the first letter and keeps the rest ("costbookItem" -> "CostbookItem").
func upperFirst(s string) string {
	if s == "" {
		return s
	}
	r := []rune(s)
	r[0] = unicode.ToUpper(r[0])
	return string(r)
}

// normalizeWord lower-cases a word written in all capitals ("BAD" -> "bad")
// and leaves mixed-case words alone ("userId" stays "userId").
func normalizeWord(w string) string {
	if strings.ToUpper(w) == w {
		return strings.ToLower(w)
	}
	return w
}

// typeName turns a schema name into an UpperCamelCase Swift type name.
func typeName(s string) string {
	var b strings.Builder
	for _, w := range words(s) {
		b.WriteString(upperFirst(w))
	}
	name := b.String()
	if name == "" {
		name = "Unnamed"
	}
	if unicode.IsDigit([]rune(name)[0]) {
		name = "T" + name
	}
	if reservedTypeNames[name] {
		name = "API" + name
	}
	return name
}

// memberName turns a wire name into a lowerCamelCase Swift identifier
// ("contractor_id" -> "contractorId", "BAD_REQUEST" -> "badRequest",
// "Idempotency-Key" -> "idempotencyKey"). It is not escaped; see ident.
func memberName(s string) string {
	ws := words(s)
	var b strings.Builder
	for i, w := range ws {
		w = normalizeWord(w)
		if i == 0 {
			r := []rune(w)
			r[0] = unicode.ToLower(r[0])
			b.WriteString(string(r))
			continue
		}
		b.WriteString(upperFirst(w))
	}
	name := b.String()
	if name == "" {
		name = "value"
	}
	if unicode.IsDigit([]rune(name)[0]) {
		name = "_" + name
	}
	return name
}

// ident escapes a Swift identifier that is a keyword.
func ident(name string) string {
	if swiftKeywords[name] {
		return "`" + name + "`"
	}
	return name
}

// swiftString renders s as a Swift string literal.
func swiftString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '\\':
			b.WriteString(`\\`)
		case '"':
			b.WriteString(`\"`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if r < 0x20 {
				fmt.Fprintf(&b, `\u{%X}`, r)
				continue
			}
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
