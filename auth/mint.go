package auth

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// defaultMintTTL is the lifetime of a minted token when MintOptions.TTL is 0.
const defaultMintTTL = time.Hour

// errTokenTooLarge: Mint refuses a token that Verify would refuse for its size.
var errTokenTooLarge = errors.New("token too large")

// secretBytes is the size of a generated dev-mode HS256 secret (256 bits).
const secretBytes = 32

// MintOptions describes a token to mint. Only UserID is required.
type MintOptions struct {
	UserID, Alias, Role, Session string        // Role: any name NormaliseClaims knows, or "" for participant
	TTL                          time.Duration // 0 means 1 hour; negative is an error
	Issuer                       string        // optional iss
	Audience                     string        // optional aud
}

// Mint issues an HS256 token signed with secret, for dev mode, the bots and
// the `sanctuary token jwt` command. Its claims are sub (UserID), name (Alias,
// omitted when empty), role (canonical), session (omitted when empty), iat,
// exp (iat + TTL), and iss and aud when set. Verify with the same secret
// returns the same Identity (alias cleaned as NormaliseClaims cleans it).
// Mint fails on an empty secret, a blank UserID, a negative TTL, a role
// name it does not know, or claims so long that the token would exceed the
// 8 KiB Verify accepts (errTokenTooLarge); errors never contain the secret.
func Mint(secret []byte, o MintOptions) (string, error) {
	if len(secret) == 0 {
		return "", errors.New("auth: mint: empty secret")
	}
	userID := strings.TrimSpace(o.UserID)
	if userID == "" {
		return "", fmt.Errorf("auth: mint: %w", ErrNoUserID)
	}
	role := RoleParticipant
	if strings.TrimSpace(o.Role) != "" {
		var known bool
		if role, known = parseRole(o.Role); !known {
			return "", fmt.Errorf("auth: mint: unknown role %q", o.Role)
		}
	}
	ttl := o.TTL
	switch {
	case ttl < 0:
		return "", fmt.Errorf("auth: mint: negative TTL %v", ttl)
	case ttl == 0:
		ttl = defaultMintTTL
	}
	now := time.Now()
	claims := jwt.MapClaims{
		"sub":  userID,
		"role": role,
		"iat":  now.Unix(),
		"exp":  now.Add(ttl).Unix(),
	}
	if alias := cleanAlias(o.Alias); alias != "" {
		claims["name"] = alias
	}
	if session := strings.TrimSpace(o.Session); session != "" {
		claims["session"] = session
	}
	if o.Issuer != "" {
		claims["iss"] = o.Issuer
	}
	if o.Audience != "" {
		claims["aud"] = o.Audience
	}
	signed, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("auth: mint: sign: %w", err)
	}
	if len(signed) > maxTokenBytes {
		return "", fmt.Errorf("auth: mint: %w: %d bytes, Verify accepts at most %d", errTokenTooLarge, len(signed), maxTokenBytes)
	}
	return signed, nil
}

// GenerateSecret returns 32 fresh random bytes from crypto/rand, suitable as
// a dev-mode HS256 secret.
func GenerateSecret() ([]byte, error) {
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("auth: generate secret: %w", err)
	}
	return b, nil
}
