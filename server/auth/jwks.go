package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// Defaults of KeySetOptions.
const (
	DefaultJWKSRefresh      = time.Hour
	DefaultJWKSMinRefetch   = 10 * time.Second
	DefaultJWKSFetchTimeout = 5 * time.Second
)

var (
	errUnknownKey  = errors.New("unknown signing key")
	errMissingKid  = errors.New("missing kid header")
	errKeyMismatch = errors.New("algorithm does not match the key")
)

// KeySetOptions configures a KeySet. Zero durations take the defaults.
type KeySetOptions struct {
	URL string
	// Refresh is the period of background refreshes.
	Refresh time.Duration
	// MinRefetch bounds the fetches that tokens with an unknown kid cause (at
	// most one per MinRefetch), so forged kids cannot flood the provider.
	// Negative: no bound.
	MinRefetch time.Duration
	// FetchTimeout bounds one fetch; a slow provider cannot stall requests longer.
	FetchTimeout time.Duration
	Logger       *slog.Logger
}

// KeySet is the identity provider's JWKS: RS256 and ES256 public keys by kid.
// jwkset fetches, caches and refreshes it (and refetches it, rate-limited, for
// an unknown kid); keyfunc reads keys from it for golang-jwt. What we add is
// which keys to trust (trusted.go) and the waiting rules below. Lookups of
// known kids never wait on the network.
type KeySet struct {
	cache    *jwkset.MemoryJWKSet // the trusted keys of the last good fetch; reading it never fetches
	keyfunc  keyfunc.Keyfunc      // reads through cache; an unknown kid makes jwkset refetch
	refetch  *rate.Limiter        // MinRefetch, enforced by jwkset
	document *trustedDocument     // the transport every fetch goes through

	// unknownKid serialises lookups of unknown kids: callers arriving during
	// a refetch wait for it and find what it brought, instead of failing
	// because the refetch budget is spent (a key rotation would otherwise
	// answer 401 to every request but the first that carries the new kid).
	unknownKid sync.Mutex
}

// NewKeySet fetches the key set at o.URL (waiting at most FetchTimeout) and
// keeps it fresh until ctx is done. A provider that is down is logged, not an
// error: known keys keep working, HS256 may too, and an unknown kid refetches.
func NewKeySet(ctx context.Context, o KeySetOptions) (*KeySet, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, errors.New("auth: the JWKS URL must be an absolute http(s) URL")
	}
	if o.Refresh <= 0 {
		o.Refresh = DefaultJWKSRefresh
	}
	if o.MinRefetch < 0 {
		o.MinRefetch = 0 // rate.Every(0) is no limit
	} else if o.MinRefetch == 0 {
		o.MinRefetch = DefaultJWKSMinRefetch
	}
	if o.FetchTimeout <= 0 {
		o.FetchTimeout = DefaultJWKSFetchTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	// The URL may carry an API key in its query: logs name only this.
	source := u.Scheme + "://" + u.Host + u.Path
	k := &KeySet{
		cache:    jwkset.NewMemoryStorage(),
		refetch:  rate.NewLimiter(rate.Every(o.MinRefetch), 1),
		document: &trustedDocument{base: http.DefaultTransport, logger: o.Logger, source: source},
	}
	remote, err := jwkset.NewStorageFromHTTP(o.URL, jwkset.HTTPClientStorageOptions{
		Client:                    &http.Client{Timeout: o.FetchTimeout, Transport: k.document},
		Ctx:                       ctx,
		HTTPTimeout:               o.FetchTimeout,
		NoErrorReturnFirstHTTPReq: true,
		RefreshErrorHandler: func(_ context.Context, err error) {
			o.Logger.Warn("jwks fetch failed; keeping the keys already known",
				"source", source, "known_keys", k.size(), "err", redactURLError(err))
		},
		RefreshInterval: o.Refresh,
		Storage:         k.cache,
	})
	if err != nil {
		return nil, fmt.Errorf("auth: jwks: %w", redactURLError(err))
	}
	client, err := jwkset.NewHTTPClient(jwkset.HTTPClientOptions{
		HTTPURLs: map[string]jwkset.Storage{o.URL: remote},
		// Also the deadline of the refetch itself (jwkset uses one context).
		RateLimitWaitMax:  o.FetchTimeout,
		RefreshUnknownKID: k.refetch,
	})
	if err != nil {
		return nil, fmt.Errorf("auth: jwks: %w", err)
	}
	if k.keyfunc, err = keyfunc.New(keyfunc.Options{Ctx: ctx, Storage: client}); err != nil {
		return nil, fmt.Errorf("auth: jwks: %w", err)
	}
	return k, nil
}

// Fetches is how many fetches were attempted (tests and diagnostics).
func (k *KeySet) Fetches() int { return int(k.document.fetches.Load()) }

// key returns the public key for t's kid if it may verify t's algorithm. An
// unknown kid triggers a fetch, at most one per MinRefetch across all callers.
func (k *KeySet) key(t *jwt.Token) (any, error) {
	kid, _ := t.Header["kid"].(string)
	if kid == "" {
		return nil, errMissingKid
	}
	if !k.known(kid) {
		k.unknownKid.Lock()
		defer k.unknownKid.Unlock()
		// jwkset would wait for the next refetch allowed (up to FetchTimeout):
		// a forged kid must cost a request nothing, so it fails now instead.
		if !k.known(kid) && k.refetch.Limit() != rate.Inf && k.refetch.Tokens() < 1 {
			return nil, errUnknownKey
		}
	}
	key, err := k.keyfunc.Keyfunc(t)
	switch {
	case err != nil && !k.known(kid):
		return nil, errUnknownKey
	case err != nil: // keyfunc refused it: the key declares another alg
		return nil, errKeyMismatch
	case !fits(key, t.Method.Alg()):
		return nil, errKeyMismatch
	}
	return key, nil
}

// fits says whether key is of the type alg verifies with: an EC key never
// checks RS256, nor an RSA key ES256.
func fits(key any, alg string) bool {
	switch key := key.(type) {
	case *rsa.PublicKey:
		return alg == jwt.SigningMethodRS256.Alg()
	case *ecdsa.PublicKey:
		return alg == jwt.SigningMethodES256.Alg() && key.Curve == elliptic.P256()
	}
	return false
}

func (k *KeySet) known(kid string) bool {
	_, err := k.cache.KeyRead(context.Background(), kid)
	return err == nil
}

func (k *KeySet) size() int {
	keys, _ := k.cache.KeyReadAll(context.Background())
	return len(keys)
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
