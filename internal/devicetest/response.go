package devicetest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/syncproxy/syncproxy/gen/api"
)

// Response is what came back to a device, read whole and already checked
// against the spec.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Decode unmarshals the body into into, or fails t.
func (r Response) Decode(t testing.TB, into any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, into); err != nil {
		t.Fatalf("decode %d body %q: %v", r.Status, Truncate(r.Body), err)
	}
}

// Envelope asserts the error envelope of docs/contract.md ("Errors") with
// status and code, and returns it.
func (r Response) Envelope(t testing.TB, status int, code string) api.Error {
	t.Helper()
	if err := r.CheckEnvelope(status, code); err != nil {
		t.Fatal(err)
	}
	var e api.Error
	r.Decode(t, &e)
	return e
}

// CheckEnvelope is Envelope for a goroutine or a fuzz property: the status,
// its code, every member present (ok false, a message, a requestId,
// details an array), and the X-Request-Id header matching the body's.
func (r Response) CheckEnvelope(status int, code string) error {
	if r.Status != status {
		return fmt.Errorf("status = %d, want %d; body %s", r.Status, status, Truncate(r.Body))
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(r.Body, &raw); err != nil {
		return fmt.Errorf("%d body is not a JSON object: %q", r.Status, Truncate(r.Body))
	}
	for _, k := range []string{"ok", "error", "message", "requestId", "details"} {
		if _, ok := raw[k]; !ok {
			return fmt.Errorf("envelope lacks %q: %s", k, Truncate(r.Body))
		}
	}
	var e struct {
		Ok        *bool             `json:"ok"`
		Error     string            `json:"error"`
		Message   string            `json:"message"`
		RequestID string            `json:"requestId"`
		Details   []json.RawMessage `json:"details"`
	}
	if err := json.Unmarshal(r.Body, &e); err != nil {
		return fmt.Errorf("envelope %s: %w", Truncate(r.Body), err)
	}
	if e.Ok == nil || *e.Ok || e.Error != code || e.Message == "" || e.RequestID == "" || e.Details == nil {
		return fmt.Errorf("envelope = %s, want ok:false, error %s, a message, a requestId and details", Truncate(r.Body), code)
	}
	if got := r.Header.Get("X-Request-Id"); got != e.RequestID {
		return fmt.Errorf("X-Request-Id header %q != body requestId %q", got, e.RequestID)
	}
	return nil
}

// Truncate keeps a failure message readable when the body is a 5,000-row page.
func Truncate(b []byte) string {
	if len(b) > 2000 {
		return string(b[:2000]) + "…"
	}
	return string(b)
}
