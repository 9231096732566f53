package wire

import (
	"errors"
	"time"

	"github.com/google/uuid"
)

// The string formats the contract relies on, as the server checks them on
// input. Each check accepts exactly what Postgres can store and what the
// server can give back in a form it accepts again: a value that passed here
// and then failed in the database was a 400 that named no field, and a value
// Postgres stored but the server could not read back (year 0, an offset
// Postgres cannot parse) left a device stuck re-pushing a never-retry 400.

// CheckUUID accepts the 8-4-4-4-12 hex form of any uuid version (kin-openapi's
// bundled check rejected UUIDv7).
func CheckUUID(s []byte) (uuid.UUID, error) {
	if len(s) != 36 {
		return uuid.UUID{}, errNotUUID
	}
	id, err := uuid.ParseBytes(s)
	if err != nil {
		return uuid.UUID{}, errNotUUID
	}
	return id, nil
}

var errNotUUID = errors.New("not a uuid (want 8-4-4-4-12 hex digits)")

// CheckDate accepts a calendar day YYYY-MM-DD in years 0001 to 9999 (Go
// parses year 0000, Postgres has no year 0).
func CheckDate(s []byte) error {
	t, err := time.Parse(DateLayout, string(s))
	if err != nil || t.Year() < 1 {
		return errors.New("not a calendar date (want YYYY-MM-DD, years 0001 to 9999)")
	}
	return nil
}

// maxOffset is the widest UTC offset the contract accepts (±18:00, as
// RFC 3339 and java.time allow); pgOffset is the widest Postgres parses.
const (
	maxOffset = 18 * 60 * 60
	pgOffset  = 16*60*60 - 1
)

// CheckDateTime accepts an RFC 3339 date-time whose UTC instant lies in years
// 0001 to 9999 and whose offset is within ±18:00. It returns the instant and
// whether the text must be rewritten before Postgres reads it: Postgres
// rejects offsets of 16:00 and more, and rounds more than six fractional
// digits (9999-12-31T23:59:59.9999999Z would round into year 10000).
func CheckDateTime(s []byte) (t time.Time, rewrite bool, err error) {
	t, err = time.Parse(time.RFC3339Nano, string(s))
	if err != nil {
		return time.Time{}, false, errors.New("not an RFC 3339 date-time (want 2025-01-15T12:00:00.000Z)")
	}
	_, offset := t.Zone()
	if offset > maxOffset || offset < -maxOffset {
		return time.Time{}, false, errors.New("UTC offset beyond ±18:00")
	}
	if y := t.UTC().Year(); y < 1 || y > 9999 {
		return time.Time{}, false, errors.New("outside years 0001 to 9999 in UTC")
	}
	return t, offset > pgOffset || offset < -pgOffset || t.Nanosecond()%1000 != 0, nil
}

// PostgresDateTime is the form CheckDateTime asks for when it says rewrite:
// UTC, microseconds (truncated, never rounded up).
func PostgresDateTime(t time.Time) string {
	return t.UTC().Truncate(time.Microsecond).Format("2006-01-02T15:04:05.999999Z07:00")
}
