package wire

import (
	"bytes"
	"encoding/json"
	"io"
)

// Every JSON body the server writes is encoded without encoding/json's HTML
// escaping. By default it writes '<', '>' and '&' as \u003c, \u003e and
// \u0026: six bytes for one, and not the text the client stored. A line
// item of 1 MiB of '<' left the server as 6 MiB, in every pull page and
// every 409 that carried it. Our bodies are application/json, never
// embedded in HTML, so the escaping protects nothing. (The generated strict
// responses, the push receipt, the canary and the health answers, keep
// encoding/json's defaults: they carry no client text, only counts, ids and
// times.)

// Marshal is json.Marshal without HTML escaping.
func Marshal(v any) ([]byte, error) {
	var e Encoder
	b, err := e.Encode(v)
	if err != nil {
		return nil, err
	}
	return bytes.Clone(b), nil
}

// NewJSONEncoder is json.NewEncoder(w) without HTML escaping.
func NewJSONEncoder(w io.Writer) *json.Encoder {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc
}

// Encoder encodes values one after another into a buffer it reuses: a pull
// page encodes each of its rows once, as it reads them, without a buffer
// per row. The zero value is ready to use.
type Encoder struct {
	buf bytes.Buffer
	enc *json.Encoder
}

// Encode returns v's JSON (without a trailing newline). The bytes are valid
// until the next call.
func (e *Encoder) Encode(v any) ([]byte, error) {
	if e.enc == nil {
		e.enc = NewJSONEncoder(&e.buf)
	}
	e.buf.Reset()
	if err := e.enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(e.buf.Bytes(), []byte("\n")), nil
}
