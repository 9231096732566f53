package testenv

import (
	"encoding/json"
	"fmt"
	"math/big"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/google/uuid"

	"github.com/syncproxy/syncproxy/gen/api"
	"github.com/syncproxy/syncproxy/internal/contract"
)

// SampleRows makes valid rows of any synced table from its write schema in
// the spec, so a test that iterates the registry covers a table added later
// without a fixture written for it. Each column gets a value of its type and
// format (an `example` in the spec wins), different per variant.
type SampleRows struct {
	tables map[string]contract.Table
}

var (
	samplesOnce sync.Once
	samples     *SampleRows
	samplesErr  error
)

// Samples reads the spec embedded in this build once.
func Samples() (*SampleRows, error) {
	samplesOnce.Do(func() {
		doc, err := api.GetSwagger()
		if err != nil {
			samplesErr = err
			return
		}
		tables, err := contract.FromDoc(doc).Tables()
		if err != nil {
			samplesErr = err
			return
		}
		samples = &SampleRows{tables: map[string]contract.Table{}}
		for _, t := range tables {
			samples.tables[t.Name] = t
		}
	})
	return samples, samplesErr
}

// serverOwned are accepted on a push and ignored: a sample never sets them.
var serverOwned = map[string]bool{"contractor_id": true, "created_at": true, "updated_at": true}

// Row is a row with every client column of table set; id is its key (ignored
// for tables keyed by the contractor).
func (s *SampleRows) Row(table string, id uuid.UUID, variant int) (map[string]any, error) {
	return s.row(table, id, variant, false)
}

// Required is a row with only the key and the required columns.
func (s *SampleRows) Required(table string, id uuid.UUID, variant int) (map[string]any, error) {
	return s.row(table, id, variant, true)
}

func (s *SampleRows) row(table string, id uuid.UUID, variant int, requiredOnly bool) (map[string]any, error) {
	t, ok := s.tables[table]
	if !ok {
		return nil, fmt.Errorf("samples: no table %q in the spec", table)
	}
	schema := t.Write.Schema
	required := map[string]bool{}
	for _, r := range schema.Required {
		required[r] = true
	}
	row := map[string]any{}
	for name, ref := range schema.Properties {
		switch {
		case serverOwned[name] || isBookkeeping(name):
			continue
		case name == "id":
			if t.Key == contract.Regular {
				row["id"] = id.String()
			}
			continue
		case requiredOnly && !required[name]:
			continue
		}
		v, err := sampleValue(name, ref.Value, variant)
		if err != nil {
			return nil, fmt.Errorf("samples: %s.%s: %w", t.Write.Name, name, err)
		}
		row[name] = v
	}
	return row, nil
}

// Nullable names the client columns of table a push may set to null (not
// the key, not required, not server-owned), sorted: the columns an explicit
// null clears (contract 1.1).
func (s *SampleRows) Nullable(table string) ([]string, error) {
	t, ok := s.tables[table]
	if !ok {
		return nil, fmt.Errorf("samples: no table %q in the spec", table)
	}
	required := map[string]bool{}
	for _, r := range t.Write.Schema.Required {
		required[r] = true
	}
	var cols []string
	for name, ref := range t.Write.Schema.Properties {
		if ref.Value != nil && ref.Value.Nullable && !required[name] && !serverOwned[name] && !isBookkeeping(name) && name != "id" {
			cols = append(cols, name)
		}
	}
	sort.Strings(cols)
	return cols, nil
}

// FreeText names the client columns of table that take any string of up to
// n characters (no format, enum or pattern, no smaller maxLength), sorted: a
// value only the database refuses fits them and passes the contract's checks.
func (s *SampleRows) FreeText(table string, n int) ([]string, error) {
	t, ok := s.tables[table]
	if !ok {
		return nil, fmt.Errorf("samples: no table %q in the spec", table)
	}
	var cols []string
	for name, ref := range t.Write.Schema.Properties {
		v := ref.Value
		if serverOwned[name] || isBookkeeping(name) || name == "id" || v == nil {
			continue
		}
		if v.Type.Is("string") && v.Format == "" && len(v.Enum) == 0 && v.Pattern == "" &&
			(v.MaxLength == nil || *v.MaxLength >= uint64(n)) && v.MinLength <= uint64(n) {
			cols = append(cols, name)
		}
	}
	sort.Strings(cols)
	return cols, nil
}

