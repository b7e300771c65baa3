package auth

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestNormaliseClaims(t *testing.T) {
	long := strings.Repeat("é", 70)
	tests := []struct {
		name    string
		claims  map[string]any
		want    Identity
		wantErr error
	}{
		{
			name:   "standard: sub name role session",
			claims: map[string]any{"sub": "u1", "name": "Ann", "role": "host", "session": "s1"},
			want:   Identity{UserID: "u1", Alias: "Ann", Role: RoleHost, Session: "s1"},
		},
		{
			name:   "legacy camelCase: userId alias room",
			claims: map[string]any{"userId": "u2", "alias": "Bo", "role": "moderator", "room": "r2"},
			want:   Identity{UserID: "u2", Alias: "Bo", Role: RoleModerator, Session: "r2"},
		},
		{
			name:   "legacy snake_case: user_id displayName session_id",
			claims: map[string]any{"user_id": "u3", "displayName": "Cy", "session_id": "s3"},
			want:   Identity{UserID: "u3", Alias: "Cy", Role: RoleParticipant, Session: "s3"},
		},
		{
			name:   "legacy bare id and sessionId",
			claims: map[string]any{"id": "u4", "sessionId": "s4"},
			want:   Identity{UserID: "u4", Role: RoleParticipant, Session: "s4"},
		},
		{
			name: "nested user object",
			claims: map[string]any{"user": map[string]any{
				"id": "u5", "alias": "Di", "role": "Co-Host"}},
			want: Identity{UserID: "u5", Alias: "Di", Role: RoleModerator},
		},
		{
			name:   "nested user name and displayName",
			claims: map[string]any{"user": map[string]any{"id": "u6", "name": "", "displayName": "Ed"}},
			want:   Identity{UserID: "u6", Alias: "Ed", Role: RoleParticipant},
		},
		{
			name:   "numeric ids as float64",
			claims: map[string]any{"userId": float64(12345678901), "session": float64(42)},
			want:   Identity{UserID: "12345678901", Role: RoleParticipant, Session: "42"},
		},
		{
			name:   "numeric id as json.Number beyond 2^53",
			claims: map[string]any{"sub": json.Number("12345678901234567890"), "room": json.Number("7")},
			want:   Identity{UserID: "12345678901234567890", Role: RoleParticipant, Session: "7"},
		},
		{
			name:   "json.Number with exponent and .0",
			claims: map[string]any{"sub": json.Number("1.2e3"), "session": json.Number("5.0")},
			want:   Identity{UserID: "1200", Role: RoleParticipant, Session: "5"},
		},
		{
			name:   "nested numeric user id",
			claims: map[string]any{"user": map[string]any{"id": float64(99)}},
			want:   Identity{UserID: "99", Role: RoleParticipant},
		},
		{
			name:   "empty and unusable ids are skipped",
			claims: map[string]any{"sub": "  ", "userId": true, "user_id": nil, "id": "u7"},
			want:   Identity{UserID: "u7", Role: RoleParticipant},
		},
		{
			name:   "sub wins over the others",
			claims: map[string]any{"sub": "a", "userId": "b", "user": map[string]any{"id": "c"}},
			want:   Identity{UserID: "a", Role: RoleParticipant},
		},
		{
			name:   "roles array takes the highest",
			claims: map[string]any{"sub": "u8", "roles": []any{"member", "HOST", "mod"}},
			want:   Identity{UserID: "u8", Role: RoleHost},
		},
		{
			name:   "roles comma-separated string",
			claims: map[string]any{"sub": "u9", "roles": "listener, co_host"},
			want:   Identity{UserID: "u9", Role: RoleModerator},
		},
		{
			name:   "roles single string with case and spaces",
			claims: map[string]any{"sub": "u10", "roles": "  Owner "},
			want:   Identity{UserID: "u10", Role: RoleHost},
		},
		{
			name:   "roles array with non-strings",
			claims: map[string]any{"sub": "u11", "roles": []any{float64(1), "cohost", nil}},
			want:   Identity{UserID: "u11", Role: RoleModerator},
		},
		{
			name:   "unknown role is participant",
			claims: map[string]any{"sub": "u12", "role": "admin"},
			want:   Identity{UserID: "u12", Role: RoleParticipant},
		},
		{
			name:   "empty role falls through to user.role",
			claims: map[string]any{"sub": "u13", "role": "", "roles": []any{}, "user": map[string]any{"role": "owner"}},
			want:   Identity{UserID: "u13", Role: RoleHost},
		},
		{
			name:   "participant synonyms",
			claims: map[string]any{"sub": "u14", "roles": []any{"guest", "attendee", "user"}},
			want:   Identity{UserID: "u14", Role: RoleParticipant},
		},
		{
			name:   "alias trimmed, control characters dropped, capped to 64 runes",
			claims: map[string]any{"sub": "u15", "name": "  " + long + "\n"},
			want:   Identity{UserID: "u15", Alias: strings.Repeat("é", 64), Role: RoleParticipant},
		},
		{
			name:   "alias with newline inside",
			claims: map[string]any{"sub": "u16", "alias": "a\nb", "name": 3.0},
			want:   Identity{UserID: "u16", Alias: "a b", Role: RoleParticipant},
		},
		{
			name:    "missing everything",
			claims:  map[string]any{"exp": float64(1)},
			wantErr: ErrNoUserID,
		},
		{
			name:    "nil claims",
			claims:  nil,
			wantErr: ErrNoUserID,
		},
		{
			name:    "user is not an object",
			claims:  map[string]any{"user": "u17", "name": "Fi"},
			wantErr: ErrNoUserID,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NormaliseClaims(tc.claims)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				if got != (Identity{}) {
					t.Fatalf("identity = %+v with error, want zero", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseRole(t *testing.T) {
	tests := []struct {
		in    string
		want  string
		known bool
	}{
		{"host", RoleHost, true},
		{"Owner", RoleHost, true},
		{"moderator", RoleModerator, true},
		{"MOD", RoleModerator, true},
		{"cohost", RoleModerator, true},
		{"co-host", RoleModerator, true},
		{"co_host", RoleModerator, true},
		{"Co Host", RoleModerator, true},
		{"participant", RoleParticipant, true},
		{"member", RoleParticipant, true},
		{"listener", RoleParticipant, true},
		{"admin", RoleParticipant, false},
		{"", RoleParticipant, false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, known := parseRole(tc.in)
			if got != tc.want || known != tc.known {
				t.Fatalf("parseRole(%q) = %q, %v; want %q, %v", tc.in, got, known, tc.want, tc.known)
			}
		})
	}
}
