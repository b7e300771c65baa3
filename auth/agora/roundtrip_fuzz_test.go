package agora

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"maps"
	"testing"
)

// FuzzBuildParse builds a token of either format from arbitrary options
// and checks the round trip: Parse gives back every field the format
// carries, Verify and VerifyFor accept it for its channel and user and
// refuse another channel, and building again from what Parse returned gives
// the same token, byte for byte. privs is read as (u16 privilege, u32
// expiry) pairs.
func FuzzBuildParse(f *testing.F) {
	f.Add(true, testChannel, "", uint32(2882341273), uint32(600), uint32(1), uint32(1111111), []byte{1, 0, 0x58, 2, 0, 0})
	f.Add(false, testChannel, "", uint32(2882341273), uint32(0), uint32(1), uint32(1111111), []byte{1, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0})
	f.Add(true, "", "", uint32(0), uint32(0), uint32(0), uint32(0), []byte{})
	f.Add(false, "ch", "account", uint32(0), uint32(1), uint32(99999999), uint32(4294967295), []byte{255, 255, 1, 2, 3, 4})
	f.Add(true, "ch", "account", uint32(7), uint32(1), uint32(2), uint32(3), []byte{})
	f.Fuzz(func(t *testing.T, is007 bool, channel, account string, uid, expire, salt, ts uint32, privBytes []byte) {
		privs := map[Privilege]uint32{}
		for b := privBytes; len(b) >= 6; b = b[6:] {
			privs[Privilege(binary.LittleEndian.Uint16(b))] = binary.LittleEndian.Uint32(b[2:])
		}
		user := account
		if account == "" {
			user = UIDString(uid)
		}
		build := func(channel, account string, uid uint32) (string, error) {
			if is007 {
				return BuildToken2(testCreds, Token2Options{Channel: channel, UID: uid, Account: account,
					Expire: expire, Privileges: privs, Salt: salt, IssueTS: ts})
			}
			return BuildToken006(testCreds, Token1Options{Channel: channel, UID: uid, Account: account,
				Privileges: privs, Salt: salt, TS: ts})
		}
		token, err := build(channel, account, uid)
		if account != "" && uid != 0 {
			if !errors.Is(err, ErrBadOptions) {
				t.Fatalf("both an account and a uid: err %v, want ErrBadOptions", err)
			}
			return
		}
		if err != nil {
			tooLong := len(channel) > 0xffff || len(user) > 0xffff || !is007 && 10+6*len(privs) > 0xffff
			if !errors.Is(err, ErrBadOptions) || !tooLong {
				t.Fatalf("build: %v", err)
			}
			return
		}

		p, err := Parse(token)
		if err != nil {
			t.Fatalf("Parse of a built token: %v", err)
		}
		if p.AppID != testCreds.AppID || p.Salt != salt || !maps.Equal(p.Privileges, privs) || len(p.Signature) != 32 {
			t.Fatalf("Parse gives %+v; built with salt %d privileges %v", p, salt, privs)
		}
		if is007 {
			if p.Format != Format007 || p.IssueTS != ts || p.Expire != expire || p.Channel != channel || p.UID != user {
				t.Fatalf("Parse gives %+v; built with ts %d expire %d channel %q user %q", p, ts, expire, channel, user)
			}
			if _, err := Verify(token, testCreds.AppCertificate); err != nil {
				t.Fatalf("Verify of a built token: %v", err)
			}
		} else if p.Format != Format006 || p.TS != ts ||
			p.ChannelCRC != crc32.ChecksumIEEE([]byte(channel)) || p.UIDCRC != crc32.ChecksumIEEE([]byte(user)) {
			t.Fatalf("Parse gives %+v; built with ts %d channel %q user %q", p, ts, channel, user)
		}
		v, err := VerifyFor(token, testCreds.AppCertificate, channel, user)
		if err != nil || v.Channel != channel || v.UID != user {
			t.Fatalf("VerifyFor its own channel and user: %+v, %v", v, err)
		}
		other := channel + "x"
		if is007 || crc32.ChecksumIEEE([]byte(other)) != p.ChannelCRC {
			if _, err := VerifyFor(token, testCreds.AppCertificate, other, user); !errors.Is(err, ErrMismatch) {
				t.Fatalf("VerifyFor another channel: %v, want ErrMismatch", err)
			}
		}

		// Build again from what the token says: the same bytes.
		again, err := build(v.Channel, v.UID, 0)
		if err != nil || again != token {
			t.Fatalf("rebuilt from the parsed fields: %q, %v; want %q", again, err, token)
		}
	})
}
