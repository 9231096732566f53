package wire

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// DateLayout is the wire form of a calendar day.
const DateLayout = "2006-01-02"

// Date is a calendar day without a time zone ("2025-01-15").
type Date struct {
	time.Time
}

// String formats d as a day.
func (d Date) String() string { return d.Format(DateLayout) }

// MarshalJSON implements json.Marshaler. A formatted day is digits and
// dashes (a year past 9999 or before 0 included): nothing to escape.
func (d Date) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, len(DateLayout)+4)
	b = append(b, '"')
	b = d.AppendFormat(b, DateLayout)
	return append(b, '"'), nil
}

// UnmarshalJSON accepts a "YYYY-MM-DD" string.
func (d *Date) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("date: want a string like \"2025-01-15\": %w", err)
	}
	parsed, err := time.Parse(DateLayout, s)
	if err != nil {
		return fmt.Errorf("date: %w", err)
	}
	d.Time = parsed
	return nil
}

// ScanDate lets pgx scan date columns.
func (d *Date) ScanDate(v pgtype.Date) error {
	if !v.Valid {
		return fmt.Errorf("date: cannot scan NULL (use *Date)")
	}
	if v.InfinityModifier != pgtype.Finite {
		return fmt.Errorf("date: cannot represent an infinite date")
	}
	d.Time = v.Time
	return nil
}

// DateValue lets pgx encode a Date.
func (d Date) DateValue() (pgtype.Date, error) {
	return pgtype.Date{Time: d.Time, Valid: true}, nil
}
