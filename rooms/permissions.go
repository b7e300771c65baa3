package rooms

import "fmt"

// Action is something a participant may ask to do in a session. Whether a
// role may do it is decided here, by the table below, and nowhere else.
type Action string

// The actions. The string values are stable: they appear in logs and errors.
const (
	ActionCreateBreakouts Action = "breakouts.create"    // create breakout rooms
	ActionCloseBreakouts  Action = "breakouts.close"     // close one or all breakout rooms
	ActionAssign          Action = "breakouts.assign"    // assign participants to breakout rooms
	ActionMoveOthers      Action = "participant.move"    // move another participant between rooms
	ActionMuteOthers      Action = "participant.mute"    // mute another participant
	ActionRemove          Action = "participant.remove"  // remove another participant from the session
	ActionBroadcast       Action = "broadcast"           // send a message to all rooms
	ActionPromote         Action = "participant.promote" // change another participant's role
	ActionEndSession      Action = "session.end"         // end the session for everyone
	// ActionMoveSelf is moving oneself to another room. In the table a
	// participant may not; where the host turned self-selection on, that is
	// a separate check made by the caller on top of this table.
	ActionMoveSelf  Action = "self.move"
	ActionRaiseHand Action = "hand.raise" // raise or lower one's own hand
)

// grant is one row of the permission table.
type grant struct {
	action                       Action
	host, moderator, participant bool
}

// table is THE permission table, in the order Actions returns. Host may do
// everything; moderator everything but ending the session and promoting;
// participant only raising a hand.
var table = [...]grant{
	{ActionCreateBreakouts, true, true, false},
	{ActionCloseBreakouts, true, true, false},
	{ActionAssign, true, true, false},
	{ActionMoveOthers, true, true, false},
	{ActionMuteOthers, true, true, false},
	{ActionRemove, true, true, false},
	{ActionBroadcast, true, true, false},
	{ActionPromote, true, false, false},
	{ActionEndSession, true, false, false},
	{ActionMoveSelf, true, true, false},
	{ActionRaiseHand, true, true, true},
}

// Allowed reports whether role r may perform action a. An unknown role or an
// unknown action is never allowed.
func Allowed(r Role, a Action) bool {
	for _, g := range table {
		if g.action != a {
			continue
		}
		switch r {
		case RoleHost:
			return g.host
		case RoleModerator:
			return g.moderator
		case RoleParticipant:
			return g.participant
		}
		return false
	}
	return false
}

// Check returns nil when role r may perform action a, and otherwise an error
// that satisfies errors.Is(err, ErrForbidden) and whose message names the
// action and the role.
func Check(r Role, a Action) error {
	if Allowed(r, a) {
		return nil
	}
	return fmt.Errorf("rooms: role %q may not %q: %w", r, a, ErrForbidden)
}

// Actions returns every action, in table order, as a new slice the caller
// may keep. It exists for table tests over action × role.
func Actions() []Action {
	out := make([]Action, len(table))
	for i, g := range table {
		out[i] = g.action
	}
	return out
}
