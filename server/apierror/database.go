package apierror

import (
	"github.com/jackc/pgx/v5/pgconn"
)

// databaseReasons are the client's words for the data and integrity errors
// Postgres raises on a value a request carried. Its own message quotes the
// value and names types and encodings ("value overflows numeric format",
// `invalid byte sequence for encoding "UTF8": 0xff`); it goes to the log only.
var databaseReasons = map[string]string{
	"22001": "text too long to be stored",
	"22003": "number out of the range that can be stored",
	"22007": "date or time in a form that cannot be stored",
	"22008": "date or time out of the range that can be stored",
	"22009": "time zone offset out of range",
	"22021": "text is not valid UTF-8",
	"22P02": "value in a form that cannot be stored",
	"22P05": "text contains a character that cannot be stored (such as \\u0000)",
	"23502": "a required value is missing",
	"23503": "refers to a row that does not exist",
	"23505": "conflicts with another row with the same key",
	"23514": "violates a constraint",
}

// rejectedByDatabase is the 400 for a value Postgres refused (SQLSTATE class
// 22 or 23). It names what Postgres names as identifiers (table, column,
// constraint), never its message. Values are validated before they reach the
// database; this answers whatever still slips through.
func rejectedByDatabase(pgErr *pgconn.PgError, err error) *Error {
	reason, ok := databaseReasons[pgErr.Code]
	if !ok {
		reason = "value cannot be stored"
		if pgErr.Code[:2] == "23" {
			reason = "violates a constraint"
		}
	}
	if pgErr.ConstraintName != "" {
		reason += " (" + pgErr.ConstraintName + ")"
	}
	e := BadRequest("a value cannot be stored: " + reason)
	if pgErr.TableName != "" || pgErr.ColumnName != "" {
		e.Details = append(e.Details, Detail(pgErr.TableName, -1, pgErr.ColumnName, reason))
	}
	e.Err = err
	return e
}
