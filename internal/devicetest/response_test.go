package devicetest

import (
	"net/http"
	"strings"
	"testing"
)

// TestCheckEnvelope_RefusesEveryDeparture: the envelope check is what
// dozens of tests rely on to see an error answered as the contract says; a
// check that let a departure through would make all of them pass on it.
func TestCheckEnvelope_RefusesEveryDeparture(t *testing.T) {
	const good = `{"ok":false,"error":"BAD_REQUEST","message":"m","requestId":"r1","details":[]}`
	header := http.Header{"X-Request-Id": {"r1"}}
	for _, tc := range []struct {
		name   string
		status int
		body   string
		header http.Header
		want   string // "" for accepted, else a part of the error
	}{
		{"the envelope", 400, good, header, ""},
		{"another status", 422, good, header, "status = 422"},
		{"another code", 400, strings.Replace(good, "BAD_REQUEST", "NOT_FOUND", 1), header, "want ok:false"},
		{"ok true", 400, strings.Replace(good, `"ok":false`, `"ok":true`, 1), header, "want ok:false"},
		{"no message", 400, strings.Replace(good, `"message":"m"`, `"message":""`, 1), header, "want ok:false"},
		{"details null", 400, strings.Replace(good, `"details":[]`, `"details":null`, 1), header, "want ok:false"},
		{"details missing", 400, strings.Replace(good, `,"details":[]`, ``, 1), header, `lacks "details"`},
		{"requestId missing", 400, strings.Replace(good, `,"requestId":"r1"`, ``, 1), header, `lacks "requestId"`},
		{"header differs", 400, good, http.Header{"X-Request-Id": {"r2"}}, "X-Request-Id header"},
		{"not JSON", 400, "Bad Request", header, "not a JSON object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Response{Status: tc.status, Header: tc.header, Body: []byte(tc.body)}.CheckEnvelope(400, "BAD_REQUEST")
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && err == nil:
				t.Fatal("accepted")
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
		})
	}
}
