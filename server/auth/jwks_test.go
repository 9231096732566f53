package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// jwksServer is the identity provider's JWKS endpoint: its key set can be
// swapped (rotation) and it can go down.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	keys    []map[string]string
	raw     []byte // served as is instead of keys, when set
	down    bool
	delay   time.Duration
	fetches atomic.Int64
}

func newJWKSServer(t *testing.T, keys ...map[string]string) *jwksServer {
	t.Helper()
	s := &jwksServer{keys: keys}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		down, delay, keys, raw := s.down, s.delay, s.keys, s.raw
		s.mu.Unlock()
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		if down {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if raw != nil {
			_, _ = w.Write(raw)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": keys})
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) serve(keys ...map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = keys
}

func (s *jwksServer) serveRaw(body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.raw = body
}

func (s *jwksServer) setDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// logBuffer collects a KeySet's log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// waitFor polls cond: background refreshes run on jwkset's own clock.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type signer struct {
	kid    string
	method jwt.SigningMethod
	key    any // *rsa.PrivateKey or *ecdsa.PrivateKey
}

var (
	rsaOnce sync.Once
	rsaKeys [3]*rsa.PrivateKey
)

// rsaSigner returns one of a few RSA keys generated once per test binary.
func rsaSigner(t *testing.T, kid string, n int) signer {
	t.Helper()
	rsaOnce.Do(func() {
		for i := range rsaKeys {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			rsaKeys[i] = k
		}
	})
	return signer{kid: kid, method: jwt.SigningMethodRS256, key: rsaKeys[n]}
}

func ecSigner(t *testing.T, kid string) signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signer{kid: kid, method: jwt.SigningMethodES256, key: k}
}

func (s signer) jwk() map[string]string {
	enc := base64.RawURLEncoding.EncodeToString
	switch k := s.key.(type) {
	case *rsa.PrivateKey:
		return map[string]string{"kty": "RSA", "kid": s.kid, "use": "sig", "alg": "RS256",
			"n": enc(k.N.Bytes()), "e": enc(big.NewInt(int64(k.E)).Bytes())}
	case *ecdsa.PrivateKey:
		raw, err := k.PublicKey.Bytes() // 0x04 || X || Y
		if err != nil {
			panic(err)
		}
		return map[string]string{"kty": "EC", "kid": s.kid, "crv": "P-256",
			"x": enc(raw[1:33]), "y": enc(raw[33:])}
	}
	panic("unknown key type")
}

