package rooms

import "time"

// Event kinds, the values of Event.Kind. They are stable: signaling forwards
// them to clients.
const (
	EventJoined  = "participant.joined"  // a record was created
	EventLeft    = "participant.left"    // a record was removed
	EventUpdated = "participant.updated" // a record changed: takeover, state
)

// Event announces one change of a session's state. Every change produces
// exactly one event, and the events of a session are delivered in version
// order with no gap (within one incarnation of the session; see Snapshot).
type Event struct {
	Session string // the session id
	Version uint64 // the session version after this change
	Kind    string // one of EventJoined, EventLeft, EventUpdated
	// Participant is the record after the change; for EventLeft, the record
	// as it was when it was removed.
	Participant Participant
}

// Snapshot is a session's whole state at one version.
type Snapshot struct {
	Session string
	Version uint64 // the version this state is at; the last event's version
	// Created is when this incarnation of the session was created. A session
	// deleted (its last participant left) and created again starts over at
	// version 0 with a new Created: clients compare it to know that versions
	// they saw before do not continue.
	Created      time.Time
	Participants []Participant // in join order; a new slice the caller owns
}
