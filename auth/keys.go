package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// minRSABits is the smallest RSA modulus accepted for RS256 (2048 bits, the
// NIST floor); smaller keys are refused when the Verifier is built rather than
// failing on every token.
const minRSABits = 2048

// LoadPublicKey parses a PEM-encoded public key for Config.PublicKey. It
// accepts a PKIX "PUBLIC KEY" block (RSA or ECDSA P-256), a PKCS #1 "RSA
// PUBLIC KEY" block, or a "CERTIFICATE" whose key is one of those; the first
// such block wins and other block types are skipped. The result is an
// *rsa.PublicKey or an *ecdsa.PublicKey that NewVerifier accepts. Private
// keys, other key types or curves, RSA keys under 2048 bits and input without
// a usable block are errors. The certificate's validity is not checked: only
// its key is used.
func LoadPublicKey(pemBytes []byte) (crypto.PublicKey, error) {
	rest := pemBytes
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("auth: no PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE PEM block found")
		}
		var (
			key crypto.PublicKey
			err error
		)
		switch block.Type {
		case "PUBLIC KEY":
			key, err = x509.ParsePKIXPublicKey(block.Bytes)
		case "RSA PUBLIC KEY":
			key, err = x509.ParsePKCS1PublicKey(block.Bytes)
		case "CERTIFICATE":
			var cert *x509.Certificate
			if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
				key = cert.PublicKey
			}
		default:
			if strings.Contains(block.Type, "PRIVATE KEY") {
				return nil, fmt.Errorf("auth: PEM block %q is a private key; give the public key", block.Type)
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("auth: parse PEM %q block: %w", block.Type, err)
		}
		if err := checkPublicKey(key); err != nil {
			return nil, err
		}
		return key, nil
	}
}

// checkPublicKey reports whether key is one NewVerifier can use: a non-nil
// *rsa.PublicKey of at least minRSABits, or a non-nil *ecdsa.PublicKey on P-256.
func checkPublicKey(key crypto.PublicKey) error {
	switch k := key.(type) {
	case *rsa.PublicKey:
		if k == nil || k.N == nil {
			return errors.New("auth: nil RSA public key")
		}
		if bits := k.N.BitLen(); bits < minRSABits {
			return fmt.Errorf("auth: RSA public key of %d bits; at least %d required", bits, minRSABits)
		}
		return nil
	case *ecdsa.PublicKey:
		if k == nil || k.Curve == nil {
			return errors.New("auth: nil ECDSA public key")
		}
		if k.Curve != elliptic.P256() {
			return fmt.Errorf("auth: ECDSA curve %s unsupported; ES256 needs P-256", k.Curve.Params().Name)
		}
		return nil
	}
	return fmt.Errorf("auth: unsupported public key type %T; want *rsa.PublicKey or *ecdsa.PublicKey (P-256)", key)
}
