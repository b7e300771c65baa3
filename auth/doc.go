// Package auth verifies the JSON Web Tokens that admit people to sessions and
// turns them into a normalised Identity.
//
// A Verifier accepts only the algorithms its Config has keys for (HS256 with
// a shared secret, RS256 with an RSA public key, ES256 with a P-256 public
// key), requires an expiry, checks exp, nbf and iat with a small leeway, and
// checks iss and aud when configured. "none" and algorithm confusion are
// rejected. Errors are the sentinels in errors.go; callers map them with
// errors.Is.
//
// The legacy backend issued tokens in several claim shapes. NormaliseClaims
// in claims.go is the one place those shapes are understood; everything else
// sees only Identity.
//
// Mint and GenerateSecret issue HS256 tokens for dev mode, the bots and the
// `sanctuary token jwt` command.
//
// The package imports no other package of this module and holds no
// package-level mutable state.
package auth
