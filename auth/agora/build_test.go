package agora

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"errors"
	"maps"
	"strings"
	"testing"
)

// buildCase is one token request, built in both formats.
type buildCase struct {
	name    string
	channel string
	uid     uint32
	account string
	role    Role // if set, built with the BuildRTC* convenience
	expire  uint32
	privs   map[Privilege]uint32
}

func (bc buildCase) user() string {
	if bc.account != "" {
		return bc.account
	}
	return UIDString(bc.uid)
}

var buildCases = []buildCase{
	{name: "uid 0", channel: "room", uid: 0, expire: 3600,
		privs: map[Privilege]uint32{PrivilegeJoinChannel: 3600}},
	{name: "account", channel: "room", account: "test_user", expire: 3600,
		privs: map[Privilege]uint32{PrivilegeJoinChannel: 3600}},
	{name: "publisher", channel: "stage", uid: 42, role: RolePublisher, expire: 7200},
	{name: "subscriber", channel: "stage", account: "listener-7", role: RoleSubscriber, expire: 7200},
	{name: "distinct expiries", channel: testChannel, uid: testUID, expire: 86400,
		privs: map[Privilege]uint32{
			PrivilegeJoinChannel: 86400, PrivilegePublishAudio: 600,
			PrivilegePublishVideo: 60, PrivilegePublishData: 0,
		}},
	{name: "no privileges", channel: "", uid: 1, expire: 1},
	{name: "unicode", channel: "salle ☃", account: "Zoë", expire: 5,
		privs: map[Privilege]uint32{PrivilegePublishAudio: 5}},
}

func TestBuild007(t *testing.T) {
	const salt, ts = 12345, 1700000000
	for _, bc := range buildCases {
		t.Run(bc.name, func(t *testing.T) {
			var (
				token string
				err   error
				privs = bc.privs
			)
			if bc.role != 0 {
				token, err = BuildRTCToken2(testCreds, bc.channel, bc.user(), bc.role, bc.expire, bc.expire, salt, ts)
				privs, _ = bc.role.privileges(bc.expire)
			} else {
				token, err = BuildToken2(testCreds, Token2Options{
					Channel: bc.channel, UID: bc.uid, Account: bc.account,
					Expire: bc.expire, Privileges: privs, Salt: salt, IssueTS: ts,
				})
			}
			if err != nil {
				t.Fatal(err)
			}
			if privs == nil {
				privs = map[Privilege]uint32{}
			}
			want := Parsed{
				Format: Format007, AppID: testCreds.AppID, IssueTS: ts, Expire: bc.expire,
				Salt: salt, Channel: bc.channel, UID: bc.user(), Privileges: privs,
			}
			p, err := Parse(token)
			if err != nil {
				t.Fatal(err)
			}
			checkParsed(t, p, want)
			if p, err = Verify(token, testCreds.AppCertificate); err != nil {
				t.Fatal(err)
			}
			checkParsed(t, p, want)
			if _, err := VerifyFor(token, testCreds.AppCertificate, bc.channel, bc.user()); err != nil {
				t.Fatal(err)
			}
			again, err := BuildToken2(testCreds, Token2Options{
				Channel: p.Channel, Account: p.UID, Expire: p.Expire,
				Privileges: p.Privileges, Salt: p.Salt, IssueTS: p.IssueTS,
			})
			if err != nil || again != token {
				t.Fatalf("round trip: %v\n got %s\nwant %s", err, again, token)
			}
			checkRejects(t, token, bc.channel, bc.user())
		})
	}
}

