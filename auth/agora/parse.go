package agora

import (
	"crypto/hmac"
	"fmt"
	"hash/crc32"
	"strings"
)

// maxToken bounds the length of a token string (bytes) accepted by Parse.
const maxToken = 64 << 10

// Parsed is what a token says. Fields a format lacks are zero.
type Parsed struct {
	// Format is Format006 or Format007.
	Format string
	// AppID is the app id the token was issued for.
	AppID string
	// IssueTS is the issue time in unix seconds (007 only).
	IssueTS uint32
	// Expire is the token's lifetime in seconds after IssueTS (007 only).
	Expire uint32
	// TS is the token timestamp in unix seconds (006 only).
	TS uint32
	// Salt is the token's salt.
	Salt uint32
	// Channel is the channel name. A 006 token holds only its checksum:
	// Channel is set once VerifyFor has checked it.
	Channel string
	// UID is the signed user string: an account, a decimal uid, or "" for
	// any user. For 006, set once VerifyFor has checked it.
	UID string
	// ChannelCRC and UIDCRC are the CRC-32 (IEEE) of channel and uid
	// carried by a 006 token (006 only).
	ChannelCRC, UIDCRC uint32
	// Privileges maps privilege to expiry: seconds after IssueTS for 007,
	// absolute unix seconds for 006.
	Privileges map[Privilege]uint32
	// Signature is the token's HMAC-SHA256 signature (32 bytes).
	Signature []byte
}

// Parse decodes a 006 or 007 token without checking its signature. It never
// panics, whatever the input.
func Parse(token string) (Parsed, error) {
	p, _, err := parse(token)
	return p, err
}

// parse decodes token and returns the bytes its format signs apart from the
// app id, channel and uid: the signing info of 007, the message of 006.
func parse(token string) (Parsed, []byte, error) {
	if len(token) > maxToken {
		return Parsed{}, nil, fmt.Errorf("%w: token longer than %d bytes", ErrMalformed, maxToken)
	}
	switch {
	case strings.HasPrefix(token, Format007):
		return parse007(token[len(Format007):])
	case strings.HasPrefix(token, Format006):
		return parse006(token)
	}
	prefix := token[:min(len(token), 3)]
	return Parsed{}, nil, fmt.Errorf("%w: version %q (want 006 or 007)", ErrUnsupported, prefix)
}

// Verify decodes a 007 token and checks its signature against
// appCertificate, returning ErrBadSignature if it does not match. It does not
// check expiry. A 006 token yields ErrChannelRequired, since its signature
// covers a channel and uid it does not carry: use VerifyFor.
func Verify(token, appCertificate string) (Parsed, error) {
	if err := checkHex32("app certificate", appCertificate); err != nil {
		return Parsed{}, err
	}
	p, signed, err := parse(token)
	if err != nil {
		return Parsed{}, err
	}
	if p.Format != Format007 {
		return Parsed{}, ErrChannelRequired
	}
	if !hmac.Equal(p.Signature, sign007(appCertificate, p.IssueTS, p.Salt, signed)) {
		return Parsed{}, ErrBadSignature
	}
	return p, nil
}

// VerifyFor decodes a 006 or 007 token, checks that it was issued for
// channel and user (an account, or UIDString(uid)), and checks its signature
// against appCertificate. It returns ErrMismatch for another channel or user
// and ErrBadSignature for a wrong signature. It does not check expiry.
func VerifyFor(token, appCertificate, channel, user string) (Parsed, error) {
	if err := checkHex32("app certificate", appCertificate); err != nil {
		return Parsed{}, err
	}
	p, signed, err := parse(token)
	if err != nil {
		return Parsed{}, err
	}
	if p.Format == Format007 {
		if !hmac.Equal(p.Signature, sign007(appCertificate, p.IssueTS, p.Salt, signed)) {
			return Parsed{}, ErrBadSignature
		}
		if p.Channel != channel || p.UID != user {
			return Parsed{}, fmt.Errorf("%w: token is for channel %q user %q", ErrMismatch, p.Channel, p.UID)
		}
		return p, nil
	}
	if p.ChannelCRC != crc32.ChecksumIEEE([]byte(channel)) || p.UIDCRC != crc32.ChecksumIEEE([]byte(user)) {
		return Parsed{}, fmt.Errorf("%w: checksum of channel or uid differs", ErrMismatch)
	}
	if !hmac.Equal(p.Signature, sign006(appCertificate, p.AppID, channel, user, signed)) {
		return Parsed{}, ErrBadSignature
	}
	p.Channel, p.UID = channel, user
	return p, nil
}

// userString is the signed user string: account if set, else UIDString(uid).
func userString(uid uint32, account string) (string, error) {
	if account == "" {
		return UIDString(uid), nil
	}
	if uid != 0 {
		return "", fmt.Errorf("%w: both UID and Account set", ErrBadOptions)
	}
	return account, nil
}

// checkFields checks that the channel, user and privilege count fit the
// format's u16 lengths.
func checkFields(channel, user string, privileges int) error {
	if err := checkLen("channel", len(channel)); err != nil {
		return err
	}
	if err := checkLen("user", len(user)); err != nil {
		return err
	}
	return checkLen("privilege count", privileges)
}
