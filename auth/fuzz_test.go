package auth

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// fuzzSecret signs the tokens of the fuzz targets (HS256).
var fuzzSecret = []byte("fuzz-secret-0123456789abcdef0123")

// claimSeeds are claim sets in every legacy shape NormaliseClaims knows,
// and some it must refuse. exp 4102444800 is 2100-01-01, so that signed
// seeds stay valid.
var claimSeeds = []string{
	`{"sub":"u1","name":"Ann","role":"host","session":"s1","exp":4102444800}`,
	`{"userId":"u2","alias":" Bob\u0007 ","roles":["member","Co-Host"],"room":"r","exp":4102444800}`,
	`{"user_id":12345678901234567890123,"displayName":"x","roles":"guest, owner","sessionId":7,"exp":4102444800}`,
	`{"id":1.5e3,"user":{"alias":"","name":"N","role":["mod"]},"session_id":"  ","exp":4102444800}`,
	`{"user":{"id":"  u5 ","displayName":"\u202e\u0000"},"role":42,"exp":4102444800}`,
	`{"sub":"","userId":null,"user_id":true,"id":{},"user":{"id":1e400},"exp":4102444800}`,
	`{"sub":"   ","exp":4102444800}`,
	`{"sub":-0.0,"name":"` + strings.Repeat("é", 70) + `","exp":4102444800}`,
	`{"sub":"u9","exp":"4102444800","nbf":4102444800,"iat":1}`,
	`{"sub":"u10","exp":1}`,
	`[]`,
	`{}`,
}

// checkIdentity asserts what every accepted Identity guarantees.
func checkIdentity(t *testing.T, id Identity) {
	t.Helper()
	if id.UserID == "" || id.UserID != strings.TrimSpace(id.UserID) {
		t.Fatalf("user id %q: want non-empty and trimmed", id.UserID)
	}
	switch id.Role {
	case RoleHost, RoleModerator, RoleParticipant:
	default:
		t.Fatalf("role %q is not a canonical role", id.Role)
	}
	if id.Session != strings.TrimSpace(id.Session) {
		t.Fatalf("session %q is not trimmed", id.Session)
	}
	a := id.Alias
	if !utf8.ValidString(a) || a != strings.TrimSpace(a) || utf8.RuneCountInString(a) > maxAliasRunes ||
		strings.IndexFunc(a, unicode.IsControl) >= 0 {
		t.Fatalf("alias %q: want valid UTF-8, trimmed, no control characters, at most %d runes", a, maxAliasRunes)
	}
}

// checkVerifyError asserts the contract of a Verify failure: a zero
// Identity and exactly one of the package's sentinels.
func checkVerifyError(t *testing.T, id Identity, err error) {
	t.Helper()
	if id != (Identity{}) {
		t.Fatalf("error %v with a non-zero identity %+v", err, id)
	}
	n := 0
	for _, s := range []error{ErrTokenInvalid, ErrTokenExpired, ErrTokenNotYetValid, ErrNoUserID} {
		if errors.Is(err, s) {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("error %q matches %d sentinels, want exactly 1", err, n)
	}
	if bytes.Contains([]byte(err.Error()), fuzzSecret) {
		t.Fatalf("error %q contains the secret", err)
	}
}

// FuzzNormaliseClaims decodes JSON claims as Verify does (numbers as
// json.Number) and as encoding/json does by default (float64), normalises
// both and checks: no panic; a refusal is ErrNoUserID with a zero Identity;
// an accepted Identity has a trimmed non-empty user id, a canonical role
// and a clean alias; both decodings agree on acceptance, role and alias;
// and Mint of the Identity verifies to the same Identity.
func FuzzNormaliseClaims(f *testing.F) {
	for _, s := range claimSeeds {
		f.Add([]byte(s))
	}
	v, err := NewVerifier(Config{HMACSecret: fuzzSecret})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var claims map[string]any
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		if d.Decode(&claims) != nil || claims == nil {
			return
		}
		id, err := NormaliseClaims(claims)
		if err != nil {
			if !errors.Is(err, ErrNoUserID) || id != (Identity{}) {
				t.Fatalf("refusal %v with identity %+v: want ErrNoUserID and a zero identity", err, id)
			}
		} else {
			checkIdentity(t, id)
		}

		var plain map[string]any
		if json.Unmarshal(raw, &plain) == nil && plain != nil {
			id2, err2 := NormaliseClaims(plain)
			if (err == nil) != (err2 == nil) || id.Role != id2.Role || id.Alias != id2.Alias {
				t.Fatalf("json.Number: %+v, %v; float64: %+v, %v", id, err, id2, err2)
			}
		}
		if err != nil {
			return
		}
		tok, err := Mint(fuzzSecret, MintOptions{UserID: id.UserID, Alias: id.Alias, Role: id.Role, Session: id.Session})
		if errors.Is(err, errTokenTooLarge) && jsonLen(id.UserID)+jsonLen(id.Session) > 5000 {
			// The token would pass 8 KiB, which Verify refuses; Mint says so.
			// (8 KiB of token is 6 KiB of claims once base64 is undone, and
			// the other claims take well under 1 KiB.)
			return
		}
		if err != nil {
			t.Fatalf("Mint of accepted identity %+v: %v", id, err)
		}
		back, err := v.Verify(tok)
		if err != nil || back != id {
			t.Fatalf("Mint then Verify of %+v gives %+v, %v", id, back, err)
		}
	})
}

