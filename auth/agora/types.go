package agora

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/big"
	"strconv"
)

// Privilege is an RTC privilege key, as numbered by Agora in both formats.
type Privilege uint16

// RTC privileges.
const (
	PrivilegeJoinChannel  Privilege = 1
	PrivilegePublishAudio Privilege = 2
	PrivilegePublishVideo Privilege = 3
	PrivilegePublishData  Privilege = 4
)

// String names the four RTC privileges and prints others by number.
func (p Privilege) String() string {
	switch p {
	case PrivilegeJoinChannel:
		return "join-channel"
	case PrivilegePublishAudio:
		return "publish-audio"
	case PrivilegePublishVideo:
		return "publish-video"
	case PrivilegePublishData:
		return "publish-data"
	}
	return "privilege(" + strconv.Itoa(int(p)) + ")"
}

// Role selects privileges as Agora's RtcTokenBuilder does: a publisher gets
// all four RTC privileges, a subscriber only PrivilegeJoinChannel. The values
// are Agora's. The zero Role is invalid.
type Role int

// Roles.
const (
	RolePublisher  Role = 1
	RoleSubscriber Role = 2
)

// String returns "publisher", "subscriber", or "role(N)".
func (r Role) String() string {
	switch r {
	case RolePublisher:
		return "publisher"
	case RoleSubscriber:
		return "subscriber"
	}
	return "role(" + strconv.Itoa(int(r)) + ")"
}

// ParseRole maps "publisher" and "subscriber" to their Role; anything else
// is an ErrBadOptions.
func ParseRole(s string) (Role, error) {
	switch s {
	case "publisher":
		return RolePublisher, nil
	case "subscriber":
		return RoleSubscriber, nil
	}
	return 0, fmt.Errorf("%w: unknown role %q (want publisher or subscriber)", ErrBadOptions, s)
}

// privileges returns the privilege map of role r, every privilege set to
// expire.
func (r Role) privileges(expire uint32) (map[Privilege]uint32, error) {
	switch r {
	case RolePublisher:
		return map[Privilege]uint32{
			PrivilegeJoinChannel:  expire,
			PrivilegePublishAudio: expire,
			PrivilegePublishVideo: expire,
			PrivilegePublishData:  expire,
		}, nil
	case RoleSubscriber:
		return map[Privilege]uint32{PrivilegeJoinChannel: expire}, nil
	}
	return nil, fmt.Errorf("%w: unknown role %d", ErrBadOptions, int(r))
}

// Credentials are an Agora project's app id and app certificate. Both are 32
// hexadecimal characters; their case is kept, since both are signed as text.
type Credentials struct {
	AppID          string
	AppCertificate string
}

// Validate reports an ErrBadCredentials unless AppID and AppCertificate are
// both 32 hexadecimal characters. The certificate never appears in the error.
func (c Credentials) Validate() error {
	if err := checkHex32("app id", c.AppID); err != nil {
		return err
	}
	return checkHex32("app certificate", c.AppCertificate)
}

// idLen is the length in characters of an app id or app certificate.
const idLen = 32

func checkHex32(what, s string) error {
	if len(s) != idLen {
		return fmt.Errorf("%w: %s must be %d hex characters, got %d", ErrBadCredentials, what, idLen, len(s))
	}
	if _, err := hex.DecodeString(s); err != nil {
		return fmt.Errorf("%w: %s is not hexadecimal", ErrBadCredentials, what)
	}
	return nil
}

// UIDString is the user string Agora signs for a numeric uid: its decimal
// form, or "" for uid 0, which admits any user.
func UIDString(uid uint32) string {
	if uid == 0 {
		return ""
	}
	return strconv.FormatUint(uint64(uid), 10)
}

// maxSalt bounds NewSalt to the range Agora's builders draw from.
const maxSalt = 99999999

// NewSalt returns a random salt in [1, 99999999] from crypto/rand, the range
// Agora's own builders use.
func NewSalt() (uint32, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(maxSalt))
	if err != nil {
		return 0, fmt.Errorf("agora: drawing salt: %w", err)
	}
	return uint32(n.Int64()) + 1, nil
}
