package pushbody

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/syncproxy/syncproxy/wire"
	"github.com/syncproxy/syncproxy/wire/push"
)

// Decode reads a whole push body from r (the caller bounds its size) and
// decodes it into b. A body that breaks the contract is an *Invalid; one with
// too many rows a *TooManyRows; any other error is r's.
func (d *Decoder) Decode(r io.Reader, b *push.Body) error {
	body, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	return d.DecodeBytes(body, b)
}

// DecodeBytes decodes one push body into b: one entry per table of the
// spec, in TableName order (the registry's ordinals), and the body's Sum.
// The rows of b alias body.
func (d *Decoder) DecodeBytes(body []byte, b *push.Body) error {
	s := &decodeState{
		d:    d,
		body: body,
		// Duplicate member names and invalid UTF-8 are rejected by jsontext
		// itself (its defaults): a row `{"name":"a","name":"b"}` has no
		// single meaning, and Postgres would reject or mangle the bytes.
		dec:   jsontext.NewDecoder(bytes.NewBuffer(body)),
		own:   make([][]push.Row, len(d.tables)),
		alias: make([][]push.Row, len(d.tables)),
		dels:  make([][]push.Delete, len(d.tables)),
		seen:  make([]bool, maxColumns(d.tables)),
	}
	if err := s.decodeBody(); err != nil {
		return err
	}
	if len(s.problems) > 0 {
		return &Invalid{Message: "the request does not match the contract", Problems: s.problems, Truncated: s.truncated}
	}
	tables := make([]push.Table, len(d.tables))
	for i, t := range d.tables {
		tables[i] = push.Table{Name: t.name, Deletes: s.dels[i]}
		switch {
		case len(s.alias[i]) == 0:
			tables[i].Rows = s.own[i]
		default: // the deprecated alias is applied first, so the table's own name wins a tie
			tables[i].Rows = append(s.alias[i], s.own[i]...)
		}
	}
	*b = push.Body{Tables: tables, Sum: sha256.Sum256(body)}
	return nil
}

func maxColumns(tables []tableRules) int {
	n := 0
	for _, t := range tables {
		n = max(n, t.ncols)
	}
	return n
}

type decodeState struct {
	d         *Decoder
	body      []byte
	dec       *jsontext.Decoder
	own       [][]push.Row // by ordinal: rows under the table's own name
	alias     [][]push.Row // by ordinal: rows under a deprecated alias
	dels      [][]push.Delete
	rows      int
	problems  []Problem
	truncated bool
	seen      []bool // which columns the current row carries, by slot
	nameBuf   []byte
	valueBuf  []byte
}

// errStop ends decoding early; the reason is already in s.problems.
var errStop = errors.New("stop")

func (s *decodeState) problem(table string, index int, field, reason string) {
	if len(s.problems) >= s.d.limits.MaxProblems {
		s.truncated = true
		return
	}
	s.problems = append(s.problems, Problem{Table: table, Index: index, Field: field, Reason: reason})
}

// full reports that validation has found as many problems as it reports:
// the rest of the body is only counted, not validated.
func (s *decodeState) full() bool { return len(s.problems) >= s.d.limits.MaxProblems }

func (s *decodeState) decodeBody() error {
	err := s.body1()
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errStop):
		return nil
	}
	var tooMany *TooManyRows
	if errors.As(err, &tooMany) {
		return err
	}
	return s.syntax(err)
}

func (s *decodeState) body1() error {
	notObject := func() error {
		s.problem("", -1, "", "the body must be a JSON object of tables")
		return errStop
	}
	err := s.object(notObject, func(name string) error {
		switch prop := s.d.props[name]; {
		case name == "deletes":
			return s.deletes()
		case prop == nil:
			s.problem(name, -1, "", "unknown table")
			return s.dec.SkipValue()
		default:
			return s.rowsOf(prop)
		}
	})
	if err != nil {
		return err
	}
	// A body is one JSON value: `{..}{..}` or trailing garbage would
	// otherwise be accepted with everything after the first value dropped.
	if _, err := s.dec.ReadValue(); err != io.EOF {
		if err == nil {
			err = &jsontext.SyntacticError{ByteOffset: s.dec.InputOffset(), Err: errors.New("a second JSON value")}
		}
		return err
	}
	return nil
}

