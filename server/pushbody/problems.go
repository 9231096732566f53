package pushbody

import (
	"fmt"
	"strings"
)

// Problem is one place in a push body that breaks the contract.
type Problem struct {
	Table  string // the push property (a table, an alias or "deletes"); "" for the body
	Index  int    // row index; -1 when not about one row
	Field  string // column, or a path inside a JSON column ("payload/note"); "" for the row
	Reason string // for the client: what is wrong, never Go or database text
}

// Invalid is a push body that does not match the contract: a 400 the client
// must fix. Problems holds at most Limits.MaxProblems entries.
type Invalid struct {
	Message   string
	Problems  []Problem
	Truncated bool // validation stopped at the limit; more problems may exist
}

func (e *Invalid) Error() string {
	var b strings.Builder
	b.WriteString("push body: ")
	b.WriteString(e.Message)
	for i, p := range e.Problems {
		if i == 3 {
			fmt.Fprintf(&b, " (and %d more)", len(e.Problems)-i)
			break
		}
		fmt.Fprintf(&b, "; %s[%d].%s: %s", p.Table, p.Index, p.Field, p.Reason)
	}
	return b.String()
}

// TooManyRows is a push with more rows (and ids to delete) than the limit:
// found by counting, before the rows past the limit were looked at.
type TooManyRows struct {
	Limit int
}

func (e *TooManyRows) Error() string {
	return fmt.Sprintf("a push may carry at most %d rows and ids to delete; this one has more", e.Limit)
}
