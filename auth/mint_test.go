package auth

import (
	"bytes"
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestMintVerifyRoundTrip(t *testing.T) {
	secret, err := GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  Config
		opts MintOptions
		want Identity
	}{
		{"all fields", Config{},
			MintOptions{UserID: "u1", Alias: "Ann", Role: RoleHost, Session: "s1"},
			Identity{UserID: "u1", Alias: "Ann", Role: RoleHost, Session: "s1"}},
		{"minimal", Config{},
			MintOptions{UserID: "u2"},
			Identity{UserID: "u2", Role: RoleParticipant}},
		{"role synonym canonicalised", Config{},
			MintOptions{UserID: "u3", Role: "Co-Host"},
			Identity{UserID: "u3", Role: RoleModerator}},
		{"alias cleaned", Config{},
			MintOptions{UserID: " u4 ", Alias: " " + strings.Repeat("a", 80)},
			Identity{UserID: "u4", Alias: strings.Repeat("a", 64), Role: RoleParticipant}},
		{"issuer and audience", Config{Issuer: "sanctuary-dev", Audience: "sanctuary"},
			MintOptions{UserID: "bot-7", Role: RoleModerator, Session: "s2", TTL: time.Minute,
				Issuer: "sanctuary-dev", Audience: "sanctuary"},
			Identity{UserID: "bot-7", Role: RoleModerator, Session: "s2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.HMACSecret = secret
			v, err := NewVerifier(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := Mint(secret, tc.opts)
			if err != nil {
				t.Fatalf("Mint: %v", err)
			}
			got, err := v.Verify(tok)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestMintClaims(t *testing.T) {
	secret := []byte("mint-claims-secret")
	tests := []struct {
		name    string
		ttl     time.Duration
		wantTTL int64 // seconds between iat and exp
	}{
		{"default TTL is one hour", 0, 3600},
		{"explicit TTL", 5 * time.Minute, 300},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := Mint(secret, MintOptions{UserID: "u", Alias: "A", Session: "s", TTL: tc.ttl})
			if err != nil {
				t.Fatal(err)
			}
			c := jwt.MapClaims{}
			if _, err := jwt.NewParser().ParseWithClaims(tok, c, func(*jwt.Token) (any, error) { return secret, nil }); err != nil {
				t.Fatal(err)
			}
			iat, _ := c["iat"].(float64)
			exp, _ := c["exp"].(float64)
			if int64(exp-iat) != tc.wantTTL {
				t.Fatalf("exp-iat = %v, want %d", exp-iat, tc.wantTTL)
			}
			for key, want := range map[string]string{"sub": "u", "name": "A", "role": RoleParticipant, "session": "s"} {
				if c[key] != want {
					t.Fatalf("claim %s = %v, want %q", key, c[key], want)
				}
			}
			if _, ok := c["iss"]; ok {
				t.Fatal("iss present though not set")
			}
		})
	}
}

func TestMintRejects(t *testing.T) {
	secret := []byte("mint-rejects-secret")
	tests := []struct {
		name   string
		secret []byte
		opts   MintOptions
	}{
		{"empty secret", nil, MintOptions{UserID: "u"}},
		{"blank user id", secret, MintOptions{UserID: "  "}},
		{"negative TTL", secret, MintOptions{UserID: "u", TTL: -time.Second}},
		{"unknown role", secret, MintOptions{UserID: "u", Role: "admin"}},
		{"too large for Verify", secret, MintOptions{UserID: strings.Repeat("u", maxTokenBytes)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := Mint(tc.secret, tc.opts)
			if err == nil || tok != "" {
				t.Fatalf("Mint = %q, %v; want an error", tok, err)
			}
			if strings.Contains(err.Error(), string(secret)) {
				t.Fatalf("error leaks the secret: %v", err)
			}
		})
	}
	// The largest user id that still fits mints a token Verify accepts;
	// one byte more is refused by Mint, not left for Verify to refuse.
	fits := sort.Search(maxTokenBytes, func(n int) bool {
		_, err := Mint(secret, MintOptions{UserID: strings.Repeat("u", n+1)})
		return err != nil
	})
	tok, err := Mint(secret, MintOptions{UserID: strings.Repeat("u", fits)})
	if err != nil {
		t.Fatalf("Mint with a %d-byte user id: %v", fits, err)
	}
	v, err := NewVerifier(Config{HMACSecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(tok); err != nil {
		t.Fatalf("Verify of the largest token Mint gives (%d bytes): %v", len(tok), err)
	}
	if _, err := Mint(secret, MintOptions{UserID: strings.Repeat("u", fits+1)}); !errors.Is(err, errTokenTooLarge) {
		t.Fatalf("Mint with a %d-byte user id: %v, want errTokenTooLarge", fits+1, err)
	}
	if _, err := Mint(secret, MintOptions{}); !errors.Is(err, ErrNoUserID) {
		t.Fatalf("Mint without user id: %v, want ErrNoUserID", err)
	}
}

func TestGenerateSecret(t *testing.T) {
	a, err := GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	b, err := GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 32 || len(b) != 32 {
		t.Fatalf("lengths %d, %d; want 32", len(a), len(b))
	}
	if bytes.Equal(a, b) {
		t.Fatal("two generated secrets are equal")
	}
}
