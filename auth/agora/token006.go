package agora

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"hash/crc32"
)

// Format006 is the version prefix of AccessToken tokens.
const Format006 = "006"

// Token1Options describe an AccessToken (006).
type Token1Options struct {
	// Channel is the channel name, signed as given.
	Channel string
	// UID is the numeric user id; 0 admits any user. Ignored if Account
	// is set; setting both is an error.
	UID uint32
	// Account is a string user account; when non-empty it is signed
	// instead of UID.
	Account string
	// Privileges maps each privilege to its absolute expiry in unix
	// seconds; Agora treats 0 as "never expires".
	Privileges map[Privilege]uint32
	// Salt is signed with the message; draw it with NewSalt.
	Salt uint32
	// TS is the token's timestamp, in unix seconds. Agora's builder sets
	// it to the build time plus 24 hours.
	TS uint32
}

// BuildToken006 returns the AccessToken ("006") for o, byte-identical to
// Agora's Go builder given the same salt and ts.
func BuildToken006(c Credentials, o Token1Options) (string, error) {
	if err := c.Validate(); err != nil {
		return "", err
	}
	user, err := userString(o.UID, o.Account)
	if err != nil {
		return "", err
	}
	if err := checkFields(o.Channel, user, len(o.Privileges)); err != nil {
		return "", err
	}
	var msg packer
	msg.u32(o.Salt)
	msg.u32(o.TS)
	msg.privileges(o.Privileges)
	if err := checkLen("privileges", len(msg.buf)); err != nil {
		return "", err
	}

	var content packer
	content.str(sign006(c.AppCertificate, c.AppID, o.Channel, user, msg.buf))
	content.u32(crc32.ChecksumIEEE([]byte(o.Channel)))
	content.u32(crc32.ChecksumIEEE([]byte(user)))
	content.str(msg.buf)
	return Format006 + c.AppID + base64.StdEncoding.EncodeToString(content.buf), nil
}

// BuildRTCToken006 follows Agora's RtcTokenBuilder.BuildTokenWithUserAccount:
// role's privileges all expire at expireAt (unix seconds; 0 never). user is an
// account, or UIDString(uid) for a numeric uid.
func BuildRTCToken006(c Credentials, channel, user string, role Role, expireAt, salt, ts uint32) (string, error) {
	privs, err := role.privileges(expireAt)
	if err != nil {
		return "", err
	}
	return BuildToken006(c, Token1Options{
		Channel:    channel,
		Account:    user,
		Privileges: privs,
		Salt:       salt,
		TS:         ts,
	})
}

// sign006 returns HMAC(key = certificate, appID + channel + user + message).
func sign006(certificate, appID, channel, user string, message []byte) []byte {
	signed := make([]byte, 0, len(appID)+len(channel)+len(user)+len(message))
	signed = append(signed, appID...)
	signed = append(signed, channel...)
	signed = append(signed, user...)
	signed = append(signed, message...)
	return hmacSHA256([]byte(certificate), signed)
}

// parse006 decodes a whole 006 token. It returns the raw message, which is
// signed together with the app id, channel and uid.
func parse006(token string) (Parsed, []byte, error) {
	if len(token) < len(Format006)+idLen {
		return Parsed{}, nil, fmt.Errorf("%w: 006 token shorter than its app id", ErrMalformed)
	}
	p := Parsed{Format: Format006, AppID: token[len(Format006) : len(Format006)+idLen]}
	content, err := base64.StdEncoding.DecodeString(token[len(Format006)+idLen:])
	if err != nil {
		return Parsed{}, nil, fmt.Errorf("%w: base64: %v", ErrMalformed, err)
	}
	r := reader{b: content}
	p.Signature = r.str("signature")
	p.ChannelCRC = r.u32("channel crc")
	p.UIDCRC = r.u32("uid crc")
	msg := r.str("message")
	r.end("message")

	m := reader{b: msg, err: r.err}
	p.Salt = m.u32("salt")
	p.TS = m.u32("ts")
	p.Privileges = m.privileges()
	m.end("privileges")
	if m.err != nil {
		return Parsed{}, nil, m.err
	}
	if len(p.Signature) != sha256.Size {
		return Parsed{}, nil, fmt.Errorf("%w: signature is %d bytes, want %d", ErrMalformed, len(p.Signature), sha256.Size)
	}
	return p, msg, nil
}