// FuzzVerify gives Verify arbitrary token text: no panic, and every
// refusal is a zero Identity with exactly one sentinel. Without the secret
// nothing should be accepted; if something is, it must still be a sound
// Identity.
func FuzzVerify(f *testing.F) {
	for _, s := range claimSeeds[:3] {
		f.Add(signHS256(`{"alg":"HS256","typ":"JWT"}`, s))
	}
	f.Add(signHS256(`{"alg":"none"}`, claimSeeds[0]))
	f.Add(signHS256(`{"alg":"HS512"}`, claimSeeds[0]))
	f.Add("Bearer " + signHS256(`{"alg":"HS256"}`, claimSeeds[1]))
	f.Add("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")
	f.Add("a.b.c")
	f.Add("")
	f.Add(strings.Repeat("A", maxTokenBytes+1))
	v, err := NewVerifier(Config{HMACSecret: fuzzSecret})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, token string) {
		id, err := v.Verify(token)
		if err != nil {
			checkVerifyError(t, id, err)
			return
		}
		checkIdentity(t, id)
	})
}

// FuzzVerifySigned signs an arbitrary header and claims with the secret, so
// that the fuzzer reaches what Verify does after the signature: the
// algorithm allow-list, exp/nbf/iat of any JSON type, and normalisation.
// An accepted token gives exactly NormaliseClaims of its claims; a refusal
// is a zero Identity with exactly one sentinel.
func FuzzVerifySigned(f *testing.F) {
	for _, s := range claimSeeds {
		f.Add(`{"alg":"HS256","typ":"JWT"}`, s)
	}
	f.Add(`{"alg":"none"}`, claimSeeds[0])
	f.Add(`{"alg":"RS256"}`, claimSeeds[0])
	f.Add(`{"alg":"HS256","kid":7}`, claimSeeds[0])
	v, err := NewVerifier(Config{HMACSecret: fuzzSecret})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, header, claims string) {
		id, err := v.Verify(signHS256(header, claims))
		if err != nil {
			checkVerifyError(t, id, err)
			return
		}
		checkIdentity(t, id)
		var m map[string]any
		d := json.NewDecoder(strings.NewReader(claims))
		d.UseNumber()
		if err := d.Decode(&m); err != nil {
			t.Fatalf("accepted claims that do not decode: %v", err)
		}
		want, err := NormaliseClaims(m)
		if err != nil || want != id {
			t.Fatalf("Verify gives %+v; NormaliseClaims of its claims gives %+v, %v", id, want, err)
		}
	})
}

// signHS256 builds a compact JWS of the raw header and claims, signed with
// fuzzSecret.
func signHS256(header, claims string) string {
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(claims))
	mac := hmac.New(sha256.New, fuzzSecret)
	mac.Write([]byte(signing))
	return signing + "." + enc.EncodeToString(mac.Sum(nil))
}

// jsonLen is the length of s as a JSON string, escapes included.
func jsonLen(s string) int {
	b, _ := json.Marshal(s)
	return len(b)
}
