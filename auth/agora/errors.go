package agora

import "errors"

// Sentinel errors. Functions wrap them with %w and add detail; test with
// errors.Is.
var (
	// ErrBadCredentials: an app id or app certificate that is not exactly
	// 32 hexadecimal characters.
	ErrBadCredentials = errors.New("agora: bad credentials")
	// ErrBadOptions: builder input that cannot be encoded (a field too
	// long, both a uid and an account, an unknown role).
	ErrBadOptions = errors.New("agora: bad token options")
	// ErrMalformed: a token that does not decode.
	ErrMalformed = errors.New("agora: malformed token")
	// ErrUnsupported: a token of another version, or a 007 token holding a
	// service other than RTC.
	ErrUnsupported = errors.New("agora: unsupported token")
	// ErrBadSignature: a token whose signature does not match the app
	// certificate.
	ErrBadSignature = errors.New("agora: bad token signature")
	// ErrMismatch: a token issued for another channel or user than the one
	// the caller expects.
	ErrMismatch = errors.New("agora: token is for another channel or user")
	// ErrChannelRequired: Verify was given a 006 token, whose signature
	// cannot be checked without the channel and uid; use VerifyFor.
	ErrChannelRequired = errors.New("agora: 006 token needs channel and uid to verify")
)
