package auth

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxAliasRunes caps a display alias (64 runes) so that one token cannot flood
// every participant's screen.
const maxAliasRunes = 64

// NormaliseClaims turns the claims of a token, whatever legacy shape they come
// in, into an Identity. It is the one place claim shapes are understood. It
// does not check signatures or times: Verify does that first.
//
// Shapes understood; within a row the first claim present with a usable value
// wins ("user.x" is field x of a nested object "user"):
//
//	field   | claims tried, in order                   | usable values
//	--------+------------------------------------------+-------------------------------------------
//	UserID  | sub, userId, user_id, id, user.id        | non-blank string; JSON number (integers
//	        |                                          | written without exponent or ".0")
//	Alias   | name, alias, displayName, user.alias,    | non-blank string; trimmed, control
//	        | user.name, user.displayName              | characters dropped, capped to 64 runes
//	Role    | role, roles, user.role                   | string, "a,b" list or array of strings;
//	        |                                          | the highest role named wins
//	Session | session, room, sessionId, session_id     | non-blank string; JSON number
//
// Role names are compared ignoring case, spaces, '-' and '_':
//
//	host, owner                                            -> RoleHost
//	moderator, mod, cohost, co-host, co_host                -> RoleModerator
//	participant, member, user, attendee, guest, listener   -> RoleParticipant
//	anything else, or no role claim at all                 -> RoleParticipant
//
// Numbers may be float64 (encoding/json's default) or json.Number (what
// Verify decodes, so that ids above 2^53 survive exactly). A value of any
// other type (bool, object, null) is skipped as if absent. When no user id is
// usable, NormaliseClaims returns an error matching ErrNoUserID.
func NormaliseClaims(claims map[string]any) (Identity, error) {
	id := Identity{
		UserID: firstScalar(claims,
			[]string{"sub"}, []string{"userId"}, []string{"user_id"}, []string{"id"},
			[]string{"user", "id"}),
		Alias: firstAlias(claims,
			[]string{"name"}, []string{"alias"}, []string{"displayName"},
			[]string{"user", "alias"}, []string{"user", "name"}, []string{"user", "displayName"}),
		Role: firstRole(claims,
			[]string{"role"}, []string{"roles"}, []string{"user", "role"}),
		Session: firstScalar(claims,
			[]string{"session"}, []string{"room"}, []string{"sessionId"}, []string{"session_id"}),
	}
	if id.UserID == "" {
		return Identity{}, fmt.Errorf("%w: none of sub, userId, user_id, id, user.id is usable", ErrNoUserID)
	}
	return id, nil
}

// lookup follows path through nested JSON objects and reports the value found.
func lookup(claims map[string]any, path []string) (any, bool) {
	var cur any = claims
	for _, key := range path {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = obj[key]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// firstScalar returns the first usable string or number among paths, as a
// string, or "" when none is usable.
func firstScalar(claims map[string]any, paths ...[]string) string {
	for _, p := range paths {
		if v, ok := lookup(claims, p); ok {
			if s, ok := scalarString(v); ok {
				return s
			}
		}
	}
	return ""
}

// scalarString renders an id-like claim value. Blank strings and non-scalar
// values are not usable.
func scalarString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		s := strings.TrimSpace(x)
		return s, s != ""
	case json.Number:
		return numberString(x)
	case float64:
		return floatString(x)
	case int:
		return strconv.Itoa(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	}
	return "", false
}

// numberString renders a json.Number. Integer literals are kept exactly, even
// beyond 64 bits; others ("1.0", "1e3") go through float64.
func numberString(n json.Number) (string, bool) {
	s := n.String()
	digits := strings.TrimPrefix(s, "-")
	if digits != "" && strings.Trim(digits, "0123456789") == "" {
		return s, true
	}
	f, err := n.Float64()
	if err != nil {
		return "", false
	}
	return floatString(f)
}

// floatString renders f without exponent and without a trailing ".0":
// 12345678901 -> "12345678901", 1.5 -> "1.5".
func floatString(f float64) (string, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "", false
	}
	return strconv.FormatFloat(f, 'f', -1, 64), true
}

// firstAlias returns the first usable alias among paths, cleaned.
func firstAlias(claims map[string]any, paths ...[]string) string {
	for _, p := range paths {
		v, ok := lookup(claims, p)
		if !ok {
			continue
		}
		if s, ok := v.(string); ok {
			if a := cleanAlias(s); a != "" {
				return a
			}
		}
	}
	return ""
}

// cleanAlias makes a display alias safe to show: valid UTF-8, control
// characters turned into spaces, trimmed, and at most maxAliasRunes runes.
func cleanAlias(s string) string {
	s = strings.ToValidUTF8(s, "")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) > maxAliasRunes {
		s = strings.TrimSpace(string([]rune(s)[:maxAliasRunes]))
	}
	return s
}

// firstRole returns the highest role named by the first role claim among
// paths that names any role at all, or RoleParticipant.
func firstRole(claims map[string]any, paths ...[]string) string {
	for _, p := range paths {
		v, ok := lookup(claims, p)
		if !ok {
			continue
		}
		names := roleNames(v)
		if len(names) == 0 {
			continue
		}
		best := RoleParticipant
		for _, n := range names {
			if r, _ := parseRole(n); roleRank(r) > roleRank(best) {
				best = r
			}
		}
		return best
	}
	return RoleParticipant
}

// roleNames lists the non-blank role names in a role claim: a string (split
// on commas) or an array of strings (each also split on commas).
func roleNames(v any) []string {
	var raw []string
	switch x := v.(type) {
	case string:
		raw = []string{x}
	case []string:
		raw = x
	case []any:
		for _, e := range x {
			if s, ok := e.(string); ok {
				raw = append(raw, s)
			}
		}
	}
	var names []string
	for _, r := range raw {
		for _, part := range strings.Split(r, ",") {
			if part = strings.TrimSpace(part); part != "" {
				names = append(names, part)
			}
		}
	}
	return names
}

// parseRole maps a role name to a canonical role, ignoring case, spaces, '-'
// and '_'. Unknown names give RoleParticipant and false.
func parseRole(name string) (string, bool) {
	key := strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || unicode.IsSpace(r) {
			return -1
		}
		return unicode.ToLower(r)
	}, name)
	switch key {
	case "host", "owner":
		return RoleHost, true
	case "moderator", "mod", "cohost":
		return RoleModerator, true
	case "participant", "member", "user", "attendee", "guest", "listener":
		return RoleParticipant, true
	}
	return RoleParticipant, false
}

// roleRank orders canonical roles: host > moderator > participant.
func roleRank(role string) int {
	switch role {
	case RoleHost:
		return 2
	case RoleModerator:
		return 1
	}
	return 0
}
