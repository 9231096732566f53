package pushbody

import "testing"

// The expected texts are what PostgreSQL 15 writes for '<n>'::jsonb (checked
// with psql on a 15.x cluster): storedNumber must agree on their length and digits.
func TestStoredNumber_AsPostgresWritesIt(t *testing.T) {
	for _, tc := range []struct {
		in, stored string
	}{
		{"0", "0"},
		{"-0.0", "0.0"}, // Postgres drops the sign of zero; the bound may count it
		{"12.50", "12.50"},
		{"1.50e1", "15.0"},
		{"100e-2", "1.00"},
		{"0.001", "0.001"},
		{"1e-2", "0.01"},
		{"1E+3", "1000"},
		{"-12345678901234567890.5", "-12345678901234567890.5"},
		{"1.7976931348623157e308", "1" + repeat('0', 0) + "7976931348623157" + repeat('0', 292)},
	} {
		length, digits := storedNumber([]byte(tc.in))
		wantDigits := 0
		for _, c := range tc.stored {
			if c >= '0' && c <= '9' {
				wantDigits++
			}
		}
		if digits != wantDigits || (length != len(tc.stored) && tc.in != "-0.0") {
			t.Errorf("%s: length %d digits %d, Postgres writes %q (%d bytes, %d digits)", tc.in, length, digits, tc.stored, len(tc.stored), wantDigits)
		}
	}
	for in, want := range map[string]int{"1e131071": 131072, "5e-324": 325, "2.2250738585072014e-308": 325, "1e99999999999999999999": 1<<30 + 1} {
		if _, digits := storedNumber([]byte(in)); digits != want {
			t.Errorf("%s: %d digits, want %d", in, digits, want)
		}
	}
}

func repeat(c byte, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = c
	}
	return string(b)
}

func TestStoredSize_WritesNumbersOutInFull(t *testing.T) {
	size, widest := storedSize([]byte(`{"a":[1e3,"1e999",-2.5e-1],"b":"x\"1e9"}`))
	// 1e3 -> 1000 (+1), "1e999" is a string, -2.5e-1 -> -0.25 (-2)
	if want := len(`{"a":[1e3,"1e999",-2.5e-1],"b":"x\"1e9"}`) + 1 - 2; size != want || widest.digits != 4 {
		t.Fatalf("size %d widest %+v, want %d and 4 digits", size, widest, want)
	}
}