func (s signer) token(t *testing.T, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(s.method, claims)
	if s.kid != "" {
		tok.Header["kid"] = s.kid
	}
	out, err := tok.SignedString(s.key)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func goodClaims(sub uuid.UUID) jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{"sub": sub.String(), "aud": DefaultAudience, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
}

// newTestKeySet returns a KeySet on srv that has fetched once, stopped when
// the test ends.
func newTestKeySet(t *testing.T, srv *jwksServer, o KeySetOptions) *KeySet {
	t.Helper()
	o.URL = srv.URL + "/.well-known/jwks.json"
	if o.FetchTimeout == 0 {
		o.FetchTimeout = time.Second
	}
	ks, err := NewKeySet(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	if ks.Fetches() != 1 || ks.size() == 0 {
		t.Fatalf("initial fetch: %d fetches, %d keys", ks.Fetches(), ks.size())
	}
	return ks
}

// newTestVerifier returns a JWKS verifier on srv; the key set has been
// fetched once.
func newTestVerifier(t *testing.T, srv *jwksServer, minRefetch time.Duration, hs256 []byte) (*Verifier, *KeySet) {
	t.Helper()
	ks := newTestKeySet(t, srv, KeySetOptions{MinRefetch: minRefetch})
	v, err := New(Options{HS256Secret: hs256, KeySet: ks})
	if err != nil {
		t.Fatal(err)
	}
	return v, ks
}

func mustVerify(t *testing.T, v *Verifier, token string, want uuid.UUID) {
	t.Helper()
	got, err := v.Verify(token)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got != want {
		t.Fatalf("sub = %s, want %s", got, want)
	}
}

func mustReject(t *testing.T, v *Verifier, token, reason string) {
	t.Helper()
	_, err := v.Verify(token)
	if !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("Verify = %v, want ErrInvalidToken", err)
	}
	if reason != "" && !strings.Contains(err.Error(), reason) {
		t.Fatalf("Verify = %q, want reason %q", err, reason)
	}
	if strings.Contains(err.Error(), token) {
		t.Fatal("the error message contains the token")
	}
}

func TestJWKS_RS256_Verifies(t *testing.T) {
	key := rsaSigner(t, "rsa-1", 0)
	srv := newJWKSServer(t, key.jwk())
	v, _ := newTestVerifier(t, srv, 0, nil)
	sub := uuid.New()
	mustVerify(t, v, key.token(t, goodClaims(sub)), sub)
}

func TestJWKS_ES256_Verifies(t *testing.T) {
	key := ecSigner(t, "ec-1")
	srv := newJWKSServer(t, key.jwk())
	v, _ := newTestVerifier(t, srv, 0, nil)
	sub := uuid.New()
	mustVerify(t, v, key.token(t, goodClaims(sub)), sub)
}

func TestJWKS_AndHS256_BothAccepted(t *testing.T) {
	secret := []byte("shared-secret-0123456789abcdef")
	key := ecSigner(t, "ec-1")
	srv := newJWKSServer(t, key.jwk())
	v, _ := newTestVerifier(t, srv, 0, secret)
	sub := uuid.New()
	mustVerify(t, v, key.token(t, goodClaims(sub)), sub)
	hs, err := MintHS256(secret, sub, "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	mustVerify(t, v, hs, sub)
}

// The refetch bound is jwkset's rate limiter on the real clock: these tests
// use bounds short enough to wait out, and run in parallel.

func TestJWKS_UnknownKid_RefetchesOnce(t *testing.T) {
	t.Parallel()
	const minRefetch = 100 * time.Millisecond
	k1, k2 := rsaSigner(t, "k1", 0), ecSigner(t, "k2")
	srv := newJWKSServer(t, k1.jwk())
	v, ks := newTestVerifier(t, srv, minRefetch, nil)

	srv.serve(k1.jwk(), k2.jwk()) // the provider publishes a new key
	sub := uuid.New()
	mustVerify(t, v, k2.token(t, goodClaims(sub)), sub)
	if got := ks.Fetches(); got != 2 {
		t.Fatalf("fetches = %d, want 2 (initial + one for the unknown kid)", got)
	}
	// Known now: no more fetches, even once the bound would allow one.
	time.Sleep(2 * minRefetch)
	for range 5 {
		mustVerify(t, v, k2.token(t, goodClaims(sub)), sub)
		mustVerify(t, v, k1.token(t, goodClaims(sub)), sub)
	}
	if got := ks.Fetches(); got != 2 {
		t.Fatalf("fetches = %d after known kids, want still 2", got)
	}
}

func TestJWKS_KeyRotation(t *testing.T) {
	t.Parallel()
	const minRefetch = 100 * time.Millisecond
	oldKey, newKey := rsaSigner(t, "2024-old", 0), rsaSigner(t, "2025-new", 1)
	srv := newJWKSServer(t, oldKey.jwk())
	v, ks := newTestVerifier(t, srv, minRefetch, nil)
	sub := uuid.New()
	oldToken := oldKey.token(t, goodClaims(sub))
	mustVerify(t, v, oldToken, sub)

	// The provider rotates: new key published, old one removed.
	srv.serve(newKey.jwk())
	mustVerify(t, v, newKey.token(t, goodClaims(sub)), sub)
	mustReject(t, v, oldToken, "unknown signing key")

	// Still rejected after the refetch bound passes again (and the old kid
	// did refetch): it is gone for good.
	time.Sleep(2 * minRefetch)
	before := ks.Fetches()
	mustReject(t, v, oldToken, "unknown signing key")
	if got := ks.Fetches(); got != before+1 {
		t.Fatalf("fetches = %d, want %d: the old kid should have refetched once", got, before+1)
	}
	mustVerify(t, v, newKey.token(t, goodClaims(sub)), sub)
}

// TestJWKS_RotationUnderLoad: requests that carry a new kid while its
// refetch is under way wait for that refetch and verify, rather than being
// refused because the refetch budget is spent (a 401 that makes an app sign
// its user out).
func TestJWKS_RotationUnderLoad(t *testing.T) {
	t.Parallel()
	oldKey, newKey := ecSigner(t, "old"), ecSigner(t, "new")
	srv := newJWKSServer(t, oldKey.jwk())
	v, ks := newTestVerifier(t, srv, time.Hour, nil)
	srv.mu.Lock()
	srv.delay = 200 * time.Millisecond // a provider that takes its time
	srv.mu.Unlock()
	srv.serve(oldKey.jwk(), newKey.jwk())

	sub := uuid.New()
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, err := v.Verify(newKey.token(t, goodClaims(sub))); err != nil {
				t.Errorf("a request with the new kid during its refetch: %v", err)
			}
		})
	}
	wg.Wait()
	if got := ks.Fetches(); got != 2 {
		t.Fatalf("fetches = %d, want 2 (initial + one refetch shared by all)", got)
	}
}