// isBookkeeping names write properties that are not columns (row versions).
func isBookkeeping(name string) bool { return name == "base_version" || name == "sync_version" }

func sampleValue(name string, s *openapi3.Schema, variant int) (any, error) {
	if s.Example != nil {
		return s.Example, nil
	}
	for _, alt := range s.AnyOf { // a decimal also accepted as a number: send the string
		if alt.Value != nil && alt.Value.Type.Is("string") {
			return sampleValue(name, alt.Value, variant)
		}
	}
	switch {
	case s.Type.Is("string"):
		if len(s.Enum) > 0 {
			return s.Enum[variant%len(s.Enum)], nil
		}
		switch s.Format {
		case "uuid":
			return uuid.NewSHA1(uuid.NameSpaceOID, []byte(fmt.Sprintf("%s-%d", name, variant))).String(), nil
		case "date":
			return fmt.Sprintf("2025-01-%02d", 1+variant%28), nil
		case "date-time":
			return fmt.Sprintf("2025-01-15T12:%02d:00.123Z", variant%60), nil
		case "decimal":
			return fmt.Sprintf("%d.50", 10+variant), nil
		}
		if s.Pattern != "" {
			return nil, fmt.Errorf("pattern %q: give the property an example in the spec", s.Pattern)
		}
		v := fmt.Sprintf("%s v%d", name, variant)
		if s.MaxLength != nil && uint64(len(v)) > *s.MaxLength {
			v = v[:*s.MaxLength]
		}
		return v, nil
	case s.Type.Is("integer"):
		n := int64(variant + 1)
		if s.Max != nil && float64(n) > *s.Max {
			n = int64(*s.Max)
		}
		return n, nil
	case s.Type.Is("boolean"):
		return variant%2 == 0, nil
	case s.Type.Is("object"):
		return map[string]any{"note": fmt.Sprintf("v%d", variant), "n": variant}, nil
	case s.Type.Is("array"):
		return []any{map[string]any{"n": variant}, "x"}, nil
	case s.Type == nil || len(s.Type.Slice()) == 0:
		return map[string]any{"any": []any{variant, nil}}, nil
	}
	return nil, fmt.Errorf("no sample for type %v", s.Type)
}

// SameValue says whether a pulled value is what was pushed, in the wire form
// the server normalises to: timestamps as instants, decimals and JSON numbers
// by their exact value, JSON values regardless of key order and spacing.
func SameValue(pushed any, pulled json.RawMessage) bool {
	want, err := json.Marshal(pushed)
	if err != nil {
		return false
	}
	if s, ok := pushed.(string); ok {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			var got string
			if json.Unmarshal(pulled, &got) != nil {
				return false
			}
			g, err := time.Parse(time.RFC3339Nano, got)
			return err == nil && g.Equal(t.Truncate(time.Millisecond))
		}
	}
	return JSONEqual(want, pulled)
}

// JSONEqual says whether two JSON documents hold the same value: objects
// regardless of key order and spacing, numbers by their exact value (1.10,
// 1.1 and 11e-1 are equal; 12345678901234567890 is not 1.2345678901234568e19).
func JSONEqual(a, b []byte) bool {
	va, errA := exactJSON(a)
	vb, errB := exactJSON(b)
	return errA == nil && errB == nil && reflect.DeepEqual(va, vb)
}

func exactJSON(b []byte) (any, error) {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return exactNumbers(v), nil
}

// exactNumbers replaces every JSON number by its exact rational value.
func exactNumbers(v any) any {
	switch v := v.(type) {
	case json.Number:
		r, ok := new(big.Rat).SetString(string(v))
		if !ok {
			return "bad number " + string(v)
		}
		return r.RatString()
	case []any:
		for i := range v {
			v[i] = exactNumbers(v[i])
		}
	case map[string]any:
		for k := range v {
			v[k] = exactNumbers(v[k])
		}
	}
	return v
}
