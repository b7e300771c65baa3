package auth

// Canonical role names. These exact strings are what Identity.Role holds and
// what the rooms package parses (case-sensitive), from most to least
// privileged.
const (
	RoleHost        = "host"        // runs the session
	RoleModerator   = "moderator"   // runs breakouts and moderates
	RoleParticipant = "participant" // takes part; the default and the least privilege
)

// Identity is what a verified token says about its bearer, normalised by
// NormaliseClaims. A zero Identity is never returned with a nil error.
type Identity struct {
	UserID  string // never empty for a verified token; trimmed of surrounding spaces
	Alias   string // display alias; may be empty; trimmed, no control characters, at most 64 runes
	Role    string // one of the Role* constants; RoleParticipant when the token names none or an unknown one
	Session string // the session the token is scoped to; "" when not scoped
}
