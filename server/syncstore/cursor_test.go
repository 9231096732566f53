package syncstore

import (
	"encoding/base64"
	"testing"

	"github.com/google/uuid"
)

func TestCursor_RoundTrip(t *testing.T) {
	c := cursor{Base: 7, Tables: 0b101, Paging: true, Horizon: 9, At: 1736942400000000, Table: 2, Seq: 8, ID: uuid.New(), Full: true}
	got, err := decodeCursor(c.encode())
	c.Version = cursorVersion
	if err != nil || got != c {
		t.Fatalf("decode(encode(c)) = %+v, %v; want %+v", got, err, c)
	}
}

func TestCursor_RejectsForeignOrCorrupt(t *testing.T) {
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for name, in := range map[string]string{
		"not base64":         "%%%",
		"not json":           enc("hello"),
		"wrong version":      enc(`{"v":2,"b":1}`),
		"table out of range": enc(`{"v":1,"b":1,"i":99}`),
		"horizon below base": enc(`{"v":1,"b":5,"p":true,"h":3}`),
		"base below -1":      enc(`{"v":1,"b":-5}`),
	} {
		if _, err := decodeCursor(in); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