// peek returns the kind of the next token, or the error reading it.
func (s *decodeState) peek() (jsontext.Kind, error) {
	k := s.dec.PeekKind()
	if k == jsontext.KindInvalid {
		_, err := s.dec.ReadToken()
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return 0, err
	}
	return k, nil
}

// object reads a JSON object: member gets each member's name and reads or
// skips its value. When the next value is no object, notObject says so
// (and skips it, or stops).
func (s *decodeState) object(notObject func() error, member func(name string) error) error {
	k, err := s.peek()
	if err != nil {
		return err
	}
	if k != '{' {
		return notObject()
	}
	if _, err := s.dec.ReadToken(); err != nil {
		return err
	}
	for {
		k, err := s.peek()
		if err != nil {
			return err
		}
		if k == '}' {
			break
		}
		nameValue, err := s.dec.ReadValue()
		if err != nil {
			return err
		}
		if err := member(string(s.unquote(&s.nameBuf, nameValue))); err != nil {
			return err
		}
	}
	_, err = s.dec.ReadToken()
	return err
}

// array reads a JSON array: element gets each element's index and kind and
// reads or skips it. When the next value is no array, notArray says so.
func (s *decodeState) array(notArray func() error, element func(index int, k jsontext.Kind) error) error {
	k, err := s.peek()
	if err != nil {
		return err
	}
	if k != '[' {
		return notArray()
	}
	if _, err := s.dec.ReadToken(); err != nil {
		return err
	}
	for i := 0; ; i++ {
		k, err := s.peek()
		if err != nil {
			return err
		}
		if k == ']' {
			break
		}
		if err := element(i, k); err != nil {
			return err
		}
	}
	_, err = s.dec.ReadToken()
	return err
}

// skipAs reports a value of the wrong kind and skips it.
func (s *decodeState) skipAs(table, field, reason string) func() error {
	return func() error {
		s.problem(table, -1, field, reason)
		return s.dec.SkipValue()
	}
}

// count adds one row (or id to delete) and stops the decoder at the limit.
func (s *decodeState) count() error {
	s.rows++
	if s.rows > s.d.limits.MaxRows {
		return &TooManyRows{Limit: s.d.limits.MaxRows}
	}
	return nil
}

func (s *decodeState) rowsOf(prop *propRules) error {
	rules := &s.d.tables[prop.table]
	return s.array(s.skipAs(prop.name, "", "must be an array of rows"), func(i int, k jsontext.Kind) error {
		if err := s.count(); err != nil {
			return err
		}
		if s.full() {
			s.truncated = true
			return s.dec.SkipValue()
		}
		row, ok, err := s.row(prop, rules, i, k)
		if err != nil || !ok {
			return err
		}
		if prop.alias {
			s.alias[prop.table] = append(s.alias[prop.table], row)
		} else {
			s.own[prop.table] = append(s.own[prop.table], row)
		}
		return nil
	})
}

// patch replaces body[from:to] of a row with text.
type patch struct {
	from, to int
	text     string
}

