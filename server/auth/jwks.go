package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Defaults of KeySetOptions.
const (
	DefaultJWKSRefresh      = time.Hour
	DefaultJWKSMinRefetch   = 10 * time.Second
	DefaultJWKSFetchTimeout = 5 * time.Second
)

// maxJWKSBytes bounds what we read from the identity provider: a key set is a
// few KB; anything bigger is a misconfigured URL, not keys.
const maxJWKSBytes = 1 << 20

// minRSABits refuses keys that are too weak to trust with a tenant boundary.
const minRSABits = 2048

var (
	errUnknownKey  = errors.New("unknown signing key")
	errMissingKid  = errors.New("missing kid header")
	errKeyMismatch = errors.New("algorithm does not match the key")
)

// KeySetOptions configures a KeySet. Zero durations take the defaults.
type KeySetOptions struct {
	URL string
	// Refresh is the period of background refreshes (Run).
	Refresh time.Duration
	// MinRefetch bounds fetches: a token with an unknown kid triggers one only
	// if none happened for this long, so forged kids cannot flood the provider.
	MinRefetch time.Duration
	// FetchTimeout bounds one fetch; a slow provider cannot stall requests longer.
	FetchTimeout time.Duration
	Client       *http.Client
	Logger       *slog.Logger
}

// KeySet is the identity provider's JWKS, cached: RS256 and ES256 public keys
// by kid. Lookups of known kids never wait on the network.
type KeySet struct {
	opts   KeySetOptions
	source string // the URL without credentials or query, for logs
	now    func() time.Time

	mu   sync.RWMutex
	keys map[string]publicKey

	fetchMu   sync.Mutex // one fetch at a time; waiters reuse its result
	lastFetch time.Time  // last fetch attempt, guarded by fetchMu
	fetches   int        // guarded by fetchMu
}

type publicKey struct {
	alg string // RS256 or ES256: the only algorithm this key may verify
	key crypto.PublicKey
}

// NewKeySet returns an empty KeySet for o.URL; Refresh or Run fill it, and an
// unknown kid fetches on demand.
func NewKeySet(o KeySetOptions) (*KeySet, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, errors.New("auth: the JWKS URL must be an absolute http(s) URL")
	}
	if o.Refresh <= 0 {
		o.Refresh = DefaultJWKSRefresh
	}
	if o.MinRefetch < 0 {
		o.MinRefetch = 0
	} else if o.MinRefetch == 0 {
		o.MinRefetch = DefaultJWKSMinRefetch
	}
	if o.FetchTimeout <= 0 {
		o.FetchTimeout = DefaultJWKSFetchTimeout
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: o.FetchTimeout}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	source := u.Scheme + "://" + u.Host + u.Path
	return &KeySet{opts: o, source: source, now: time.Now, keys: map[string]publicKey{}}, nil
}

