package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestVerify(t *testing.T) {
	k := newTestKeys(t)
	otherEC, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	// claims returns a valid claim set with changes applied; a nil value deletes.
	claims := func(changes map[string]any) jwt.MapClaims {
		c := jwt.MapClaims{"sub": "u1", "name": "Ann", "role": "host", "session": "s1",
			"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
		for key, val := range changes {
			if val == nil {
				delete(c, key)
			} else {
				c[key] = val
			}
		}
		return c
	}
	hs := func(changes map[string]any) string { return sign(t, jwt.SigningMethodHS256, k.secret, claims(changes)) }
	ago := func(d time.Duration) int64 { return now.Add(-d).Unix() }
	ahead := func(d time.Duration) int64 { return now.Add(d).Unix() }

	hsCfg := Config{HMACSecret: k.secret}
	rsCfg := Config{PublicKey: &k.rsa.PublicKey}
	esCfg := Config{PublicKey: &k.ec.PublicKey}
	bothCfg := Config{HMACSecret: k.secret, PublicKey: &k.rsa.PublicKey}
	issAudCfg := Config{HMACSecret: k.secret, Issuer: "legacy", Audience: "sanctuary"}
	ann := Identity{UserID: "u1", Alias: "Ann", Role: RoleHost, Session: "s1"}
	tampered := func() string {
		parts := strings.Split(hs(nil), ".")
		other := strings.Split(hs(map[string]any{"role": "participant", "sub": "u2"}), ".")
		return parts[0] + "." + other[1] + "." + parts[2]
	}()

	tests := []struct {
		name    string
		cfg     Config
		token   string
		want    Identity
		wantErr error
	}{
		{"HS256 ok", hsCfg, hs(nil), ann, nil},
		{"RS256 ok", rsCfg, sign(t, jwt.SigningMethodRS256, k.rsa, claims(nil)), ann, nil},
		{"ES256 ok", esCfg, sign(t, jwt.SigningMethodES256, k.ec, claims(nil)), ann, nil},
		{"both configured, RS256 ok", bothCfg, sign(t, jwt.SigningMethodRS256, k.rsa, claims(nil)), ann, nil},
		{"Bearer prefix and spaces", hsCfg, "  Bearer " + hs(nil) + "\n", ann, nil},
		{"expired", hsCfg, hs(map[string]any{"exp": ago(2 * time.Minute)}), Identity{}, ErrTokenExpired},
		{"expired within leeway", hsCfg, hs(map[string]any{"exp": ago(10 * time.Second)}), ann, nil},
		{"expired within custom leeway", Config{HMACSecret: k.secret, Leeway: 5 * time.Minute},
			hs(map[string]any{"exp": ago(2 * time.Minute)}), ann, nil},
		{"nbf in the future", hsCfg, hs(map[string]any{"nbf": ahead(5 * time.Minute)}), Identity{}, ErrTokenNotYetValid},
		{"nbf within leeway", hsCfg, hs(map[string]any{"nbf": ahead(10 * time.Second)}), ann, nil},
		{"iat in the future", hsCfg, hs(map[string]any{"iat": ahead(5 * time.Minute)}), Identity{}, ErrTokenNotYetValid},
		{"wrong signature", hsCfg, sign(t, jwt.SigningMethodHS256, []byte("another-secret"), claims(nil)), Identity{}, ErrTokenInvalid},
		{"tampered payload", hsCfg, tampered, Identity{}, ErrTokenInvalid},
		{"ES256 signed by another key", esCfg, sign(t, jwt.SigningMethodES256, otherEC, claims(nil)), Identity{}, ErrTokenInvalid},
		{"alg none", hsCfg, unsignedToken(t, `{"alg":"none","typ":"JWT"}`, claims(nil)), Identity{}, ErrTokenInvalid},
		{"alg none, RS256 verifier", rsCfg, unsignedToken(t, `{"alg":"none","typ":"JWT"}`, claims(nil)), Identity{}, ErrTokenInvalid},
		{"alg missing", hsCfg, unsignedToken(t, `{"typ":"JWT"}`, claims(nil)), Identity{}, ErrTokenInvalid},
		{"confusion: HS256 keyed with RSA PEM, RS256-only verifier", rsCfg,
			sign(t, jwt.SigningMethodHS256, k.rsaPEM, claims(nil)), Identity{}, ErrTokenInvalid},
		{"confusion: HS256 keyed with RSA PEM, HS256+RS256 verifier", bothCfg,
			sign(t, jwt.SigningMethodHS256, k.rsaPEM, claims(nil)), Identity{}, ErrTokenInvalid},
		{"RS256 token, HS256-only verifier", hsCfg, sign(t, jwt.SigningMethodRS256, k.rsa, claims(nil)), Identity{}, ErrTokenInvalid},
		{"ES256 token, RS256-only verifier", rsCfg, sign(t, jwt.SigningMethodES256, k.ec, claims(nil)), Identity{}, ErrTokenInvalid},
		{"PS256 not allowed", rsCfg, sign(t, jwt.SigningMethodPS256, k.rsa, claims(nil)), Identity{}, ErrTokenInvalid},
		{"HS512 not allowed", hsCfg, sign(t, jwt.SigningMethodHS512, k.secret, claims(nil)), Identity{}, ErrTokenInvalid},
		{"missing exp", hsCfg, hs(map[string]any{"exp": nil}), Identity{}, ErrTokenInvalid},
		{"exp as a string", hsCfg, hs(map[string]any{"exp": "tomorrow"}), Identity{}, ErrTokenInvalid},
		{"iss and aud ok", issAudCfg, hs(map[string]any{"iss": "legacy", "aud": []string{"x", "sanctuary"}}), ann, nil},
		{"wrong iss", issAudCfg, hs(map[string]any{"iss": "evil", "aud": "sanctuary"}), Identity{}, ErrTokenInvalid},
		{"missing iss", issAudCfg, hs(map[string]any{"aud": "sanctuary"}), Identity{}, ErrTokenInvalid},
		{"wrong aud", issAudCfg, hs(map[string]any{"iss": "legacy", "aud": "other"}), Identity{}, ErrTokenInvalid},
		{"missing aud", issAudCfg, hs(map[string]any{"iss": "legacy"}), Identity{}, ErrTokenInvalid},
		{"expired and wrong iss is invalid", issAudCfg,
			hs(map[string]any{"iss": "evil", "aud": "sanctuary", "exp": ago(time.Hour)}), Identity{}, ErrTokenInvalid},
		{"no user id", hsCfg, hs(map[string]any{"sub": nil}), Identity{}, ErrNoUserID},
		{"legacy shape through Verify", hsCfg,
			hs(map[string]any{"sub": nil, "name": nil, "role": nil, "session": nil,
				"user":  map[string]any{"id": json.Number("12345678901234567890"), "alias": "Z"},
				"roles": []string{"member", "co-host"}, "room": "r9"}),
			Identity{UserID: "12345678901234567890", Alias: "Z", Role: RoleModerator, Session: "r9"}, nil},
		{"garbage", hsCfg, "not.a.jwt", Identity{}, ErrTokenInvalid},
		{"empty", hsCfg, "", Identity{}, ErrTokenInvalid},
		{"too large", hsCfg, hs(map[string]any{"pad": strings.Repeat("x", maxTokenBytes)}), Identity{}, ErrTokenInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := NewVerifier(tc.cfg)
			if err != nil {
				t.Fatalf("NewVerifier: %v", err)
			}
			got, err := v.Verify(tc.token)
			if tc.wantErr != nil {
				checkOnly(t, err, tc.wantErr)
				if got != (Identity{}) {
					t.Fatalf("identity = %+v with error, want zero", got)
				}
				if strings.Contains(err.Error(), string(k.secret)) {
					t.Fatalf("error message leaks the secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestKeyForRefusesMismatchedMethods checks the key function on its own, past
// the allow-list: a method of the wrong type never gets a key.
func TestKeyForRefusesMismatchedMethods(t *testing.T) {
	k := newTestKeys(t)
	tests := []struct {
		name   string
		cfg    Config
		method jwt.SigningMethod
		ok     bool
	}{
		{"HS256 on RSA-only", Config{PublicKey: &k.rsa.PublicKey}, jwt.SigningMethodHS256, false},
		{"HS256 on EC-only", Config{PublicKey: &k.ec.PublicKey}, jwt.SigningMethodHS256, false},
		{"RS256 on HMAC-only", Config{HMACSecret: k.secret}, jwt.SigningMethodRS256, false},
		{"ES256 on RSA-only", Config{PublicKey: &k.rsa.PublicKey}, jwt.SigningMethodES256, false},
		{"PS256 on RSA-only", Config{PublicKey: &k.rsa.PublicKey}, jwt.SigningMethodPS256, false},
		{"RS512 on RSA-only", Config{PublicKey: &k.rsa.PublicKey}, jwt.SigningMethodRS512, false},
		{"none", Config{HMACSecret: k.secret}, jwt.SigningMethodNone, false},
		{"HS256 on HMAC", Config{HMACSecret: k.secret}, jwt.SigningMethodHS256, true},
		{"RS256 on RSA", Config{PublicKey: &k.rsa.PublicKey}, jwt.SigningMethodRS256, true},
		{"ES256 on EC", Config{PublicKey: &k.ec.PublicKey}, jwt.SigningMethodES256, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := NewVerifier(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			key, err := v.keyFor(&jwt.Token{Method: tc.method})
			if ok := err == nil && key != nil; ok != tc.ok {
				t.Fatalf("keyFor(%s) = %v, %v; want ok=%v", tc.method.Alg(), key != nil, err, tc.ok)
			}
		})
	}
}

func TestNewVerifierRejects(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  Config
	}{
		{"nothing configured", Config{}},
		{"empty secret", Config{HMACSecret: []byte{}}},
		{"ed25519 key", Config{PublicKey: edPub}},
		{"P-384 key", Config{PublicKey: &p384.PublicKey}},
		{"RSA 1024", Config{PublicKey: &small.PublicKey}},
		{"RSA private key", Config{PublicKey: small}},
		{"typed nil RSA key", Config{PublicKey: (*rsa.PublicKey)(nil)}},
		{"typed nil EC key", Config{PublicKey: (*ecdsa.PublicKey)(nil)}},
		{"negative leeway", Config{HMACSecret: []byte("s"), Leeway: -time.Second}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if v, err := NewVerifier(tc.cfg); err == nil || v != nil {
				t.Fatalf("NewVerifier = %v, %v; want nil and an error", v, err)
			}
		})
	}
}

// TestVerifierCopiesSecret checks that changing the caller's slice after
// NewVerifier does not change what the Verifier accepts.
func TestVerifierCopiesSecret(t *testing.T) {
	secret := []byte("original-secret")
	v, err := NewVerifier(Config{HMACSecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := Mint([]byte("original-secret"), MintOptions{UserID: "u"})
	if err != nil {
		t.Fatal(err)
	}
	copy(secret, "XXXXXXXX")
	if _, err := v.Verify(tok); err != nil {
		t.Fatalf("Verify after caller mutated its secret: %v", err)
	}
}

// TestVerifyConcurrent exercises one Verifier from many goroutines (run with -race).
func TestVerifyConcurrent(t *testing.T) {
	secret := []byte("concurrent-secret")
	v, err := NewVerifier(Config{HMACSecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := Mint(secret, MintOptions{UserID: "u", Role: RoleHost})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 50 {
				if id, err := v.Verify(tok); err != nil || id.Role != RoleHost {
					t.Errorf("Verify = %+v, %v", id, err)
					return
				}
			}
		})
	}
	wg.Wait()
}