// row decodes and validates one row; ok is false when it had problems.
func (s *decodeState) row(prop *propRules, rules *tableRules, index int, k jsontext.Kind) (push.Row, bool, error) {
	if k != '{' {
		s.problem(prop.name, index, "", "must be an object (a row)")
		return push.Row{}, false, s.dec.SkipValue()
	}
	before := len(s.problems)
	if _, err := s.dec.ReadToken(); err != nil {
		return push.Row{}, false, err
	}
	start := int(s.dec.InputOffset()) - 1
	clear(s.seen)
	row := push.Row{Source: prop.name, Index: index}
	var patches []patch
	for {
		k, err := s.peek()
		if err != nil {
			return push.Row{}, false, err
		}
		if k == '}' {
			break
		}
		nameValue, err := s.dec.ReadValue()
		if err != nil {
			return push.Row{}, false, err
		}
		name := s.unquote(&s.nameBuf, nameValue)
		value, err := s.dec.ReadValue()
		if err != nil {
			return push.Row{}, false, err
		}
		col := rules.columns[string(name)]
		if col == nil {
			s.problem(prop.name, index, string(name), "unknown column")
			continue
		}
		s.seen[col.slot] = true
		end := int(s.dec.InputOffset())
		if p, ok := s.value(prop.name, index, col, value, &row); ok && p != "" {
			patches = append(patches, patch{from: end - len(value), to: end, text: p})
		}
	}
	if _, err := s.dec.ReadToken(); err != nil {
		return push.Row{}, false, err
	}
	end := int(s.dec.InputOffset())
	for _, c := range rules.required {
		if !s.seen[c.slot] {
			s.problem(prop.name, index, c.name, "required")
		}
	}
	if len(s.problems) > before || s.truncated {
		return push.Row{}, false, nil
	}
	row.JSON = applyPatches(s.body, start, end, patches)
	return row, true, nil
}

func applyPatches(body []byte, start, end int, patches []patch) []byte {
	if len(patches) == 0 {
		return body[start:end:end]
	}
	out := make([]byte, 0, end-start+32*len(patches))
	at := start
	for _, p := range patches {
		out = append(out, body[at:p.from]...)
		out = append(out, p.text...)
		at = p.to
	}
	return append(out, body[at:end]...)
}

// value validates one column value. It returns replacement JSON text when
// the value must reach Postgres in another form (ok is false on a problem).
func (s *decodeState) value(table string, index int, col *column, v jsontext.Value, row *push.Row) (replacement string, ok bool) {
	bad := func(reason string) (string, bool) {
		s.problem(table, index, col.name, reason)
		return "", false
	}
	k := v.Kind()
	if k == 'n' {
		if !col.nullable {
			return bad("must not be null")
		}
		return "", true
	}
	switch col.kind {
	case kindString:
		if k != '"' {
			return bad("must be a string")
		}
		return s.stringValue(col, s.unquote(&s.valueBuf, v), row, bad)
	case kindInteger:
		if k != '0' {
			return bad("must be an integer")
		}
		n, err := parseInteger(v)
		if err != nil {
			return bad(err.Error())
		}
		if n < col.min || n > col.max {
			return bad(fmt.Sprintf("must be between %d and %d", col.min, col.max))
		}
		if col.base {
			row.Base, row.HasBase = n, true
		}
	case kindBoolean:
		if k != 't' && k != 'f' {
			return bad("must be true or false")
		}
	case kindObject:
		if k != '{' {
			return bad("must be a JSON object")
		}
		return "", s.jsonValue(table, index, col, v)
	case kindArray:
		if k != '[' {
			return bad("must be a JSON array")
		}
		return "", s.jsonValue(table, index, col, v)
	case kindAny:
		return "", s.jsonValue(table, index, col, v)
	case kindDecimal:
		switch k {
		case '"':
			return s.stringValue(col, s.unquote(&s.valueBuf, v), row, bad)
		case '0':
			// Kept as written: jsonb reads a JSON number as numeric, never
			// through a float, so 12.50 is stored as 12.50.
			plain, ok := plainDecimal(v)
			if !ok || !col.pattern.Match(plain) {
				return bad(decimalReason)
			}
		default:
			return bad("must be a decimal string or number")
		}
	}
	return "", true
}