func TestBuild006(t *testing.T) {
	const salt, ts, expireAt = 12345, 1700086400, 1700003600
	for _, bc := range buildCases {
		t.Run(bc.name, func(t *testing.T) {
			var (
				token string
				err   error
				privs = bc.privs
			)
			if bc.role != 0 {
				token, err = BuildRTCToken006(testCreds, bc.channel, bc.user(), bc.role, expireAt, salt, ts)
				privs, _ = bc.role.privileges(expireAt)
			} else {
				token, err = BuildToken006(testCreds, Token1Options{
					Channel: bc.channel, UID: bc.uid, Account: bc.account,
					Privileges: privs, Salt: salt, TS: ts,
				})
			}
			if err != nil {
				t.Fatal(err)
			}
			if privs == nil {
				privs = map[Privilege]uint32{}
			}
			p, err := VerifyFor(token, testCreds.AppCertificate, bc.channel, bc.user())
			if err != nil {
				t.Fatal(err)
			}
			parsed, err := Parse(token)
			if err != nil {
				t.Fatal(err)
			}
			parsed.Channel, parsed.UID = bc.channel, bc.user()
			checkParsed(t, p, parsed)
			if p.TS != ts || p.Salt != salt || p.AppID != testCreds.AppID {
				t.Fatalf("VerifyFor = %+v", p)
			}
			if !maps.Equal(p.Privileges, privs) {
				t.Fatalf("privileges = %v, want %v", p.Privileges, privs)
			}
			again, err := BuildToken006(testCreds, Token1Options{
				Channel: p.Channel, Account: p.UID, Privileges: p.Privileges, Salt: p.Salt, TS: p.TS,
			})
			if err != nil || again != token {
				t.Fatalf("round trip: %v\n got %s\nwant %s", err, again, token)
			}
			checkRejects(t, token, bc.channel, bc.user())
		})
	}
}

// checkRejects checks that token, valid for channel and user, fails for
// another channel, another user and another certificate.
func checkRejects(t *testing.T, token, channel, user string) {
	t.Helper()
	const otherCert = "00000000000000000000000000000000"
	if _, err := VerifyFor(token, testCreds.AppCertificate, channel+"x", user); !errors.Is(err, ErrMismatch) {
		t.Errorf("other channel: %v, want ErrMismatch", err)
	}
	if _, err := VerifyFor(token, testCreds.AppCertificate, channel, user+"1"); !errors.Is(err, ErrMismatch) {
		t.Errorf("other user: %v, want ErrMismatch", err)
	}
	if _, err := VerifyFor(token, otherCert, channel, user); !errors.Is(err, ErrBadSignature) {
		t.Errorf("other certificate: %v, want ErrBadSignature", err)
	}
}

// recompress re-encodes the content of a 007 token at the given zlib level.
func recompress(t *testing.T, token string, level int) string {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(token, Format007))
	if err != nil {
		t.Fatal(err)
	}
	content, err := inflate(raw)
	if err != nil {
		t.Fatal(err)
	}
	return encode007(t, content, level)
}

// encode007 compresses content at level and makes it a 007 token.
func encode007(t testing.TB, content []byte, level int) string {
	var z bytes.Buffer
	zw, err := zlib.NewWriterLevel(&z, level)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(content)
	zw.Close()
	return Format007 + base64.StdEncoding.EncodeToString(z.Bytes())
}

func TestOtherCompressionVerifies(t *testing.T) {
	for _, level := range []int{zlib.BestCompression, zlib.NoCompression, zlib.BestSpeed, zlib.HuffmanOnly} {
		token := recompress(t, vector007, level)
		if token == vector007 {
			t.Errorf("level %d: same bytes as the default level", level)
		}
		if _, err := Verify(token, testCreds.AppCertificate); err != nil {
			t.Errorf("level %d: %v", level, err)
		}
	}
}