// TestJWKS_UnknownKidDoesNotWaitForTheBound: within MinRefetch of the last
// refetch, an unknown kid is refused at once; it does not hold its request
// until the next refetch is allowed.
func TestJWKS_UnknownKidDoesNotWaitForTheBound(t *testing.T) {
	t.Parallel()
	srv := newJWKSServer(t, ecSigner(t, "known").jwk())
	ks := newTestKeySet(t, srv, KeySetOptions{MinRefetch: time.Second, FetchTimeout: 5 * time.Second})
	v, err := New(Options{KeySet: ks})
	if err != nil {
		t.Fatal(err)
	}
	forged := ecSigner(t, "forged")
	mustReject(t, v, forged.token(t, goodClaims(uuid.New())), "unknown signing key") // spends the refetch
	start := time.Now()
	mustReject(t, v, forged.token(t, goodClaims(uuid.New())), "unknown signing key")
	if elapsed := time.Since(start); elapsed > 300*time.Millisecond {
		t.Fatalf("an unknown kid within the bound took %s, want an immediate refusal", elapsed)
	}
	if got := ks.Fetches(); got != 2 {
		t.Fatalf("fetches = %d, want 2", got)
	}
}

func TestJWKS_RefetchRateBounded(t *testing.T) {
	t.Parallel()
	// Long enough that the 200 forged tokens below all arrive within one
	// interval, even on a loaded machine; the test waits it out once.
	const minRefetch = 2 * time.Second
	known := ecSigner(t, "known")
	srv := newJWKSServer(t, known.jwk())
	v, ks := newTestVerifier(t, srv, minRefetch, nil)

	// An attacker (or a buggy client) sends many tokens with forged kids at once.
	attacker := ecSigner(t, "")
	var wg sync.WaitGroup
	start := time.Now()
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			forged := signer{kid: fmt.Sprintf("forged-%d", i), method: attacker.method, key: attacker.key}
			if _, err := v.Verify(forged.token(t, goodClaims(uuid.New()))); !errors.Is(err, ErrInvalidToken) {
				t.Errorf("forged kid accepted: %v", err)
			}
		}()
	}
	wg.Wait()
	if elapsed := time.Since(start); elapsed >= minRefetch {
		t.Fatalf("200 forged kids took %s, longer than the bound under test", elapsed)
	}
	if got := ks.Fetches(); got != 2 {
		t.Fatalf("fetches = %d after 200 unknown kids, want 2 (initial + at most one refetch)", got)
	}
	if got := srv.fetches.Load(); got != 2 {
		t.Fatalf("JWKS server saw %d requests, want 2", got)
	}
	// The bound is per interval, not forever.
	time.Sleep(minRefetch + 100*time.Millisecond)
	forged := signer{kid: "forged-later", method: attacker.method, key: attacker.key}
	mustReject(t, v, forged.token(t, goodClaims(uuid.New())), "unknown signing key")
	if got := ks.Fetches(); got != 3 {
		t.Fatalf("fetches = %d, want 3 once the interval passed", got)
	}
	// Known keys kept working throughout.
	sub := uuid.New()
	mustVerify(t, v, known.token(t, goodClaims(sub)), sub)
}

func TestJWKS_ServerDown_KnownKeysStillWork(t *testing.T) {
	t.Parallel()
	known, unknown := rsaSigner(t, "known", 0), ecSigner(t, "unknown")
	srv := newJWKSServer(t, known.jwk())
	var logs logBuffer
	ks := newTestKeySet(t, srv, KeySetOptions{Refresh: 30 * time.Millisecond, MinRefetch: 30 * time.Millisecond, Logger: logs.logger()})
	v, err := New(Options{KeySet: ks})
	if err != nil {
		t.Fatal(err)
	}
	failures := func() int { return strings.Count(logs.String(), "jwks fetch failed") }

	srv.setDown(true)
	waitFor(t, "a failed refresh against the down JWKS", func() bool { return failures() >= 1 })
	time.Sleep(50 * time.Millisecond) // the refetch bound passes
	mustReject(t, v, unknown.token(t, goodClaims(uuid.New())), "unknown signing key")
	sub := uuid.New()
	mustVerify(t, v, known.token(t, goodClaims(sub)), sub)

	// Closed listener (connection refused), not just an error status.
	srv.Close()
	seen := failures()
	waitFor(t, "a failed refresh against the closed JWKS", func() bool { return failures() > seen })
	time.Sleep(50 * time.Millisecond)
	mustReject(t, v, unknown.token(t, goodClaims(uuid.New())), "unknown signing key")
	mustVerify(t, v, known.token(t, goodClaims(sub)), sub)
}

