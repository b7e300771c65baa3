package agora

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"maps"
	"math/rand"
	"strings"
	"testing"
	"testing/quick"
)

// randomInput is one random token request.
type randomInput struct {
	channel, account string
	uid              uint32
	expire, salt, ts uint32
	privs            map[Privilege]uint32
}

func (in randomInput) user() string {
	if in.account != "" {
		return in.account
	}
	return UIDString(in.uid)
}

func randomBytes(rng *rand.Rand, max int) string {
	b := make([]byte, rng.Intn(max+1))
	rng.Read(b)
	return string(b)
}

func newRandomInput(rng *rand.Rand) randomInput {
	in := randomInput{
		channel: randomBytes(rng, 64),
		expire:  rng.Uint32(), salt: rng.Uint32(), ts: rng.Uint32(),
		privs: map[Privilege]uint32{},
	}
	switch rng.Intn(3) {
	case 0:
		in.account = randomBytes(rng, 64)
	case 1:
		in.uid = rng.Uint32()
	} // else uid 0
	for p := PrivilegeJoinChannel; p <= PrivilegePublishData; p++ {
		if rng.Intn(2) == 0 {
			in.privs[p] = rng.Uint32()
		}
	}
	if rng.Intn(8) == 0 {
		in.privs[Privilege(rng.Intn(1<<16))] = rng.Uint32()
	}
	return in
}

// TestPropertyBuildVerify builds 500 random tokens of each format, checks
// that they parse and verify to their inputs, and that changing any single
// byte of their decoded content makes Parse or Verify fail.
func TestPropertyBuildVerify(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	var z bytes.Buffer
	// Re-encoding as stored blocks keeps 500 × ~150 flips fast under
	// -race, and shows again that Verify accepts any zlib stream.
	zw, _ := zlib.NewWriterLevel(&z, zlib.NoCompression)
	reencode007 := func(content []byte) string {
		z.Reset()
		zw.Reset(&z)
		zw.Write(content)
		zw.Close()
		return Format007 + base64.StdEncoding.EncodeToString(z.Bytes())
	}
	n := 500
	if testing.Short() {
		n = 50
	}
	for i := range n {
		in := newRandomInput(rng)
		tok7, err := BuildToken2(testCreds, Token2Options{
			Channel: in.channel, UID: in.uid, Account: in.account, Expire: in.expire,
			Privileges: in.privs, Salt: in.salt, IssueTS: in.ts,
		})
		if err != nil {
			t.Fatalf("#%d: %v", i, err)
		}
		checkParsed(t, mustVerify(t, tok7, in), Parsed{
			Format: Format007, AppID: testCreds.AppID, IssueTS: in.ts, Expire: in.expire,
			Salt: in.salt, Channel: in.channel, UID: in.user(), Privileges: in.privs,
		})
		raw, _ := base64.StdEncoding.DecodeString(tok7[len(Format007):])
		content, err := inflate(raw)
		if err != nil {
			t.Fatal(err)
		}
		for j := range content {
			bad := bytes.Clone(content)
			bad[j] ^= byte(1 + rng.Intn(255))
			if _, err := Verify(reencode007(bad), testCreds.AppCertificate); err == nil {
				t.Fatalf("#%d: 007 with byte %d changed still verifies", i, j)
			}
		}

		tok6, err := BuildToken006(testCreds, Token1Options{
			Channel: in.channel, UID: in.uid, Account: in.account,
			Privileges: in.privs, Salt: in.salt, TS: in.ts,
		})
		if err != nil {
			t.Fatalf("#%d: %v", i, err)
		}
		p6 := mustVerify(t, tok6, in)
		if p6.TS != in.ts || p6.Salt != in.salt || !maps.Equal(p6.Privileges, in.privs) {
			t.Fatalf("#%d: 006 parsed %+v from %+v", i, p6, in)
		}
		prefix := tok6[:len(Format006)+idLen]
		content, _ = base64.StdEncoding.DecodeString(tok6[len(prefix):])
		for j := range content {
			bad := bytes.Clone(content)
			bad[j] ^= byte(1 + rng.Intn(255))
			tok := prefix + base64.StdEncoding.EncodeToString(bad)
			if _, err := VerifyFor(tok, testCreds.AppCertificate, in.channel, in.user()); err == nil {
				t.Fatalf("#%d: 006 with byte %d changed still verifies", i, j)
			}
		}
		for j := len(Format006); j < len(prefix); j++ {
			bad := []byte(tok6)
			bad[j] ^= byte(1 + rng.Intn(255))
			if _, err := VerifyFor(string(bad), testCreds.AppCertificate, in.channel, in.user()); err == nil {
				t.Fatalf("#%d: 006 with app id byte %d changed still verifies", i, j)
			}
		}
	}
}

// mustVerify verifies token for in's channel and user, and for 007 also
// with Verify.
func mustVerify(t *testing.T, token string, in randomInput) Parsed {
	t.Helper()
	p, err := VerifyFor(token, testCreds.AppCertificate, in.channel, in.user())
	if err != nil {
		t.Fatalf("VerifyFor(%+v): %v", in, err)
	}
	if strings.HasPrefix(token, Format007) {
		if _, err := Verify(token, testCreds.AppCertificate); err != nil {
			t.Fatalf("Verify(%+v): %v", in, err)
		}
	}
	return p
}

// TestQuickRoundTrip: for random inputs from testing/quick, both formats
// verify, and rebuilding from what was parsed gives the same token.
func TestQuickRoundTrip(t *testing.T) {
	roundTrip := func(channel, account string, uid, expire, salt, ts uint32, raw map[uint16]uint32) bool {
		if account != "" {
			uid = 0
		}
		privs := make(map[Privilege]uint32, len(raw))
		for k, v := range raw {
			privs[Privilege(k)] = v
		}
		user := account
		if user == "" {
			user = UIDString(uid)
		}
		tok7, err := BuildToken2(testCreds, Token2Options{Channel: channel, UID: uid, Account: account,
			Expire: expire, Privileges: privs, Salt: salt, IssueTS: ts})
		if err != nil {
			return false
		}
		p7, err := Verify(tok7, testCreds.AppCertificate)
		if err != nil || p7.Channel != channel || p7.UID != user || !maps.Equal(p7.Privileges, privs) {
			return false
		}
		again7, err := BuildToken2(testCreds, Token2Options{Channel: p7.Channel, Account: p7.UID,
			Expire: p7.Expire, Privileges: p7.Privileges, Salt: p7.Salt, IssueTS: p7.IssueTS})
		if err != nil || again7 != tok7 {
			return false
		}
		tok6, err := BuildToken006(testCreds, Token1Options{Channel: channel, UID: uid, Account: account,
			Privileges: privs, Salt: salt, TS: ts})
		if err != nil {
			return false
		}
		p6, err := VerifyFor(tok6, testCreds.AppCertificate, channel, user)
		if err != nil || !maps.Equal(p6.Privileges, privs) {
			return false
		}
		again6, err := BuildToken006(testCreds, Token1Options{Channel: p6.Channel, Account: p6.UID,
			Privileges: p6.Privileges, Salt: p6.Salt, TS: p6.TS})
		return err == nil && again6 == tok6
	}
	cfg := &quick.Config{MaxCount: 300, Rand: rand.New(rand.NewSource(2))}
	if err := quick.Check(roundTrip, cfg); err != nil {
		t.Fatal(err)
	}
}