func TestBadCredentials(t *testing.T) {
	good := testCreds.AppID
	bad := []string{
		"",
		good[:31],                          // 31 characters
		good + "0",                         // 33 characters
		"Z" + good[1:],                     // not hex
		"970CA35de60c44645bbae8a215061b3 ", // trailing space
	}
	for _, b := range bad {
		for _, c := range []Credentials{
			{AppID: b, AppCertificate: testCreds.AppCertificate},
			{AppID: testCreds.AppID, AppCertificate: b},
		} {
			if err := c.Validate(); !errors.Is(err, ErrBadCredentials) {
				t.Errorf("Validate(%q) = %v", c, err)
			} else if b != "" && strings.Contains(err.Error(), b) {
				t.Errorf("error %q repeats the secret", err)
			}
			if _, err := BuildToken2(c, Token2Options{Channel: "x"}); !errors.Is(err, ErrBadCredentials) {
				t.Errorf("BuildToken2(%q) = %v", c, err)
			}
			if _, err := BuildToken006(c, Token1Options{Channel: "x"}); !errors.Is(err, ErrBadCredentials) {
				t.Errorf("BuildToken006(%q) = %v", c, err)
			}
		}
		if _, err := Verify(vector007, b); !errors.Is(err, ErrBadCredentials) {
			t.Errorf("Verify(cert %q) = %v", b, err)
		}
		if _, err := VerifyFor(vector006, b, testChannel, ""); !errors.Is(err, ErrBadCredentials) {
			t.Errorf("VerifyFor(cert %q) = %v", b, err)
		}
	}
	if err := testCreds.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestBadOptions(t *testing.T) {
	long := strings.Repeat("a", 1<<16)
	for name, o := range map[string]Token2Options{
		"uid and account": {UID: 1, Account: "a"},
		"long channel":    {Channel: long},
		"long account":    {Account: long},
	} {
		if _, err := BuildToken2(testCreds, o); !errors.Is(err, ErrBadOptions) {
			t.Errorf("BuildToken2 %s: %v", name, err)
		}
		o1 := Token1Options{Channel: o.Channel, UID: o.UID, Account: o.Account}
		if _, err := BuildToken006(testCreds, o1); !errors.Is(err, ErrBadOptions) {
			t.Errorf("BuildToken006 %s: %v", name, err)
		}
	}
	if _, err := BuildRTCToken2(testCreds, "c", "", Role(0), 1, 1, 1, 1); !errors.Is(err, ErrBadOptions) {
		t.Errorf("BuildRTCToken2 role 0: %v", err)
	}
	if _, err := BuildRTCToken006(testCreds, "c", "", Role(7), 1, 1, 1); !errors.Is(err, ErrBadOptions) {
		t.Errorf("BuildRTCToken006 role 7: %v", err)
	}
}

func TestParseRole(t *testing.T) {
	for _, r := range []Role{RolePublisher, RoleSubscriber} {
		got, err := ParseRole(r.String())
		if err != nil || got != r {
			t.Errorf("ParseRole(%q) = %v, %v", r.String(), got, err)
		}
	}
	for _, s := range []string{"", "Publisher", "admin", "attendee"} {
		if _, err := ParseRole(s); !errors.Is(err, ErrBadOptions) {
			t.Errorf("ParseRole(%q) = %v", s, err)
		}
	}
}

func TestNames(t *testing.T) {
	for p, want := range map[Privilege]string{
		PrivilegeJoinChannel: "join-channel", PrivilegePublishAudio: "publish-audio",
		PrivilegePublishVideo: "publish-video", PrivilegePublishData: "publish-data",
		1000: "privilege(1000)",
	} {
		if p.String() != want {
			t.Errorf("%d.String() = %q, want %q", uint16(p), p.String(), want)
		}
	}
	if s := Role(9).String(); s != "role(9)" {
		t.Errorf("Role(9).String() = %q", s)
	}
	if UIDString(0) != "" || UIDString(4294967295) != "4294967295" {
		t.Error("UIDString")
	}
}

func TestNewSalt(t *testing.T) {
	for range 200 {
		s, err := NewSalt()
		if err != nil {
			t.Fatal(err)
		}
		if s == 0 || s > maxSalt {
			t.Fatalf("NewSalt() = %d", s)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		token string
		want  error
	}{
		"empty":          {"", ErrUnsupported},
		"version 005":    {"005" + vector006[3:], ErrUnsupported},
		"007 bad base64": {"007!!!!", ErrMalformed},
		"007 not zlib":   {"007AAAA", ErrMalformed},
		"007 truncated":  {vector007[:len(vector007)-8], ErrMalformed},
		"006 short":      {"006970CA35de", ErrMalformed},
		"006 bad base64": {vector006[:35] + "!!!!", ErrMalformed},
		"006 truncated":  {vector006[:len(vector006)-4], ErrMalformed},
		"006 no content": {vector006[:35], ErrMalformed},
		"too long":       {"007" + strings.Repeat("A", maxToken), ErrMalformed},
	} {
		if _, err := Parse(tc.token); !errors.Is(err, tc.want) {
			t.Errorf("%s: Parse = %v, want %v", name, err, tc.want)
		}
	}
}
