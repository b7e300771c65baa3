package auth

import "errors"

// Sentinel errors returned (wrapped with %w) by Verify. Every error from
// Verify matches exactly one of them under errors.Is; callers map them to
// wire codes. Messages never contain the token, a secret or a key.
var (
	// ErrTokenExpired: the token's exp has passed by more than the leeway,
	// and the token has no other defect. The bearer should fetch a new one.
	ErrTokenExpired = errors.New("auth: token expired")

	// ErrTokenNotYetValid: the token's nbf (or iat) lies in the future by
	// more than the leeway, and the token has no other defect. It does not
	// also match ErrTokenInvalid.
	ErrTokenNotYetValid = errors.New("auth: token not yet valid")

	// ErrTokenInvalid: the token cannot be trusted: malformed, too large,
	// bad signature, algorithm not allowed (including "none"), wrong or
	// missing iss/aud when required, missing or non-numeric exp. A token that
	// is both invalid and expired is ErrTokenInvalid.
	ErrTokenInvalid = errors.New("auth: token invalid")

	// ErrNoUserID: the token is valid but carries no usable user id in any
	// of the claim shapes NormaliseClaims understands.
	ErrNoUserID = errors.New("auth: token has no user id")
)
