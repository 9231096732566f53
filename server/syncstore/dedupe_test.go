package syncstore

import (
	"reflect"
	"testing"
)

func TestDedupeLastWins(t *testing.T) {
	type row struct{ id, v string }
	cases := []struct {
		name    string
		in      []row
		want    []row
		dropped int
	}{
		{"empty", nil, nil, 0},
		{"no duplicates", []row{{"a", "1"}, {"b", "1"}}, []row{{"a", "1"}, {"b", "1"}}, 0},
		{"last wins", []row{{"a", "1"}, {"b", "1"}, {"a", "2"}}, []row{{"b", "1"}, {"a", "2"}}, 1},
		{"all the same", []row{{"a", "1"}, {"a", "2"}, {"a", "3"}}, []row{{"a", "3"}}, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, dropped := dedupeLastWins(c.in, func(r row) string { return r.id })
			if !reflect.DeepEqual(got, c.want) && !(len(got) == 0 && len(c.want) == 0) {
				t.Errorf("kept = %v, want %v", got, c.want)
			}
			if dropped != c.dropped {
				t.Errorf("dropped = %d, want %d", dropped, c.dropped)
			}
		})
	}
}
