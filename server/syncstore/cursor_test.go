package syncstore

import (
	"encoding/base64"
	"reflect"
	"testing"

	"github.com/google/uuid"
)

func setOf(ordinals ...int) tableSet {
	var s tableSet
	for _, i := range ordinals {
		s.add(i)
	}
	return s
}

func TestCursor_RoundTrip(t *testing.T) {
	for name, c := range map[string]cursor{
		"resting": {Base: 7, Tables: setOf(0, 2)},
		"paging": {Base: 7, Tables: setOf(0, 2, 5), Paging: true, Horizon: 9, At: 1736942400000000,
			Walk: setOf(2, 5), Full: setOf(5), Table: 2, Seq: 8, ID: uuid.New()},
		"since":            {Base: -1, Tables: setOf(1), Paging: true, Horizon: 3, At: 1736942400000000, Walk: setOf(1), Table: 1, Seq: -1, Since: 1736942400000000},
		"beyond 64 tables": {Base: 1, Tables: setOf(0, 63, 64, 200)},
	} {
		got, err := decodeCursor(c.encode())
		if err != nil || !reflect.DeepEqual(got, c) {
			t.Errorf("%s: decode(encode(c)) = %+v, %v; want %+v", name, got, err, c)
		}
	}
}

// A device upgraded across the registry keeps its version 1 cursor: the
// 16-bit mask names the same ordinals.
func TestCursor_ReadsVersion1(t *testing.T) {
	id := uuid.MustParse("7b0c1f2e-3d4c-4b5a-9c8d-7e6f5a4b3c2d")
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	got, err := decodeCursor(enc(`{"v":1,"b":12,"m":511}`))
	if err != nil || got.Base != 12 || got.Paging || !got.Tables.equal(setOf(0, 1, 2, 3, 4, 5, 6, 7, 8)) {
		t.Fatalf("resting v1 = %+v, %v", got, err)
	}
	got, err = decodeCursor(enc(`{"v":1,"b":-1,"m":5,"p":true,"h":9,"t":1736942400000000,"i":2,"s":8,"k":"` + id.String() + `","f":true}`))
	want := cursor{Base: -1, Tables: setOf(0, 2), Walk: setOf(0, 2), Full: setOf(0, 2), Paging: true, Horizon: 9,
		At: 1736942400000000, Table: 2, Seq: 8, ID: id}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("paging v1 = %+v, %v; want %+v", got, err, want)
	}
}

func TestCursor_RejectsForeignOrCorrupt(t *testing.T) {
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for name, in := range map[string]string{
		"not base64":         "%%%",
		"not json":           enc("hello"),
		"unknown version":    enc(`{"v":3,"b":1,"ts":"01"}`),
		"no tables":          enc(`{"v":2,"b":1}`),
		"table set not hex":  enc(`{"v":2,"b":1,"ts":"zz"}`),
		"table out of range": enc(`{"v":2,"b":1,"ts":"01","i":99}`),
		"horizon below base": enc(`{"v":2,"b":5,"ts":"01","p":true,"h":3}`),
		"base below -1":      enc(`{"v":2,"b":-5,"ts":"01"}`),
		// Shapes no walk produces (contract 1.2: a 400, never a page).
		"resting from before everything": enc(`{"v":2,"b":-1,"ts":"01"}`),
		"resting with a walk":            enc(`{"v":2,"b":1,"ts":"01","ws":"01"}`),
		"delta from -1 without since":    enc(`{"v":2,"b":-1,"ts":"01","p":true,"h":3,"t":1,"ws":"01","s":-1}`),
		"since on a delta":               enc(`{"v":2,"b":1,"ts":"01","p":true,"h":3,"t":1,"ws":"01","s":1,"z":5}`),
		"time before year 1":             enc(`{"v":2,"b":1,"ts":"01","p":true,"h":3,"t":-62200000000000000,"ws":"01","s":1}`),
		"walk beyond its tables":         enc(`{"v":2,"b":1,"ts":"01","p":true,"h":3,"t":1,"ws":"03","s":1}`),
		"full beyond its tables":         enc(`{"v":2,"b":1,"ts":"01","p":true,"h":3,"t":1,"ws":"01","fs":"02","s":1}`),
		"position past the horizon":      enc(`{"v":2,"b":1,"ts":"01","p":true,"h":3,"t":1,"ws":"01","s":4}`),
		"position behind the base":       enc(`{"v":2,"b":2,"ts":"01","p":true,"h":3,"t":1,"ws":"01","s":1}`),
	} {
		if _, err := decodeCursor(in); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