func TestJWKS_FetchTimeoutBoundsUnknownKid(t *testing.T) {
	t.Parallel()
	known, unknown := ecSigner(t, "known"), ecSigner(t, "unknown")
	srv := newJWKSServer(t, known.jwk())
	ks := newTestKeySet(t, srv, KeySetOptions{FetchTimeout: 200 * time.Millisecond, MinRefetch: -1})
	v, err := New(Options{KeySet: ks})
	if err != nil {
		t.Fatal(err)
	}
	srv.mu.Lock()
	srv.delay = 5 * time.Second // a hanging provider
	srv.mu.Unlock()
	start := time.Now()
	mustReject(t, v, unknown.token(t, goodClaims(uuid.New())), "unknown signing key")
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Fatalf("unknown kid took %s with a hanging provider, want about the fetch timeout", elapsed)
	}
	if got := ks.Fetches(); got != 2 {
		t.Fatalf("fetches = %d, want 2 (the unknown kid did try)", got)
	}
}

func TestJWKS_PeriodicRefresh(t *testing.T) {
	t.Parallel()
	k1, k2 := ecSigner(t, "k1"), ecSigner(t, "k2")
	srv := newJWKSServer(t, k1.jwk())
	ks := newTestKeySet(t, srv, KeySetOptions{Refresh: 20 * time.Millisecond, MinRefetch: time.Hour})

	srv.serve(k2.jwk())
	waitFor(t, "the periodic refresh to pick up the new key", func() bool { return ks.known("k2") })
	if ks.known("k1") {
		t.Fatal("a key removed by the provider is still trusted after a refresh")
	}
}