// plainDecimal writes a JSON number in full, without an exponent
// (1.25e3 -> 1250, 1e-2 -> 0.01), exactly: digits are moved, never computed
// through a float. It refuses exponents that would make the result huge.
func plainDecimal(v []byte) ([]byte, bool) {
	s := string(v)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	mant, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant = s[:i]
		e, err := strconv.Atoi(strings.TrimPrefix(s[i+1:], "+"))
		if err != nil || e > 64 || e < -64 {
			return nil, false
		}
		exp = e
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	digits := intPart + frac
	point := len(intPart) + exp // position of the decimal point in digits
	switch {
	case point <= 0:
		digits = strings.Repeat("0", 1-point) + digits
		point = 1
	case point > len(digits):
		digits += strings.Repeat("0", point-len(digits))
	}
	whole, fraction := strings.TrimLeft(digits[:point], "0"), digits[point:]
	if whole == "" {
		whole = "0"
	}
	out := whole
	if fraction != "" {
		out += "." + fraction
	}
	if neg {
		out = "-" + out
	}
	return []byte(out), true
}

func (s *decodeState) stringValue(col *column, str []byte, row *push.Row, bad func(string) (string, bool)) (string, bool) {
	if bytes.IndexByte(str, 0) >= 0 {
		// Postgres stores NUL neither in text nor in jsonb.
		return bad(`contains a NUL character (\u0000)`)
	}
	if col.minLength > 0 || col.maxLength >= 0 {
		n := utf8.RuneCount(str)
		if n < col.minLength {
			if col.minLength == 1 {
				return bad("must not be empty")
			}
			return bad(fmt.Sprintf("must have at least %d characters", col.minLength))
		}
		if col.maxLength >= 0 && n > col.maxLength {
			return bad(fmt.Sprintf("must have at most %d characters", col.maxLength))
		}
	}
	if col.enum != nil && !col.enum[string(str)] {
		return bad("must be one of " + col.enumText)
	}
	if col.pattern != nil && !col.pattern.Match(str) {
		return bad(col.patternReason)
	}
	switch col.format {
	case "uuid":
		id, err := wire.CheckUUID(str)
		if err != nil {
			return bad(err.Error())
		}
		if col.key {
			row.Key, row.HasKey = id, true
		}
	case "date":
		if err := wire.CheckDate(str); err != nil {
			return bad(err.Error())
		}
	case "date-time":
		t, rewrite, err := wire.CheckDateTime(str)
		if err != nil {
			return bad(err.Error())
		}
		if rewrite {
			return strconv.Quote(wire.PostgresDateTime(t)), true
		}
	}
	return "", true
}

// parseInteger accepts a JSON number written as an integer (no fraction or
// exponent: what Postgres' integer input accepts).
func parseInteger(v []byte) (int64, error) {
	digits := v
	if len(digits) > 0 && digits[0] == '-' {
		digits = digits[1:]
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, errors.New("must be an integer (no fraction or exponent)")
		}
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		return 0, errors.New("out of range")
	}
	return n, nil
}

// jsonValue checks a value of a JSON column: bounded in size and depth, and
// without NUL, which jsonb cannot store. One device must not be able to
// store a value that stops every other device of its tenant from decoding a
// pull (nesting 9,990 levels deep did).
func (s *decodeState) jsonValue(table string, index int, col *column, v jsontext.Value) bool {
	if len(v) > s.d.limits.MaxJSONValueBytes {
		s.problem(table, index, col.name, fmt.Sprintf("larger than %d bytes", s.d.limits.MaxJSONValueBytes))
		return false
	}
	if depth(v) > s.d.limits.MaxJSONDepth {
		s.problem(table, index, col.name, fmt.Sprintf("nested deeper than %d levels", s.d.limits.MaxJSONDepth))
		return false
	}
	// Postgres stores a JSON number in full: the bounds hold for the value
	// as it is stored and read back, not as it was written.
	size, widest := storedSize(v)
	if widest.digits > s.d.limits.MaxJSONNumberDigits {
		s.problem(table, index, col.name+valuePath(v, widest.end),
			fmt.Sprintf("a number with %d digits written out in full (at most %d)", widest.digits, s.d.limits.MaxJSONNumberDigits))
		return false
	}
	if size > s.d.limits.MaxJSONValueBytes {
		s.problem(table, index, col.name,
			fmt.Sprintf("larger than %d bytes as stored (its numbers written out in full: %d bytes)", s.d.limits.MaxJSONValueBytes, size))
		return false
	}
	if bytes.Contains(v, []byte(`\u0000`)) {
		if at, found := nulPath(v); found {
			s.problem(table, index, col.name+at, `contains a NUL character (\u0000)`)
			return false
		}
	}
	return true
}

