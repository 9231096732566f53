package pushbody

// Numbers in JSON columns, as Postgres stores them. jsonb keeps a number as
// numeric, exactly, and writes it out in full, without an exponent:
// `1e131071` (8 bytes) is stored and read back as a 1 followed by 131,071
// zeros, and `1e-5` as 0.00001. So a value's size as pushed says little
// about what every later pull, 409 and digest of the row costs; its size as
// stored does.

// number is one JSON number of a value: its digits as stored and where its
// text ends in the value.
type number struct {
	digits int
	end    int
}

// storedSize returns the size of the syntactically valid JSON value v with
// every number written out as Postgres writes it, and its widest number.
func storedSize(v []byte) (size int, widest number) {
	size = len(v)
	inString, escaped := false, false
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '-' || (c >= '0' && c <= '9'):
			end := i + 1
			for end < len(v) && isNumberByte(v[end]) {
				end++
			}
			length, digits := storedNumber(v[i:end])
			size += length - (end - i)
			if digits > widest.digits {
				widest = number{digits: digits, end: end}
			}
			i = end - 1
		}
	}
	return size, widest
}

func isNumberByte(c byte) bool {
	return c >= '0' && c <= '9' || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-'
}

// maxExponent saturates an exponent: far beyond any bound, and no overflow.
const maxExponent = 1 << 30

// storedNumber returns how Postgres writes the JSON number n out: its length
// in bytes and its digits. numeric keeps the fraction digits the text
// implies (dscale: the mantissa's fraction digits minus the exponent, at
// least 0, so 1.50e1 is 15.0 and 1e-2 is 0.01) and the integer digits of the
// value (at least one, so 0.5 is 0.5).
func storedNumber(n []byte) (length, digits int) {
	sign := 0
	if len(n) > 0 && n[0] == '-' {
		sign, n = 1, n[1:]
	}
	i := 0
	for i < len(n) && n[i] >= '0' && n[i] <= '9' {
		i++
	}
	intDigits := n[:i]
	var frac []byte
	if i < len(n) && n[i] == '.' {
		j := i + 1
		for j < len(n) && n[j] >= '0' && n[j] <= '9' {
			j++
		}
		frac, i = n[i+1:j], j
	}
	exp := 0
	if i < len(n) && (n[i] == 'e' || n[i] == 'E') {
		i++
		negative := false
		if i < len(n) && (n[i] == '+' || n[i] == '-') {
			negative = n[i] == '-'
			i++
		}
		for ; i < len(n); i++ {
			exp = min(exp*10+int(n[i]-'0'), maxExponent)
		}
		if negative {
			exp = -exp
		}
	}
	scale := max(0, len(frac)-exp)
	digits = scale + 1 // a zero is written 0 (0.00 with its scale)
	if zeros := leadingZeros(intDigits, frac); zeros < len(intDigits)+len(frac) {
		digits = scale + max(1, len(intDigits)+exp-zeros) // leading zeros are not stored
	}
	length = sign + digits
	if scale > 0 {
		length++ // the point
	}
	return length, digits
}

// leadingZeros counts the zeros that start the mantissa's digits.
func leadingZeros(parts ...[]byte) int {
	n := 0
	for _, p := range parts {
		for _, c := range p {
			if c != '0' {
				return n
			}
			n++
		}
	}
	return n
}
