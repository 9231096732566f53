package auth

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"

	"github.com/MicahParks/jwkset"
)

// maxJWKSBytes bounds what we read from the identity provider: a key set is a
// few KB; anything bigger is a misconfigured URL, not keys.
const maxJWKSBytes = 1 << 20

// minRSABits refuses keys that are too weak to trust with a tenant boundary.
const minRSABits = 2048

// trustedDocument is the transport of jwkset's fetches: it hands jwkset the
// provider's key set reduced to the keys we trust. This is policy jwkset
// cannot express: it installs every key it can parse (RSA of any size, any
// curve, symmetric keys), reads a body without bound, and refuses a whole
// key set when one key in it is malformed, so one bad entry published by a
// provider would make every token unverifiable. Here each key is judged on
// its own, and a document that is not a key set fails the fetch (the keys
// already known are kept) instead of emptying the cache.
type trustedDocument struct {
	base    http.RoundTripper
	logger  *slog.Logger
	source  string // the URL without its query, for logs
	fetches atomic.Int64
}

func (d *trustedDocument) RoundTrip(req *http.Request) (*http.Response, error) {
	d.fetches.Add(1)
	res, err := d.base.RoundTrip(req)
	if err != nil || res.StatusCode != http.StatusOK {
		return res, err // jwkset reports the status
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, maxJWKSBytes+1))
	res.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("jwks: read: %w", err)
	}
	if len(body) > maxJWKSBytes {
		return nil, fmt.Errorf("jwks: larger than %d bytes", maxJWKSBytes)
	}
	keys, skipped, err := trustedKeys(body)
	if err != nil {
		return nil, err
	}
	for _, s := range skipped {
		d.logger.Warn("jwks key skipped", "source", d.source, "reason", s)
	}
	d.logger.Debug("jwks fetched", "source", d.source, "keys", len(keys))
	doc, err := json.Marshal(jwkset.JWKSMarshal{Keys: keys})
	if err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	res.Body = io.NopCloser(bytes.NewReader(doc))
	res.ContentLength = int64(len(doc))
	res.Header.Del("Content-Length")
	return res, nil
}

// trustedKeys reads a JWK Set and keeps the RS256 and ES256 signature keys,
// public parts only, each under a unique kid. The others (encryption keys,
// other key types, curves and algorithms, weak RSA, malformed) are described
// in skipped; a document that is not a key set is an error.
func trustedKeys(raw []byte) (keys []jwkset.JWKMarshal, skipped []string, err error) {
	var doc struct {
		Keys *[]json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, nil, fmt.Errorf("jwks: not JSON: %w", err)
	}
	if doc.Keys == nil {
		return nil, nil, errors.New(`jwks: no "keys" member`)
	}
	seen := map[string]bool{}
	for i, entry := range *doc.Keys {
		var head struct {
			Kid string `json:"kid"`
		}
		_ = json.Unmarshal(entry, &head) // for the message; jwkset judges the entry
		// Without Private, jwkset reads public parts only and refuses
		// symmetric keys: an HS256 secret has no business in a public key set.
		jwk, err := jwkset.NewJWKFromRawJSON(entry, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{})
		if err == nil {
			err = verifiesOurTokens(jwk)
		}
		switch {
		case err != nil:
			skipped = append(skipped, fmt.Sprintf("key %d (kid %q): %v", i, head.Kid, err))
		case head.Kid == "":
			skipped = append(skipped, fmt.Sprintf("key %d: no kid", i))
		case seen[head.Kid]:
			skipped = append(skipped, fmt.Sprintf("key %d: duplicate kid %q", i, head.Kid))
		default:
			seen[head.Kid] = true
			keys = append(keys, jwk.Marshal())
		}
	}
	return keys, skipped, nil
}

// verifiesOurTokens says why a key may not check RS256 or ES256 signatures.
func verifiesOurTokens(jwk jwkset.JWK) error {
	m := jwk.Marshal()
	if m.USE != "" && m.USE != jwkset.UseSig {
		return fmt.Errorf("use %q is not sig", m.USE)
	}
	switch key := jwk.Key().(type) {
	case *rsa.PublicKey:
		if m.ALG != "" && m.ALG != jwkset.AlgRS256 {
			return fmt.Errorf("alg %q is not supported", m.ALG)
		}
		if bits := key.N.BitLen(); bits < minRSABits {
			return fmt.Errorf("RSA key of %d bits is below %d", bits, minRSABits)
		}
		if key.E < 3 || key.E%2 == 0 {
			return errors.New("bad exponent e")
		}
	case *ecdsa.PublicKey:
		if key.Curve != elliptic.P256() {
			return fmt.Errorf("curve %q is not supported", m.CRV)
		}
		if m.ALG != "" && m.ALG != jwkset.AlgES256 {
			return fmt.Errorf("alg %q is not supported", m.ALG)
		}
	default:
		return fmt.Errorf("kty %q is not supported", m.KTY)
	}
	return nil
}
