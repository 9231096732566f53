package devicetest

import (
	"testing"

	"github.com/syncproxy/syncproxy/internal/testenv"
)

// TestLogHasNoToken_FindsAJWTButNotACursor: the check after every run must
// see a bearer token wherever a log line carries one, and must not mistake
// a cursor (base64url JSON, no dot) for one.
func TestLogHasNoToken_FindsAJWTButNotACursor(t *testing.T) {
	s := &Server{}
	for _, tc := range []struct {
		log  string
		want bool
	}{
		{`{"msg":"request","cursor":"eyJ2IjoyLCJzIjp7fX0"}`, false},
		{`{"msg":"request","authorization":"Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"}`, true},
	} {
		s.Logs = new(testenv.LogBuffer)
		s.Logs.Write([]byte(tc.log + "\n"))
		if got := s.LogHasNoToken() != nil; got != tc.want {
			t.Errorf("log %s: found a token = %v, want %v", tc.log, got, tc.want)
		}
	}
}
