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
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// testKeys is the key material one test works with, generated fresh.
type testKeys struct {
	secret []byte
	rsa    *rsa.PrivateKey
	ec     *ecdsa.PrivateKey
	rsaPEM []byte // PKIX "PUBLIC KEY" PEM of rsa's public key
}

func newTestKeys(t *testing.T) testKeys {
	t.Helper()
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return testKeys{
		secret: []byte("test-secret-0123456789abcdef0123"),
		rsa:    rk,
		ec:     ek,
		rsaPEM: pemEncode(t, "PUBLIC KEY", pkixDER(t, &rk.PublicKey)),
	}
}

func pkixDER(t *testing.T, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func pemEncode(t *testing.T, typ string, der []byte) []byte {
	t.Helper()
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// sign signs claims with method and key, failing the test on error.
func sign(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// unsignedToken builds "header.claims." by hand, as an attacker would.
func unsignedToken(t *testing.T, header string, claims jwt.MapClaims) string {
	t.Helper()
	body, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString(body) + "."
}

// sentinels are the errors Verify may match; each failure matches exactly one.
func sentinels() []error {
	return []error{ErrTokenExpired, ErrTokenNotYetValid, ErrTokenInvalid, ErrNoUserID}
}

// checkOnly fails unless err matches want and no other sentinel.
func checkOnly(t *testing.T, err, want error) {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want %v", want)
	}
	for _, s := range sentinels() {
		if got := errors.Is(err, s); got != (s == want) {
			t.Fatalf("errors.Is(%q, %v) = %v; want only %v", err, s, got, want)
		}
	}
}