// TestJWKS_URLNeverLogged: a JWKS URL may carry an API key in its query; the
// failures a provider causes are logged with the URL's path only.
func TestJWKS_URLNeverLogged(t *testing.T) {
	t.Parallel()
	const apiKey = "s3cr3t-api-k3y"
	srv := newJWKSServer(t, ecSigner(t, "known").jwk())
	srv.Close() // connection refused: the transport error names the URL
	var logs logBuffer
	ks, err := NewKeySet(t.Context(), KeySetOptions{
		URL: srv.URL + "/auth/v1/jwks?apikey=" + apiKey, MinRefetch: -1, FetchTimeout: time.Second, Logger: logs.logger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	v, err := New(Options{KeySet: ks})
	if err != nil {
		t.Fatal(err)
	}
	mustReject(t, v, ecSigner(t, "unknown").token(t, goodClaims(uuid.New())), "unknown signing key")
	out := logs.String()
	if got := strings.Count(out, "jwks fetch failed"); got != 2 {
		t.Fatalf("%d failures logged, want 2 (start + unknown kid):\n%s", got, out)
	}
	if !strings.Contains(out, "/auth/v1/jwks") || !strings.Contains(out, "refused") {
		t.Fatalf("the log does not say which provider failed, or why:\n%s", out)
	}
	if strings.Contains(out, apiKey) {
		t.Fatalf("the JWKS URL's API key is in the log:\n%s", out)
	}
}

// TestJWKS_LargeBodyRefused: a body past maxJWKSBytes is not a key set; the
// fetch fails and the keys already known stay.
func TestJWKS_LargeBodyRefused(t *testing.T) {
	t.Parallel()
	known, added := ecSigner(t, "known"), ecSigner(t, "added")
	srv := newJWKSServer(t, known.jwk())
	var logs logBuffer
	ks := newTestKeySet(t, srv, KeySetOptions{MinRefetch: -1, Logger: logs.logger()})
	v, err := New(Options{KeySet: ks})
	if err != nil {
		t.Fatal(err)
	}
	padded := added.jwk()
	padded["x-padding"] = strings.Repeat("a", maxJWKSBytes)
	srv.serve(known.jwk(), padded)
	mustReject(t, v, added.token(t, goodClaims(uuid.New())), "unknown signing key")
	if !strings.Contains(logs.String(), "larger than") {
		t.Fatalf("the refused body is not logged:\n%s", logs.String())
	}
	sub := uuid.New()
	mustVerify(t, v, known.token(t, goodClaims(sub)), sub)

	srv.serve(known.jwk(), added.jwk()) // the same key, without the padding
	mustVerify(t, v, added.token(t, goodClaims(sub)), sub)
}

// TestVerify_Rejects keeps the guarantees of the verifier with every
// algorithm on at once.
func TestVerify_Rejects(t *testing.T) {
	secret := []byte("shared-secret-0123456789abcdef")
	rsaKey, ecKey := rsaSigner(t, "rsa", 0), ecSigner(t, "ec")
	srv := newJWKSServer(t, rsaKey.jwk(), ecKey.jwk())
	v, _ := newTestVerifier(t, srv, 0, secret)
	sub := uuid.New()
	now := time.Now()
	with := func(edit func(jwt.MapClaims)) jwt.MapClaims {
		c := goodClaims(sub)
		edit(c)
		return c
	}
	hs := func(claims jwt.MapClaims) string {
		out, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	pubPEM := func() []byte {
		der, err := x509.MarshalPKIXPublicKey(&rsaKey.key.(*rsa.PrivateKey).PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	}()
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, goodClaims(sub)).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	confusion := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, goodClaims(sub))
		tok.Header["kid"] = "rsa"
		out, err := tok.SignedString(pubPEM) // HMAC keyed with the RSA public key
		if err != nil {
			t.Fatal(err)
		}
		return out
	}()
	ecAsRSA := signer{kid: "rsa", method: jwt.SigningMethodES256, key: ecKey.key}
	rsaAsEC := signer{kid: "ec", method: jwt.SigningMethodRS256, key: rsaKey.key}
	otherRSA := rsaSigner(t, "rsa", 1) // right kid, wrong private key
	noKid := signer{method: jwt.SigningMethodRS256, key: rsaKey.key}
	rs384 := signer{kid: "rsa", method: jwt.SigningMethodRS384, key: rsaKey.key}

	cases := []struct {
		name, token, reason string
	}{
		{"alg none", none, `"none" not accepted`},
		{"HS256 keyed with the RSA public key", confusion, "bad signature"},
		{"ES256 with an RSA kid", ecAsRSA.token(t, goodClaims(sub)), "does not match"},
		{"RS256 with an EC kid", rsaAsEC.token(t, goodClaims(sub)), "does not match"},
		{"RS384", rs384.token(t, goodClaims(sub)), `"RS384" not accepted`},
		{"wrong key for the kid", otherRSA.token(t, goodClaims(sub)), "bad signature"},
		{"no kid", noKid.token(t, goodClaims(sub)), "missing kid"},
		{"RS256 expired", rsaKey.token(t, with(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Hour).Unix() })), "expired"},
		{"ES256 not yet valid", ecKey.token(t, with(func(c jwt.MapClaims) { c["nbf"] = now.Add(time.Hour).Unix() })), "not valid yet"},
		{"RS256 wrong audience", rsaKey.token(t, with(func(c jwt.MapClaims) { c["aud"] = "anon" })), "wrong audience"},
		{"ES256 no exp", ecKey.token(t, with(func(c jwt.MapClaims) { delete(c, "exp") })), "missing a required claim"},
		{"RS256 missing sub", rsaKey.token(t, with(func(c jwt.MapClaims) { delete(c, "sub") })), "missing sub"},
		{"ES256 non-uuid sub", ecKey.token(t, with(func(c jwt.MapClaims) { c["sub"] = "admin" })), "not a uuid"},
		{"HS256 wrong secret", func() string {
			out, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, goodClaims(sub)).SignedString([]byte("another-secret-0123456789"))
			return out
		}(), "bad signature"},
		{"HS256 expired", hs(with(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Hour).Unix() })), "expired"},
		{"HS256 non-uuid sub", hs(with(func(c jwt.MapClaims) { c["sub"] = "42" })), "not a uuid"},
		{"tampered payload", func() string {
			parts := strings.Split(rsaKey.token(t, goodClaims(sub)), ".")
			other, _ := json.Marshal(goodClaims(uuid.New()))
			parts[1] = base64.RawURLEncoding.EncodeToString(other)
			return strings.Join(parts, ".")
		}(), "bad signature"},
		{"garbage", "not.a.jwt", "malformed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { mustReject(t, v, tc.token, tc.reason) })
	}
}

