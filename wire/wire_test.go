package wire

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

func TestTimestamp_AlwaysMillisecondsAndZ(t *testing.T) {
	cases := []struct {
		in   time.Time
		want string
	}{
		{time.Date(2025, 1, 15, 12, 0, 0, 0, time.UTC), `"2025-01-15T12:00:00.000Z"`},
		{time.Date(2025, 1, 15, 12, 0, 0, 123456789, time.UTC), `"2025-01-15T12:00:00.123Z"`},
		{time.Date(2025, 1, 15, 13, 0, 0, 0, time.FixedZone("CET", 3600)), `"2025-01-15T12:00:00.000Z"`},
	}
	for _, c := range cases {
		got, err := json.Marshal(NewTimestamp(c.in))
		if err != nil || string(got) != c.want {
			t.Errorf("Marshal(%v) = %s, %v; want %s", c.in, got, err, c.want)
		}
	}
}

func TestTimestamp_ParsesWithAndWithoutFraction(t *testing.T) {
	for _, in := range []string{`"2025-01-15T12:00:00Z"`, `"2025-01-15T12:00:00.5Z"`, `"2025-01-15T13:00:00.000+01:00"`} {
		var ts Timestamp
		if err := json.Unmarshal([]byte(in), &ts); err != nil {
			t.Fatalf("Unmarshal(%s): %v", in, err)
		}
		if ts.UTC().Truncate(time.Second) != time.Date(2025, 1, 15, 12, 0, 0, 0, time.UTC) {
			t.Errorf("Unmarshal(%s) = %v", in, ts)
		}
	}
	var ts Timestamp
	if err := json.Unmarshal([]byte(`"15/01/2025"`), &ts); err == nil {
		t.Error("a non-RFC 3339 string was accepted")
	}
}

func TestDecimal_IsAStringBothWays(t *testing.T) {
	got, err := json.Marshal(Decimal("1234.50"))
	if err != nil || string(got) != `"1234.50"` {
		t.Fatalf("Marshal = %s, %v", got, err)
	}
	var d Decimal
	if err := json.Unmarshal([]byte(`1234.5`), &d); err == nil {
		t.Error("a JSON number was accepted as a decimal")
	}
}

func TestDecimal_ScanKeepsScale(t *testing.T) {
	var n pgtype.Numeric
	if err := n.Scan("1234.50"); err != nil {
		t.Fatal(err)
	}
	var d Decimal
	if err := d.ScanNumeric(n); err != nil || d != "1234.50" {
		t.Fatalf("ScanNumeric = %q, %v; want 1234.50", d, err)
	}
	back, err := d.NumericValue()
	if err != nil || back.Int.String() != "123450" || back.Exp != -2 {
		t.Fatalf("NumericValue = %+v, %v", back, err)
	}
}

func TestDate_DayForm(t *testing.T) {
	var d Date
	if err := json.Unmarshal([]byte(`"2025-02-28"`), &d); err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(d)
	if string(got) != `"2025-02-28"` {
		t.Fatalf("round trip = %s", got)
	}
	if err := json.Unmarshal([]byte(`"2025-02-30"`), &d); err == nil {
		t.Error("an impossible date was accepted")
	}
}

// TestMarshal_QuotesAsEncodingJSONDoes: Decimal and Date write their JSON
// without encoding/json's detour, and must write what it writes, escaping
// included, for every value (a Decimal from Postgres is a number's text, one
// that never went through Postgres may be anything).
func TestMarshal_QuotesAsEncodingJSONDoes(t *testing.T) {
	for _, d := range []Decimal{"0", "1234.50", "-0.001", "1e-7", "+3", "", "NaN", `12"5`, `1\2`, "<b>&", "1\n2", "ümlaut", "\x7f"} {
		got, err := json.Marshal(d)
		want, _ := json.Marshal(string(d))
		if err != nil || string(got) != string(want) {
			t.Errorf("Decimal %q: %s (%v), want %s", string(d), got, err, want)
		}
	}
	for _, day := range []time.Time{time.Date(2025, 1, 15, 0, 0, 0, 0, time.UTC), time.Date(10000, 12, 31, 0, 0, 0, 0, time.UTC),
		time.Date(-5, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(1, 1, 1, 23, 59, 0, 0, time.FixedZone("x", 3600))} {
		got, err := json.Marshal(Date{day})
		want, _ := json.Marshal(day.Format(DateLayout))
		if err != nil || string(got) != string(want) {
			t.Errorf("Date %v: %s (%v), want %s", day, got, err, want)
		}
	}
}