// depth is the nesting depth of a syntactically valid JSON value: 0 for a
// scalar, 1 for [] or {}, and so on.
func depth(v []byte) int {
	d, deepest := 0, 0
	inString, escaped := false, false
	for _, c := range v {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			d++
			deepest = max(deepest, d)
		case c == '}' || c == ']':
			d--
		}
	}
	return deepest
}

// valuePath is the JSON pointer ("/0", "/a/b") of the scalar of v that ends
// at byte end, "" for v itself.
func valuePath(v []byte, end int) string {
	dec := jsontext.NewDecoder(bytes.NewReader(v))
	for {
		if _, err := dec.ReadToken(); err != nil {
			return ""
		}
		if int(dec.InputOffset()) >= end {
			return string(dec.StackPointer())
		}
	}
}

// nulPath finds the first string (value or member name) of v holding U+0000
// and returns its JSON pointer ("/note"), "" for v itself.
func nulPath(v []byte) (string, bool) {
	dec := jsontext.NewDecoder(bytes.NewReader(v))
	for {
		tok, err := dec.ReadToken()
		if err != nil {
			return "", false
		}
		if tok.Kind() == '"' && strings.IndexByte(tok.String(), 0) >= 0 {
			p := string(dec.StackPointer())
			if p == "" {
				return "", true
			}
			return p, true
		}
	}
}

// unquote returns the text of a JSON string; without escapes it is a view
// of v, else it is unquoted into *buf.
func (s *decodeState) unquote(buf *[]byte, v jsontext.Value) []byte {
	if bytes.IndexByte(v, '\\') < 0 {
		return v[1 : len(v)-1]
	}
	out, err := jsontext.AppendUnquote((*buf)[:0], v)
	if err != nil { // the decoder already validated it
		return v[1 : len(v)-1]
	}
	*buf = out
	return out
}

func (s *decodeState) deletes() error {
	return s.object(s.skipAs("deletes", "", "must be an object of id arrays by table"), func(name string) error {
		rules, known := s.d.deletes[name]
		if !known {
			s.problem("deletes", -1, name, "unknown table, or one whose rows cannot be deleted")
			return s.dec.SkipValue()
		}
		return s.deleteIDs(name, rules)
	})
}

func (s *decodeState) deleteIDs(name string, rules *deleteRules) error {
	return s.array(s.skipAs("deletes", name, "must be an array of ids"), func(i int, k jsontext.Kind) error {
		if err := s.count(); err != nil {
			return err
		}
		v, err := s.dec.ReadValue()
		if err != nil {
			return err
		}
		if s.full() {
			s.truncated = true
			return nil
		}
		field := name + "/" + strconv.Itoa(i)
		switch {
		case k == '"' && rules.plainID:
			id, err := wire.CheckUUID(s.unquote(&s.valueBuf, v))
			if err != nil {
				s.problem("deletes", -1, field, err.Error())
				return nil
			}
			s.dels[rules.table] = append(s.dels[rules.table], push.Delete{Index: i, ID: id})
		case k == '{' && rules.object != nil:
			d, ok, err := s.deleteObject(field, rules, v)
			if err != nil {
				return err
			}
			if ok {
				d.Index = i
				s.dels[rules.table] = append(s.dels[rules.table], d)
			}
		case rules.plainID && rules.object != nil:
			s.problem("deletes", -1, field, "must be a uuid string or an object {id, base_version}")
		case rules.plainID:
			s.problem("deletes", -1, field, "must be a uuid string")
		default:
			s.problem("deletes", -1, field, "must be an object {id, base_version}")
		}
		return nil
	})
}