func TestVerify_AlgorithmsFollowConfiguration(t *testing.T) {
	secret := []byte("shared-secret-0123456789abcdef")
	key := ecSigner(t, "ec")
	srv := newJWKSServer(t, key.jwk())
	sub := uuid.New()

	hsOnly, err := NewHS256(secret, "")
	if err != nil {
		t.Fatal(err)
	}
	mustReject(t, hsOnly, key.token(t, goodClaims(sub)), `"ES256" not accepted`)

	jwksOnly, _ := newTestVerifier(t, srv, 0, nil)
	hs, err := MintHS256(secret, sub, "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	mustReject(t, jwksOnly, hs, `"HS256" not accepted`)

	if _, err := New(Options{}); err == nil {
		t.Fatal("a verifier with no key accepted")
	}
	if _, err := New(Options{HS256Secret: []byte("short")}); err == nil {
		t.Fatal("a short HS256 secret accepted")
	}
}

func TestTrustedKeys_SkipsUnusableKeys(t *testing.T) {
	good := ecSigner(t, "good").jwk()
	enc := base64.RawURLEncoding.EncodeToString
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	offCurve := map[string]string{"kty": "EC", "kid": "off", "crv": "P-256", "x": good["x"], "y": enc(make([]byte, 32))}
	withUse := func(m map[string]string, k, v string) map[string]string {
		out := map[string]string{}
		for a, b := range m {
			out[a] = b
		}
		out[k] = v
		return out
	}
	doc, _ := json.Marshal(map[string]any{"keys": []map[string]string{
		good,
		withUse(good, "use", "enc"),
		withUse(withUse(good, "kid", "declared-es384"), "alg", "ES384"),
		{"kty": "RSA", "kid": "weak", "n": enc(weak.N.Bytes()), "e": "AQAB"},
		{"kty": "EC", "kid": "p384", "crv": "P-384", "x": enc(p384.X.Bytes()), "y": enc(p384.Y.Bytes())},
		offCurve,
		{"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
		withUse(good, "kid", ""),
	}})
	keys, skipped, err := trustedKeys(doc)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0].KID != "good" || keys[0].KTY != jwkset.KtyEC || keys[0].CRV != jwkset.CrvP256 {
		t.Fatalf("keys = %+v, want only the good ES256 key", keys)
	}
	if len(skipped) != 7 {
		t.Fatalf("skipped = %q, want 7 entries", skipped)
	}
	for _, bad := range []string{`{}`, `[]`, `not json`} {
		if _, _, err := trustedKeys([]byte(bad)); err == nil {
			t.Errorf("trustedKeys(%s) accepted a document that is not a key set", bad)
		}
	}

	// Served, the same document leaves the good key usable (jwkset alone
	// would refuse the whole set for the key that is off its curve) and
	// logs each key it skipped.
	srv := newJWKSServer(t)
	srv.serveRaw(doc)
	var logs logBuffer
	ks := newTestKeySet(t, srv, KeySetOptions{MinRefetch: -1, Logger: logs.logger()})
	for _, kid := range []string{"good", "declared-es384", "weak", "p384", "off", "hmac", ""} {
		if got, want := ks.known(kid), kid == "good"; got != want {
			t.Errorf("known(%q) = %t, want %t", kid, got, want)
		}
	}
	if got := strings.Count(logs.String(), "jwks key skipped"); got != 7 {
		t.Errorf("%d skipped keys logged, want 7:\n%s", got, logs.String())
	}
	// A document that is not a key set fails the fetch: the known keys stay.
	for _, bad := range []string{`{}`, `{"error":"rate limited"}`, `[]`, `not json`} {
		srv.serveRaw([]byte(bad))
		v, err := New(Options{KeySet: ks})
		if err != nil {
			t.Fatal(err)
		}
		mustReject(t, v, ecSigner(t, "unknown").token(t, goodClaims(uuid.New())), "unknown signing key")
		if !ks.known("good") {
			t.Fatalf("serving %s emptied the key set", bad)
		}
	}
}

func TestNewKeySet_RejectsBadURL(t *testing.T) {
	for _, u := range []string{"", "jwks.json", "ftp://idp/jwks", "https://"} {
		if _, err := NewKeySet(t.Context(), KeySetOptions{URL: u}); err == nil {
			t.Errorf("NewKeySet(%q) accepted", u)
		}
	}
}
