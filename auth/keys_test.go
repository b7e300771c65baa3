package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"
)

// selfSigned returns a DER certificate for pub, signed by priv.
func selfSigned(t *testing.T, pub, priv any) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "legacy-issuer"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestLoadPublicKey(t *testing.T) {
	k := newTestKeys(t)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecPKIX := pemEncode(t, "PUBLIC KEY", pkixDER(t, &k.ec.PublicKey))
	rsaPKCS1 := pemEncode(t, "RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey))
	rsaCert := pemEncode(t, "CERTIFICATE", selfSigned(t, &k.rsa.PublicKey, k.rsa))
	ecCert := pemEncode(t, "CERTIFICATE", selfSigned(t, &k.ec.PublicKey, k.ec))
	ecDER, err := x509.MarshalECPrivateKey(k.ec)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		pem  []byte
		want crypto.PublicKey // nil: an error is expected
	}{
		{"PKIX RSA", k.rsaPEM, &k.rsa.PublicKey},
		{"PKIX EC P-256", ecPKIX, &k.ec.PublicKey},
		{"PKCS1 RSA PUBLIC KEY", rsaPKCS1, &k.rsa.PublicKey},
		{"RSA CERTIFICATE", rsaCert, &k.rsa.PublicKey},
		{"EC CERTIFICATE", ecCert, &k.ec.PublicKey},
		{"leading text and unknown block skipped", append(append([]byte("comment\n"),
			pemEncode(t, "X509 CRL", []byte{1, 2, 3})...), ecPKIX...), &k.ec.PublicKey},
		{"certificate chain: first wins", append(append([]byte{}, rsaCert...), ecCert...), &k.rsa.PublicKey},
		{"garbage", []byte("not a pem at all"), nil},
		{"empty", nil, nil},
		{"PEM with garbage body", pemEncode(t, "PUBLIC KEY", []byte("garbage")), nil},
		{"certificate with garbage body", pemEncode(t, "CERTIFICATE", []byte("garbage")), nil},
		{"private key", pemEncode(t, "EC PRIVATE KEY", ecDER), nil},
		{"ed25519", pemEncode(t, "PUBLIC KEY", pkixDER(t, edPub)), nil},
		{"P-384", pemEncode(t, "PUBLIC KEY", pkixDER(t, &p384.PublicKey)), nil},
		{"RSA 1024", pemEncode(t, "PUBLIC KEY", pkixDER(t, &small.PublicKey)), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := LoadPublicKey(tc.pem)
			if tc.want == nil {
				if err == nil || got != nil {
					t.Fatalf("LoadPublicKey = %T, %v; want nil and an error", got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadPublicKey: %v", err)
			}
			eq, ok := got.(interface{ Equal(crypto.PublicKey) bool })
			if !ok || !eq.Equal(tc.want) {
				t.Fatalf("got %T, not the expected key", got)
			}
			if _, err := NewVerifier(Config{PublicKey: got}); err != nil {
				t.Fatalf("NewVerifier with loaded key: %v", err)
			}
		})
	}
}
