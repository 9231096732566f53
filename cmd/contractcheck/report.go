package main

import (
	"fmt"
	"io"
	"time"
)

// report prints one check's output: what it compares, then one indented line
// per problem, then the verdict line last, where a CI log's reader looks.
type report struct {
	name     string
	out      io.Writer
	start    time.Time
	problems []string
}

func newReport(name string, out io.Writer) *report {
	return &report{name: name, out: out, start: time.Now()}
}

// comparing says what the check is about to compare.
func (r *report) comparing(format string, args ...any) {
	fmt.Fprintf(r.out, "check %s: %s\n", r.name, fmt.Sprintf(format, args...))
}

// note prints an informational line that does not fail the check.
func (r *report) note(format string, args ...any) {
	fmt.Fprintf(r.out, "  note: %s\n", fmt.Sprintf(format, args...))
}

// problem records one drift; it should name the file, table, column or query.
func (r *report) problem(format string, args ...any) {
	r.problems = append(r.problems, fmt.Sprintf(format, args...))
}

func (r *report) failed() bool { return len(r.problems) > 0 }

func (r *report) elapsed() string { return elapsedSince(r.start) }

// verdict prints the problems and the verdict line. what describes the problems ("3 files differ"), fix what to do.
func (r *report) verdict(okSummary, what, fix string) error {
	if !r.failed() {
		fmt.Fprintf(r.out, "check %s: OK (%s) [%s]\n", r.name, okSummary, r.elapsed())
		return nil
	}
	for _, p := range r.problems {
		fmt.Fprintf(r.out, "  - %s\n", p)
	}
	fmt.Fprintf(r.out, "check %s: FAIL: %s → %s [%s]\n", r.name, what, fix, r.elapsed())
	return errDrift
}

// plural formats n with a noun: plural(1, "file", "files") is "1 file".
func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
