// Package wire holds the value types whose JSON form is part of the sync
// contract: timestamps always with milliseconds and Z, decimals as strings,
// dates as days. Both the generated API types (oapi-codegen x-go-type) and the
// generated database rows (sqlc overrides) use them, so a value read from
// Postgres is already in its wire form.
package wire

import (
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// TimestampLayout is the contract's timestamp form: RFC 3339, UTC, milliseconds.
const TimestampLayout = "2006-01-02T15:04:05.000Z"

// Timestamp is a point in time that always marshals as TimestampLayout.
// Go's time.Time drops the fraction when it is zero, which broke clients that
// expected a fixed format.
type Timestamp struct {
	time.Time
}

// NewTimestamp wraps t.
func NewTimestamp(t time.Time) Timestamp { return Timestamp{Time: t} }

// String formats t in the wire form.
func (t Timestamp) String() string { return t.UTC().Format(TimestampLayout) }

// MarshalJSON implements json.Marshaler.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, len(TimestampLayout)+2)
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, TimestampLayout)
	return append(b, '"'), nil
}

// UnmarshalJSON accepts RFC 3339 with or without fractional seconds.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return fmt.Errorf("timestamp: want an RFC 3339 string, got %s", b)
	}
	parsed, err := time.Parse(time.RFC3339Nano, string(b[1:len(b)-1]))
	if err != nil {
		return fmt.Errorf("timestamp: %w", err)
	}
	t.Time = parsed
	return nil
}

// ScanTimestamptz lets pgx scan timestamptz columns straight into a Timestamp.
func (t *Timestamp) ScanTimestamptz(v pgtype.Timestamptz) error {
	if !v.Valid {
		return fmt.Errorf("timestamp: cannot scan NULL (use *Timestamp)")
	}
	if v.InfinityModifier != pgtype.Finite {
		return fmt.Errorf("timestamp: cannot scan an infinite timestamp")
	}
	t.Time = v.Time
	return nil
}

// TimestamptzValue lets pgx encode a Timestamp as timestamptz.
func (t Timestamp) TimestamptzValue() (pgtype.Timestamptz, error) {
	return pgtype.Timestamptz{Time: t.Time, Valid: true}, nil
}