// Run fetches the key set now and then every Refresh until ctx is done. A
// failed fetch keeps the keys already known.
func (k *KeySet) Run(ctx context.Context) {
	ticker := time.NewTicker(k.opts.Refresh)
	defer ticker.Stop()
	for {
		_ = k.Refresh(ctx) // logged inside
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// Refresh fetches the key set now, whatever the refetch bound says.
func (k *KeySet) Refresh(ctx context.Context) error {
	k.fetchMu.Lock()
	defer k.fetchMu.Unlock()
	return k.fetchLocked(ctx)
}

// Fetches is how many fetches were attempted (tests and diagnostics).
func (k *KeySet) Fetches() int {
	k.fetchMu.Lock()
	defer k.fetchMu.Unlock()
	return k.fetches
}

// key returns the public key for kid if it may verify alg. An unknown kid
// triggers a fetch, at most one per MinRefetch across all callers.
func (k *KeySet) key(kid, alg string) (crypto.PublicKey, error) {
	pk, ok := k.lookup(kid)
	if !ok {
		k.refetchFor(kid)
		if pk, ok = k.lookup(kid); !ok {
			return nil, errUnknownKey
		}
	}
	if pk.alg != alg {
		return nil, errKeyMismatch
	}
	return pk.key, nil
}

func (k *KeySet) lookup(kid string) (publicKey, bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	pk, ok := k.keys[kid]
	return pk, ok
}

// refetchFor fetches the key set for an unknown kid unless a fetch happened
// within MinRefetch. Callers arriving during a fetch wait for it and use it.
func (k *KeySet) refetchFor(kid string) {
	k.fetchMu.Lock()
	defer k.fetchMu.Unlock()
	if _, ok := k.lookup(kid); ok {
		return // the fetch we waited for brought it
	}
	if !k.lastFetch.IsZero() && k.now().Sub(k.lastFetch) < k.opts.MinRefetch {
		return
	}
	// Not the request's context: the fetch serves every waiting caller.
	ctx, cancel := context.WithTimeout(context.Background(), k.opts.FetchTimeout)
	defer cancel()
	_ = k.fetchLocked(ctx) // logged inside
}

// fetchLocked downloads and installs the key set; k.fetchMu is held.
func (k *KeySet) fetchLocked(ctx context.Context) error {
	k.lastFetch = k.now()
	k.fetches++
	keys, skipped, err := k.download(ctx)
	if err != nil {
		k.opts.Logger.Warn("jwks fetch failed; keeping the keys already known",
			"source", k.source, "known_keys", k.size(), "err", err)
		return err
	}
	for _, s := range skipped {
		k.opts.Logger.Warn("jwks key skipped", "source", k.source, "reason", s)
	}
	k.mu.Lock()
	k.keys = keys
	k.mu.Unlock()
	k.opts.Logger.Debug("jwks fetched", "source", k.source, "keys", len(keys))
	return nil
}

func (k *KeySet) size() int {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return len(k.keys)
}

func (k *KeySet) download(ctx context.Context) (map[string]publicKey, []string, error) {
	ctx, cancel := context.WithTimeout(ctx, k.opts.FetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.opts.URL, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("jwks: build request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	res, err := k.opts.Client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("jwks: fetch: %w", redactURLError(err))
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("jwks: fetch: status %d", res.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, nil, fmt.Errorf("jwks: read: %w", err)
	}
	if len(body) > maxJWKSBytes {
		return nil, nil, fmt.Errorf("jwks: larger than %d bytes", maxJWKSBytes)
	}
	return parseJWKS(body)
}

// redactURLError drops the URL from a transport error: a JWKS URL may carry
// an API key in its query, and logs must not.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// jwk is the subset of RFC 7517/7518 members we use.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Crv string `json:"crv"`
	N   string `json:"n"`
	E   string `json:"e"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// parseJWKS reads a JWK Set. Keys we cannot use for RS256 or ES256 signature
// checks (encryption keys, other curves, weak RSA, malformed) are skipped and
// described in skipped; a document that is not a key set is an error.
func parseJWKS(raw []byte) (keys map[string]publicKey, skipped []string, err error) {
	var doc struct {
		Keys *[]jwk `json:"keys"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, nil, fmt.Errorf("jwks: not JSON: %w", err)
	}
	if doc.Keys == nil {
		return nil, nil, errors.New(`jwks: no "keys" member`)
	}
	keys = map[string]publicKey{}
	for i, j := range *doc.Keys {
		pk, err := j.publicKey()
		switch {
		case err != nil:
			skipped = append(skipped, fmt.Sprintf("key %d (kid %q): %v", i, j.Kid, err))
		case j.Kid == "":
			skipped = append(skipped, fmt.Sprintf("key %d: no kid", i))
		default:
			if _, dup := keys[j.Kid]; dup {
				skipped = append(skipped, fmt.Sprintf("key %d: duplicate kid %q", i, j.Kid))
				continue
			}
			keys[j.Kid] = pk
		}
	}
	return keys, skipped, nil
}

func (j jwk) publicKey() (publicKey, error) {
	if j.Use != "" && j.Use != "sig" {
		return publicKey{}, fmt.Errorf("use %q is not sig", j.Use)
	}
	switch j.Kty {
	case "RSA":
		if j.Alg != "" && j.Alg != "RS256" {
			return publicKey{}, fmt.Errorf("alg %q is not supported", j.Alg)
		}
		key, err := rsaKey(j.N, j.E)
		return publicKey{alg: "RS256", key: key}, err
	case "EC":
		if j.Crv != "P-256" {
			return publicKey{}, fmt.Errorf("curve %q is not supported", j.Crv)
		}
		if j.Alg != "" && j.Alg != "ES256" {
			return publicKey{}, fmt.Errorf("alg %q is not supported", j.Alg)
		}
		key, err := p256Key(j.X, j.Y)
		return publicKey{alg: "ES256", key: key}, err
	default:
		return publicKey{}, fmt.Errorf("kty %q is not supported", j.Kty)
	}
}

func rsaKey(n64, e64 string) (*rsa.PublicKey, error) {
	n, err := b64(n64)
	if err != nil || len(n) == 0 {
		return nil, errors.New("bad modulus n")
	}
	e, err := b64(e64)
	if err != nil || len(e) == 0 || len(e) > 4 {
		return nil, errors.New("bad exponent e")
	}
	modulus := new(big.Int).SetBytes(n)
	exponent := int(new(big.Int).SetBytes(e).Int64())
	if modulus.BitLen() < minRSABits {
		return nil, fmt.Errorf("RSA key of %d bits is below %d", modulus.BitLen(), minRSABits)
	}
	if exponent < 3 || exponent%2 == 0 {
		return nil, errors.New("bad exponent e")
	}
	return &rsa.PublicKey{N: modulus, E: exponent}, nil
}

func p256Key(x64, y64 string) (*ecdsa.PublicKey, error) {
	x, errX := b64(x64)
	y, errY := b64(y64)
	if errX != nil || errY != nil || len(x) != 32 || len(y) != 32 {
		return nil, errors.New("bad coordinates x, y (want 32 bytes each)")
	}
	point := append(append([]byte{4}, x...), y...)
	key, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
	if err != nil {
		return nil, errors.New("the point is not on P-256")
	}
	return key, nil
}

// b64 decodes base64url, tolerating the padding some providers add.
func b64(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}
