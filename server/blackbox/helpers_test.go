package blackbox_test

// Small helpers shared by the black-box tests: tokens crafted by hand, raw JSON
// views of responses, and assertions on the error envelope's details.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/syncproxy/syncproxy/gen/api"
	"github.com/syncproxy/syncproxy/internal/devicetest"
	"github.com/syncproxy/syncproxy/server/syncstore"
)

// sqlExec runs provisioning SQL directly (tenants live outside sync).
func sqlExec(t *testing.T, sql string, args ...any) {
	t.Helper()
	if _, err := env.Pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("sql %q: %v", sql, err)
	}
}

// sqlCount returns the single integer a counting query yields.
func sqlCount(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := env.Pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("sql %q: %v", sql, err)
	}
	return n
}

// goTrueClaims are the claims of a valid token for sub, as GoTrue issues them.
func goTrueClaims(sub string) jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{
		"sub":  sub,
		"aud":  "authenticated",
		"role": "authenticated",
		"iat":  now.Unix(),
		"exp":  now.Add(time.Hour).Unix(),
	}
}

func signToken(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatalf("sign %s: %v", method.Alg(), err)
	}
	return s
}

// unsignedToken is an "alg: none" token, built by hand: no library mints one
// willingly, which is exactly why servers must refuse it explicitly.
func unsignedToken(t *testing.T, claims jwt.MapClaims) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(map[string]string{"alg": "none", "typ": "JWT"}) + "." + enc(claims) + "."
}

// wantDetail is one expected entry of an envelope's details; index -1 and ""
// mean the member must be absent.
type wantDetail struct {
	table string
	index int
	field string
}

func (w wantDetail) String() string {
	return fmt.Sprintf("table=%q index=%d field=%q", w.table, w.index, w.field)
}

func detailKey(d api.ErrorDetail) wantDetail {
	w := wantDetail{index: -1}
	if d.Table != nil {
		w.table = *d.Table
	}
	if d.Index != nil {
		w.index = *d.Index
	}
	if d.Field != nil {
		w.field = *d.Field
	}
	return w
}

// assertDetails checks that e names exactly the wanted (table, index, field)s.
func assertDetails(t *testing.T, e api.Error, want ...wantDetail) {
	t.Helper()
	var got []wantDetail // one entry per place, however many rules it broke
	for _, d := range e.Details {
		if d.Reason == "" {
			t.Errorf("detail %+v has no reason", detailKey(d))
		}
		if k := detailKey(d); !contains(got, k) {
			got = append(got, k)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("details = %v, want %v (message %q)", got, want, e.Message)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func uuids(n int) []uuid.UUID {
	out := make([]uuid.UUID, n)
	for i := range out {
		out[i] = uuid.New()
	}
	return out
}

func sortedStrings[T fmt.Stringer](in []T) []string {
	out := make([]string, len(in))
	for i, v := range in {
		out[i] = v.String()
	}
	sort.Strings(out)
	return out
}

// tableArrays are the keys every pull page carries, one per synced table,
// and deletableTables the keys of `deleted` (and of a push's `deletes`):
// both from the generated registry, never a hand list.
var tableArrays, deletableTables = func() (all, deletable []string) {
	for _, t := range syncstore.Tables() {
		all = append(all, t.Name)
		if t.Deletable {
			deletable = append(deletable, t.Name)
		}
	}
	return all, deletable
}()

// assertOnlyTables fails unless exactly the named arrays of page are non-empty
// and `deleted` is all empty arrays.
func assertOnlyTables(t *testing.T, page map[string]json.RawMessage, nonEmpty ...string) {
	t.Helper()
	for _, k := range tableArrays {
		raw, ok := page[k]
		if !ok {
			t.Fatalf("pull lacks %q", k)
		}
		want := contains(nonEmpty, k)
		if got := string(raw) != "[]"; got != want {
			t.Errorf("%s = %s, want non-empty %v", k, devicetest.Truncate(raw), want)
		}
	}
}

func contains[T comparable](list []T, s T) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func hasAny(haystack string, needles ...string) (string, bool) {
	for _, n := range needles {
		if n != "" && strings.Contains(haystack, n) {
			return n, true
		}
	}
	return "", false
}
