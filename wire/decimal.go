package wire

import (
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5/pgtype"
)

// Decimal is an exact decimal number carried as its text form ("1234.50").
// Money must never pass through a float: clients decode it from a JSON string.
type Decimal string

// MarshalJSON implements json.Marshaler: always a JSON string. A number's
// text (digits, sign, point, exponent) needs no escaping and is quoted as it
// is; anything else goes through encoding/json. Every pulled row carries
// its decimals through here, and the detour cost two allocations each.
func (d Decimal) MarshalJSON() ([]byte, error) {
	for i := 0; i < len(d); i++ {
		switch c := d[i]; {
		case c >= '0' && c <= '9', c == '.', c == '-', c == '+', c == 'e', c == 'E':
		default:
			return json.Marshal(string(d))
		}
	}
	b := make([]byte, 0, len(d)+2)
	b = append(b, '"')
	b = append(b, d...)
	return append(b, '"'), nil
}

// UnmarshalJSON accepts only a JSON string; the spec's pattern validates its digits.
func (d *Decimal) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("decimal: want a string like \"12.50\": %w", err)
	}
	*d = Decimal(s)
	return nil
}

// ScanNumeric lets pgx scan numeric columns without a float round trip.
func (d *Decimal) ScanNumeric(v pgtype.Numeric) error {
	if !v.Valid {
		return fmt.Errorf("decimal: cannot scan NULL (use *Decimal)")
	}
	if v.NaN || v.InfinityModifier != pgtype.Finite {
		return fmt.Errorf("decimal: cannot represent NaN or infinity")
	}
	text, err := v.Value()
	if err != nil {
		return fmt.Errorf("decimal: %w", err)
	}
	s, ok := text.(string)
	if !ok {
		return fmt.Errorf("decimal: unexpected numeric value %T", text)
	}
	*d = Decimal(s)
	return nil
}

// NumericValue lets pgx encode a Decimal as numeric.
func (d Decimal) NumericValue() (pgtype.Numeric, error) {
	var n pgtype.Numeric
	if err := n.Scan(string(d)); err != nil {
		return n, fmt.Errorf("decimal %q: %w", string(d), err)
	}
	return n, nil
}
