package rooms

import "time"

// Event kinds, the values of Event.Kind. They are stable: signaling forwards
// them to clients. Each kind says which Event fields it sets; the others are
// zero.
const (
	// EventJoined: a record was created (a first join or a rejoin).
	// Participant.
	EventJoined = "participant.joined"
	// EventLeft: a record was removed because its connection left.
	// Participant (as it was).
	EventLeft = "participant.left"
	// EventUpdated: one record changed. Participant (after), Change, and
	// Actor for a change someone asked for (muted, deafened, hand, role).
	EventUpdated = "participant.updated"
	// EventBreakoutsCreated: breakout rooms were opened. Rooms (the new
	// ones, in creation order), Actor.
	EventBreakoutsCreated = "breakouts.created"
	// EventAssigned: an assignment moved people. Moves (the moved records,
	// after the move, in join order), Actor.
	EventAssigned = "breakouts.assigned"
	// EventSelfSelect: self-selection was turned on or off. SelfSelect,
	// Actor.
	EventSelfSelect = "breakouts.selfselect"
	// EventMoved: one participant changed room. Participant (after),
	// FromRoom, Actor.
	EventMoved = "participant.moved"
	// EventRoomsClosed: breakout rooms were closed. Rooms (the closed ones),
	// Moves (their members, now in MainRoom, in join order), Actor ("" when
	// a timer closed the room).
	EventRoomsClosed = "breakouts.closed"
	// EventRoomsClosing: every open breakout room will close at ClosingAt
	// (ScheduleCloseAll), rooms opened meanwhile included; a later one
	// replaces it. ClosingAt, Actor.
	EventRoomsClosing = "breakouts.closing"
	// EventRoomsClosingCancelled: the pending close of all rooms was
	// cancelled (CancelCloseAll); the rooms stay open. Actor.
	EventRoomsClosingCancelled = "breakouts.closing.cancelled"
	// EventRoomWarning: a room's timer is about to run out. Rooms (that one
	// room, with EndsAt and Warned true).
	EventRoomWarning = "breakouts.warning"
	// EventBroadcast: a message to every room. Message, Actor.
	EventBroadcast = "broadcast"
	// EventUnmuteRequested: someone asked a participant to unmute.
	// Participant (the target), Actor.
	EventUnmuteRequested = "unmute.requested"
	// EventRemoved: a participant was removed and banned. Participant (as it
	// was), Reason, Actor.
	EventRemoved = "participant.removed"
	// EventAlert: an emergency alert. Participant (who raised it), Room
	// (the room it is in), Message (possibly ""), Actor.
	EventAlert = "alert"
	// EventSessionEnded: the session was ended for everyone: every record
	// was removed and every breakout room closed, with no other event.
	// Actor.
	EventSessionEnded = "session.ended"
)

// Values of Event.Change: what an EventUpdated changed.
const (
	ChangeState    = "state"    // SetState: the connection state
	ChangeTakeover = "takeover" // Join of a user with a record: new epoch, state joining, maybe alias
	ChangeMuted    = "muted"    // SetMuted
	ChangeDeafened = "deafened" // SetDeafened
	ChangeHand     = "hand"     // SetHand
	ChangeRole     = "role"     // SetRole
	ChangeAlias    = "alias"    // reserved for an alias change; no operation emits it yet
)

// Event announces one change of a session's state. Every change produces
// exactly one event, and the events of a session are delivered in version
// order with no gap (within one incarnation of the session; see Snapshot).
// Slices in an event are new ones the receiver owns.
type Event struct {
	Session string // the session id
	Version uint64 // the session version after this change
	Kind    string // one of the Event* constants
	// Participant is the record after the change; for EventLeft and
	// EventRemoved, the record as it was when it was removed.
	Participant Participant
	Actor       string        // participant id of who asked; "" for an integration, a timer, or a join/leave/state change
	Change      string        // EventUpdated only: one of the Change* constants
	FromRoom    string        // EventMoved: the room the participant left
	Rooms       []Room        // EventBreakoutsCreated, EventRoomsClosed, EventRoomWarning
	Moves       []Participant // EventAssigned, EventRoomsClosed: the moved records, after the change
	Message     string        // EventBroadcast, EventAlert
	Reason      string        // EventRemoved
	SelfSelect  bool          // EventSelfSelect: the new setting
	Room        string        // EventAlert: the room of who raised it
	ClosingAt   time.Time     // EventRoomsClosing: when every open room closes
}

// Snapshot is a session's whole state at one version.
type Snapshot struct {
	Session string
	Version uint64 // the version this state is at; the last event's version
	// Created is when this incarnation of the session was created. A session
	// deleted (by Tick, once idle or ended long enough) and created again
	// starts over at version 0 with a new Created: clients compare it to
	// know that versions they saw before do not continue.
	Created      time.Time
	Participants []Participant // present records, in join order; a new slice the caller owns
	Rooms        []Room        // open breakout rooms, in creation order; a new slice
	SelfSelect   bool          // participants may move themselves (see Move)
	Ended        bool          // EndSession was called: no participants, no rooms, no changes
	Hands        []string      // ids of the participants with a raised hand, in the order raised
	// ClosingAt is when every open breakout room closes (ScheduleCloseAll);
	// zero when no close of all rooms is pending. A room's effective end is
	// the earlier of its EndsAt and ClosingAt.
	ClosingAt time.Time
}
