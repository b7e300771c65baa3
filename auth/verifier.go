package auth

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// DefaultLeeway is the clock skew tolerated on exp, nbf and iat when
// Config.Leeway is 0.
const DefaultLeeway = 30 * time.Second

// maxTokenBytes bounds the size of a token Verify will parse (8 KiB); real
// tokens are a few hundred bytes, and a bound keeps parsing cheap.
const maxTokenBytes = 8 << 10

// Config says which tokens a Verifier accepts. It is built in main and passed
// to NewVerifier, which copies what it needs.
type Config struct {
	HMACSecret []byte           // enables HS256 when non-empty
	PublicKey  crypto.PublicKey // *rsa.PublicKey (≥ 2048 bits) enables RS256, *ecdsa.PublicKey (P-256) enables ES256; nil for none
	Issuer     string           // required iss when non-empty
	Audience   string           // required among aud when non-empty
	Leeway     time.Duration    // for exp/nbf/iat; 0 means DefaultLeeway; negative is an error
}

// Verifier checks tokens against one Config. It is immutable after
// NewVerifier and safe for concurrent use.
type Verifier struct {
	parser *jwt.Parser      // allow-list, leeway, iss/aud, exp required; never nil
	secret []byte           // private copy of the HS256 secret; nil when HS256 is off
	rsaKey *rsa.PublicKey   // RS256 key; nil when RS256 is off
	ecKey  *ecdsa.PublicKey // ES256 key (P-256); nil when ES256 is off
}

// NewVerifier builds a Verifier accepting exactly the algorithms cfg has keys
// for: HS256 when HMACSecret is non-empty, RS256 when PublicKey is an RSA key,
// ES256 when it is a P-256 ECDSA key. It fails when neither a secret nor a key
// is configured, when the key is of an unsupported type, curve or size, or
// when Leeway is negative. The returned error never contains key material.
func NewVerifier(cfg Config) (*Verifier, error) {
	v := &Verifier{}
	var methods []string
	if len(cfg.HMACSecret) > 0 {
		v.secret = bytes.Clone(cfg.HMACSecret)
		methods = append(methods, jwt.SigningMethodHS256.Alg())
	}
	if cfg.PublicKey != nil {
		if err := checkPublicKey(cfg.PublicKey); err != nil {
			return nil, err
		}
		switch k := cfg.PublicKey.(type) {
		case *rsa.PublicKey:
			v.rsaKey = k
			methods = append(methods, jwt.SigningMethodRS256.Alg())
		case *ecdsa.PublicKey:
			v.ecKey = k
			methods = append(methods, jwt.SigningMethodES256.Alg())
		}
	}
	if len(methods) == 0 {
		return nil, errors.New("auth: no HMAC secret or public key configured")
	}
	leeway := cfg.Leeway
	switch {
	case leeway < 0:
		return nil, fmt.Errorf("auth: negative leeway %v", leeway)
	case leeway == 0:
		leeway = DefaultLeeway
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(methods),
		jwt.WithLeeway(leeway),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithJSONNumber(), // keeps numeric user ids above 2^53 exact
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	v.parser = jwt.NewParser(opts...)
	return v, nil
}

// Verify checks token (surrounding spaces and a "Bearer " prefix are ignored)
// and returns the Identity it carries, normalised by NormaliseClaims. On
// failure the Identity is zero and the error matches exactly one of
// ErrTokenInvalid, ErrTokenExpired, ErrTokenNotYetValid and ErrNoUserID under
// errors.Is. When a token has several defects, ErrTokenInvalid wins over
// ErrTokenExpired, which wins over ErrTokenNotYetValid. An iat more than the
// leeway in the future is ErrTokenNotYetValid.
func (v *Verifier) Verify(token string) (Identity, error) {
	token = strings.TrimSpace(token)
	if len(token) > 7 && strings.EqualFold(token[:7], "bearer ") {
		token = strings.TrimSpace(token[7:])
	}
	if len(token) > maxTokenBytes {
		return Identity{}, fmt.Errorf("%w: token longer than %d bytes", ErrTokenInvalid, maxTokenBytes)
	}
	claims := jwt.MapClaims{}
	if _, err := v.parser.ParseWithClaims(token, claims, v.keyFor); err != nil {
		return Identity{}, classify(err)
	}
	return NormaliseClaims(claims)
}

// errMethodMismatch is returned by keyFor when no configured key belongs to
// the token's algorithm.
var errMethodMismatch = errors.New("signing method does not match a configured key")

// keyFor is the jwt key function. It hands out a key only when the token's
// method is of the key's own type, so that, say, an HS256 token can never be
// checked against an RSA public key's bytes (algorithm confusion), whatever
// the allow-list says.
func (v *Verifier) keyFor(t *jwt.Token) (any, error) {
	switch m := t.Method.(type) {
	case *jwt.SigningMethodHMAC:
		if m == jwt.SigningMethodHS256 && v.secret != nil {
			return v.secret, nil
		}
	case *jwt.SigningMethodRSA:
		if m == jwt.SigningMethodRS256 && v.rsaKey != nil {
			return v.rsaKey, nil
		}
	case *jwt.SigningMethodECDSA:
		if m == jwt.SigningMethodES256 && v.ecKey != nil {
			return v.ecKey, nil
		}
	}
	return nil, errMethodMismatch
}

// classify maps a jwt error to exactly one of this package's sentinels. The
// jwt error is kept as text (%v), not wrapped, so errors.Is sees only ours.
// Anything not known to be a pure timing problem is ErrTokenInvalid.
func classify(err error) error {
	defects := []error{
		jwt.ErrTokenMalformed, jwt.ErrTokenUnverifiable, jwt.ErrTokenSignatureInvalid,
		jwt.ErrTokenRequiredClaimMissing, jwt.ErrTokenInvalidAudience, jwt.ErrTokenInvalidIssuer,
		jwt.ErrTokenInvalidSubject, jwt.ErrTokenInvalidId, jwt.ErrInvalidType,
		jwt.ErrInvalidKey, jwt.ErrInvalidKeyType, jwt.ErrHashUnavailable,
	}
	sentinel := ErrTokenInvalid
	switch {
	case isAny(err, defects):
	case errors.Is(err, jwt.ErrTokenExpired):
		sentinel = ErrTokenExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		sentinel = ErrTokenNotYetValid
	}
	return fmt.Errorf("%w: %v", sentinel, err)
}

// isAny reports whether err matches any of targets.
func isAny(err error, targets []error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}
