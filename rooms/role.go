package rooms

// Role is what a participant may do in a session; see permissions.go. A
// participant always has one of the three roles below, never "".
type Role string

// The roles, from most to least privileged.
const (
	RoleHost        Role = "host"        // runs the session; one host user per session
	RoleModerator   Role = "moderator"   // runs breakouts and moderates; cannot end or promote
	RoleParticipant Role = "participant" // takes part; may raise a hand
)

// ParseRole maps a role name to a Role. Only the canonical names "host",
// "moderator" and "participant" are recognised, exactly (case-sensitive);
// anything else, including "", is RoleParticipant: a joiner always has a role,
// and an unrecognised claim gets the least privilege.
func ParseRole(s string) Role {
	switch r := Role(s); r {
	case RoleHost, RoleModerator, RoleParticipant:
		return r
	default:
		return RoleParticipant
	}
}

// Valid reports whether r is one of the three canonical roles.
func (r Role) Valid() bool {
	switch r {
	case RoleHost, RoleModerator, RoleParticipant:
		return true
	}
	return false
}

// assignRole decides the role of a user joining a session without a current
// record of theirs (a first join, or a rejoin after leaving), given the
// session's host user ("" while it has none) and the role the user's identity
// claims. It returns the role and whether the user becomes the session's host
// user:
//
//   - the host user is host, whatever its identity says now;
//   - while the session has no host user, the first joiner whose identity says
//     host becomes the host user, and is host;
//   - a later joiner whose identity says host, but who is not the host user,
//     is moderator: one session has one host, and a second host token still
//     deserves to run breakouts;
//   - an identity saying moderator is moderator; anything else is participant.
func assignRole(hostUserID, userID string, claimed Role) (role Role, becomesHost bool) {
	claimed = ParseRole(string(claimed))
	switch {
	case hostUserID != "" && userID == hostUserID:
		return RoleHost, false
	case claimed == RoleHost && hostUserID == "":
		return RoleHost, true
	case claimed == RoleHost:
		return RoleModerator, false
	default:
		return claimed, false
	}
}
