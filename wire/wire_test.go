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
