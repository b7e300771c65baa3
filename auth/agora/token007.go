package agora

import (
	"bytes"
	"compress/zlib"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
)

// Format007 is the version prefix of AccessToken2 tokens.
const Format007 = "007"

// serviceRTC is the AccessToken2 service type of RTC.
const serviceRTC uint16 = 1

// maxContent bounds a decompressed 007 token (bytes). Real tokens are a few
// hundred bytes; the bound stops a zlib bomb.
const maxContent = 64 << 10

// Token2Options describe an AccessToken2 (007) holding one RTC service.
type Token2Options struct {
	// Channel is the channel name, signed as given.
	Channel string
	// UID is the numeric user id; 0 admits any user. Ignored if Account
	// is set; setting both is an error.
	UID uint32
	// Account is a string user account; when non-empty it is signed
	// instead of UID.
	Account string
	// Expire is the token's lifetime in seconds after IssueTS.
	Expire uint32
	// Privileges maps each privilege to its lifetime in seconds after
	// IssueTS. Agora's builders use the four RTC privileges only.
	Privileges map[Privilege]uint32
	// Salt is mixed into the signing key; draw it with NewSalt.
	Salt uint32
	// IssueTS is the issue time, in unix seconds.
	IssueTS uint32
}

// BuildToken2 returns the AccessToken2 ("007") for o, byte-identical to
// Agora's Go builder given the same salt and issue time.
func BuildToken2(c Credentials, o Token2Options) (string, error) {
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
	var info packer
	info.str([]byte(c.AppID))
	info.u32(o.IssueTS)
	info.u32(o.Expire)
	info.u32(o.Salt)
	info.u16(1) // service count: RTC only
	info.u16(serviceRTC)
	info.privileges(o.Privileges)
	info.str([]byte(o.Channel))
	info.str([]byte(user))

	var content packer
	content.str(sign007(c.AppCertificate, o.IssueTS, o.Salt, info.buf))
	content.buf = append(content.buf, info.buf...)

	var z bytes.Buffer
	zw := zlib.NewWriter(&z) // default level: reproduces Agora's vectors
	if _, err := zw.Write(content.buf); err != nil {
		return "", fmt.Errorf("agora: compressing token: %w", err)
	}
	if err := zw.Close(); err != nil {
		return "", fmt.Errorf("agora: compressing token: %w", err)
	}
	return Format007 + base64.StdEncoding.EncodeToString(z.Bytes()), nil
}

// BuildRTCToken2 follows Agora's RtcTokenBuilder2.BuildTokenWithUserAccount:
// the token lives tokenExpire seconds after issueTS, and role's privileges
// each privilegeExpire seconds. user is an account, or UIDString(uid) for a
// numeric uid.
func BuildRTCToken2(c Credentials, channel, user string, role Role, tokenExpire, privilegeExpire, salt, issueTS uint32) (string, error) {
	privs, err := role.privileges(privilegeExpire)
	if err != nil {
		return "", err
	}
	return BuildToken2(c, Token2Options{
		Channel:    channel,
		Account:    user,
		Expire:     tokenExpire,
		Privileges: privs,
		Salt:       salt,
		IssueTS:    issueTS,
	})
}

// sign007 returns HMAC(signing key, info), where the signing key is
// HMAC(key = u32 salt, HMAC(key = u32 issueTS, certificate)).
func sign007(certificate string, issueTS, salt uint32, info []byte) []byte {
	key := hmacSHA256(binary.LittleEndian.AppendUint32(nil, issueTS), []byte(certificate))
	key = hmacSHA256(binary.LittleEndian.AppendUint32(nil, salt), key)
	return hmacSHA256(key, info)
}

func hmacSHA256(key, msg []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(msg)
	return h.Sum(nil)
}

// parse007 decodes the part of a 007 token after its prefix. It returns the
// signed bytes (the signing info) along with the fields.
func parse007(body string) (Parsed, []byte, error) {
	raw, err := base64.StdEncoding.DecodeString(body)
	if err != nil {
		return Parsed{}, nil, fmt.Errorf("%w: base64: %v", ErrMalformed, err)
	}
	content, err := inflate(raw)
	if err != nil {
		return Parsed{}, nil, err
	}
	r := reader{b: content}
	p := Parsed{Format: Format007, Signature: r.str("signature")}
	info := r.b
	p.AppID = string(r.str("app id"))
	p.IssueTS = r.u32("issue time")
	p.Expire = r.u32("expire")
	p.Salt = r.u32("salt")
	services := r.u16("service count")
	seenRTC := false
	for range services {
		typ := r.u16("service type")
		if r.err != nil {
			break
		}
		if typ != serviceRTC {
			return Parsed{}, nil, fmt.Errorf("%w: service type %d (only RTC, type 1, is supported)", ErrUnsupported, typ)
		}
		if seenRTC {
			r.fail("RTC service repeated")
			break
		}
		seenRTC = true
		p.Privileges = r.privileges()
		p.Channel = string(r.str("channel"))
		p.UID = string(r.str("uid"))
	}
	r.end("services")
	if r.err != nil {
		return Parsed{}, nil, r.err
	}
	if len(p.Signature) != sha256.Size {
		return Parsed{}, nil, fmt.Errorf("%w: signature is %d bytes, want %d", ErrMalformed, len(p.Signature), sha256.Size)
	}
	return p, info, nil
}

// inflate decompresses a zlib stream of at most maxContent bytes, checking
// its Adler-32.
func inflate(raw []byte) ([]byte, error) {
	zr, err := zlib.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("%w: zlib: %v", ErrMalformed, err)
	}
	out, err := io.ReadAll(io.LimitReader(zr, maxContent+1))
	if err != nil {
		return nil, fmt.Errorf("%w: zlib: %v", ErrMalformed, err)
	}
	if len(out) > maxContent {
		return nil, fmt.Errorf("%w: decompressed token exceeds %d bytes", ErrMalformed, maxContent)
	}
	return out, nil
}
