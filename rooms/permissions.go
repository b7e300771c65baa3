package rooms

import "fmt"

// Action is something a participant may ask to do in a session. Whether a
// role may do it is decided in this file and nowhere else: by the table
// below (Allowed, Check), by the hierarchy over targets (CheckTarget), and
// by the one rule for moving oneself (checkSelfMove).
type Action string

// The actions. The string values are stable: they appear in logs and errors.
const (
	ActionCreateBreakouts Action = "breakouts.create"    // create breakout rooms
	ActionCloseBreakouts  Action = "breakouts.close"     // close one or all breakout rooms, now or after a delay; cancel a delayed close
	ActionAssign          Action = "breakouts.assign"    // assign participants to breakout rooms
	ActionMoveOthers      Action = "participant.move"    // move another participant between rooms
	ActionMuteOthers      Action = "participant.mute"    // mute or unmute a participant (server-side)
	ActionRemove          Action = "participant.remove"  // remove another participant from the session
	ActionBroadcast       Action = "broadcast"           // send a message to all rooms
	ActionPromote         Action = "participant.promote" // change another participant's role
	ActionEndSession      Action = "session.end"         // end the session for everyone
	// ActionMoveSelf is moving oneself to another room: a visit by staff.
	// In the table a participant may not; where the host turned
	// self-selection on, a participant may all the same, by the separate
	// rule of checkSelfMove below.
	ActionMoveSelf      Action = "self.move"
	ActionRaiseHand     Action = "hand.raise"                 // raise or lower one's own hand
	ActionSelfSelect    Action = "breakouts.selfselect"       // turn self-selection of rooms on or off
	ActionLowerHands    Action = "hand.lower_others"          // lower another participant's hand
	ActionDeafen        Action = "self.deafen"                // stop or resume hearing others
	ActionAlert         Action = "alert.raise"                // raise an emergency alert
	ActionReact         Action = "react"                      // send a reaction (handled above rooms)
	ActionReceiveAlerts Action = "alert.receive"              // be told the details of alerts (decided above rooms)
	ActionRequestUnmute Action = "participant.unmute_request" // ask a participant to unmute
	// ActionChat is writing chat to one's own room and to one's own thread
	// with the staff (see CanWriteChat). Writing to every room ("all")
	// needs ActionBroadcast.
	ActionChat Action = "chat.send"
	// ActionChatStaff is reading and answering every participant's thread
	// with the staff (the streams "staff:<participant id>").
	ActionChatStaff  Action = "chat.staff"
	ActionChatDelete Action = "chat.delete" // delete someone's chat message
	// ActionViewStats is reading the session's statistics (peak, joins,
	// rooms, moves, removals): for staff and the host's integration.
	ActionViewStats Action = "session.stats"
)

// grant is one row of the permission table.
type grant struct {
	action                       Action
	host, moderator, participant bool
}

// table is THE permission table, in the order Actions returns. Host may do
// everything; moderator everything but ending the session and changing
// roles; participant only what concerns itself (hand, deafen, alert,
// reactions).
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
	{ActionSelfSelect, true, true, false},
	{ActionLowerHands, true, true, false},
	{ActionDeafen, true, true, true},
	{ActionAlert, true, true, true},
	{ActionReact, true, true, true},
	{ActionReceiveAlerts, true, true, false},
	{ActionRequestUnmute, true, true, false},
	{ActionChat, true, true, true},
	{ActionChatStaff, true, true, false},
	{ActionChatDelete, true, true, false},
	{ActionViewStats, true, true, false},
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

// rank orders the roles: host 3 > moderator 2 > participant 1; anything
// else 0.
func rank(r Role) int {
	switch r {
	case RoleHost:
		return 3
	case RoleModerator:
		return 2
	case RoleParticipant:
		return 1
	}
	return 0
}

// CheckTarget returns nil when an actor of role actor may perform action a
// on a participant of role target, and otherwise an error wrapping
// ErrForbidden that names the action. It is Check(actor, a) plus the
// hierarchy:
//
//   - nobody acts on a target whose role is above its own (host >
//     moderator > participant); equal roles are fine;
//   - the host can never be removed (ActionRemove) nor have its role changed
//     (ActionPromote), not even by a host.
//
// Muting the host is thereby left to a host. The operations apply it to
// moving, assigning, muting, removing, role changes and lowering hands.
func CheckTarget(actor, target Role, a Action) error {
	if err := Check(actor, a); err != nil {
		return err
	}
	if rank(target) > rank(actor) {
		return fmt.Errorf("rooms: role %q may not %q a participant of role %q: %w", actor, a, target, ErrForbidden)
	}
	if target == RoleHost && (a == ActionRemove || a == ActionPromote) {
		return fmt.Errorf("rooms: nobody may %q the host: %w", a, ErrForbidden)
	}
	return nil
}

// checkSelfMove is THE rule for a participant moving itself (Move with the
// actor as target). Roles allowed ActionMoveSelf (host, moderator) may
// always: a visit. Anyone else with a valid role may only while the session
// has self-selection on (SetSelfSelect). The error wraps ErrForbidden and
// names ActionMoveSelf.
func checkSelfMove(r Role, selfSelect bool) error {
	if Allowed(r, ActionMoveSelf) || (selfSelect && r.Valid()) {
		return nil
	}
	return fmt.Errorf("rooms: role %q may not %q while self-selection is off: %w", r, ActionMoveSelf, ErrForbidden)
}

// handAction is THE rule for SetHand: which action governs a change of a
// hand. One's own hand, up or down, is ActionRaiseHand; lowering someone
// else's is ActionLowerHands (with CheckTarget); raising someone else's is
// forbidden to every role, with an error wrapping ErrForbidden that names
// ActionRaiseHand.
func handAction(self, up bool) (Action, error) {
	switch {
	case self:
		return ActionRaiseHand, nil
	case up:
		return "", fmt.Errorf("rooms: nobody may %q for someone else: %w", ActionRaiseHand, ErrForbidden)
	}
	return ActionLowerHands, nil
}

// CanReadChat is THE rule for who reads a chat stream (chat.go): everyone
// reads ChatAll; the members of a room read its stream (ChatRoomStream);
// a participant reads its own thread with the staff (ChatStaffStream), and
// roles allowed ActionChatStaff read every such thread. Anything else,
// unknown stream names included, is unreadable. p is the reader's record
// as it is now: a participant that moves starts reading its new room's
// stream and stops reading the old one.
func CanReadChat(p Participant, stream string) bool {
	switch kind, id := splitStream(stream); kind {
	case ChatAll:
		return true
	case chatRoomKind:
		return p.Room == id
	case chatStaffKind:
		return p.ID == id || Allowed(p.Role, ActionChatStaff)
	}
	return false
}

// CheckWriteChat is THE rule for who writes to a chat stream: a reader
// with ActionChat writes to its room's stream and its own staff thread;
// ActionChatStaff answers in anyone's staff thread; ActionBroadcast
// writes to ChatAll. The error wraps ErrForbidden and names the action
// missing.
func CheckWriteChat(p Participant, stream string) error {
	need := ActionChat
	switch kind, id := splitStream(stream); {
	case kind == ChatAll:
		need = ActionBroadcast
	case kind == chatStaffKind && id != p.ID:
		need = ActionChatStaff
	case !CanReadChat(p, stream):
		return fmt.Errorf("rooms: participant %q may not %q to %q, a stream it does not read: %w", p.ID, ActionChat, stream, ErrForbidden)
	}
	return Check(p.Role, need)
}