// deleteObject decodes one `{"id": ..., "base_version": n}` entry of
// deletes (v, a whole object already read); its problems name the entry
// (field: "costbook_items/3") and the member.
func (s *decodeState) deleteObject(field string, rules *deleteRules, v jsontext.Value) (push.Delete, bool, error) {
	before := len(s.problems)
	dec := jsontext.NewDecoder(bytes.NewReader(v))
	if _, err := dec.ReadToken(); err != nil {
		return push.Delete{}, false, err
	}
	seen := map[string]bool{}
	var row push.Row
	for dec.PeekKind() == '"' {
		nameValue, err := dec.ReadValue()
		if err != nil {
			return push.Delete{}, false, err
		}
		name := string(s.unquote(&s.nameBuf, nameValue))
		value, err := dec.ReadValue()
		if err != nil {
			return push.Delete{}, false, err
		}
		col := rules.object[name]
		if col == nil {
			s.problem("deletes", -1, field+"/"+name, "unknown member (an entry carries id and base_version)")
			continue
		}
		seen[name] = true
		at := len(s.problems)
		s.value("deletes", -1, col, value, &row)
		for j := at; j < len(s.problems); j++ {
			s.problems[j].Field = field + "/" + s.problems[j].Field
		}
	}
	for _, c := range rules.required {
		if !seen[c.name] {
			s.problem("deletes", -1, field+"/"+c.name, "required")
		}
	}
	if len(s.problems) > before || s.truncated {
		return push.Delete{}, false, nil
	}
	return push.Delete{ID: row.Key, Base: row.Base, HasBase: row.HasBase}, true, nil
}

// syntax turns a decoding error into the 400 for a body that is not JSON,
// naming the place when jsontext knows it; never jsontext's own words.
func (s *decodeState) syntax(err error) error {
	var se *jsontext.SyntacticError
	if !errors.As(err, &se) {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return &Invalid{Message: "the body is not valid JSON",
				Problems: []Problem{{Index: -1, Reason: "malformed JSON: the body ends early"}}}
		}
		return err
	}
	p := Problem{Index: -1, Reason: fmt.Sprintf("malformed JSON at byte %d", se.ByteOffset)}
	switch {
	case se.Err == jsontext.ErrDuplicateName:
		p = locate(se.JSONPointer)
		p.Reason = "given twice in one object"
		return &Invalid{Message: "the request does not match the contract", Problems: []Problem{p}}
	case se.Err != nil && strings.Contains(se.Err.Error(), "UTF-8"):
		p = locate(se.JSONPointer)
		p.Reason = "invalid UTF-8 text"
		return &Invalid{Message: "the request does not match the contract", Problems: []Problem{p}}
	}
	return &Invalid{Message: "the body is not valid JSON", Problems: []Problem{p}}
}

// locate maps a JSON pointer into a push body to table, row index and field.
func locate(ptr jsontext.Pointer) Problem {
	p := Problem{Index: -1}
	var tokens []string
	for t := range ptr.Tokens() {
		tokens = append(tokens, t)
	}
	if len(tokens) > 0 {
		p.Table = tokens[0]
	}
	if len(tokens) > 1 {
		if n, err := strconv.Atoi(tokens[1]); err == nil && p.Table != "deletes" {
			p.Index = n
			p.Field = strings.Join(tokens[2:], "/")
		} else {
			p.Field = strings.Join(tokens[1:], "/")
		}
	}
	return p
}
