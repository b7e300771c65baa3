// Package webhook tells the host application what happens in sessions:
// it turns session events (rooms.Event) into signed JSON deliveries POSTed
// to one or more URLs, retried with exponential backoff for a bounded time.
// Delivery is at least once; every delivery carries an event id that stays
// the same across retries, so the receiver de-duplicates by it. A slow or
// dead endpoint never blocks the server: events wait in bounded queues, and
// what does not fit is dropped and counted (Stats).
//
// The scheme (headers, signature, body) is written down in README.md at
// the repository's root, with a verification example.
package webhook

import (
	"time"

	"github.com/sanctuary-sfu/sanctuary/rooms"
)

// Headers of every delivery.
const (
	// SignatureHeader is "sha256=" followed by the lowercase hex
	// HMAC-SHA256 of the raw body, keyed with the webhook secret.
	SignatureHeader = "X-Sanctuary-Signature"
	// IDHeader repeats the body's id: the same on every retry.
	IDHeader = "X-Sanctuary-Event-Id"
	// TypeHeader repeats the body's type.
	TypeHeader = "X-Sanctuary-Event"
)

// Event types, the values of Payload.Type. They are stable.
const (
	// TypeSessionStarted: a session's first change (its first join).
	TypeSessionStarted = "session.started"
	// TypeSessionEnded: the host ended the session, or (Reason "idle") it
	// was deleted after nobody had been in it for the idle time; Stats are
	// its statistics.
	TypeSessionEnded = "session.ended"
	// TypeParticipantJoined: a record was created (first join or a rejoin
	// after leaving). Participant.
	TypeParticipantJoined = "participant.joined"
	// TypeParticipantLeft: a participant left (or its reconnect grace ran
	// out). Participant, as it was.
	TypeParticipantLeft = "participant.left"
	// TypeParticipantMoved: one participant changed room. Participant
	// (Room is the new one), FromRoom, Actor.
	TypeParticipantMoved = "participant.moved"
	// TypeBreakoutsOpened: breakout rooms were opened. Rooms, Actor.
	TypeBreakoutsOpened = "breakouts.opened"
	// TypeBreakoutsAssigned: an assignment moved people. Participants
	// (after the move), Actor.
	TypeBreakoutsAssigned = "breakouts.assigned"
	// TypeBreakoutsClosed: breakout rooms were closed. Rooms, Participants
	// (their members, now in "main"), Actor ("" when a timer closed them).
	TypeBreakoutsClosed = "breakouts.closed"
	// TypeModeration: a host or moderator acted on a participant.
	// Action, Participant (after), Actor, Reason (removed only).
	TypeModeration = "moderation"
	// TypeAlert: a participant raised an emergency alert. Participant (who
	// raised it), Room (where it is), Message (possibly "").
	TypeAlert = "alert.raised"
)

// Values of Payload.Action for TypeModeration.
const (
	ActionMuted           = "muted"
	ActionUnmuted         = "unmuted"
	ActionRoleChanged     = "role_changed"
	ActionRemoved         = "removed"
	ActionUnmuteRequested = "unmute_requested"
)

// Payload is the JSON body of one delivery. It carries participant ids
// and aliases, never user ids, tokens or chat.
type Payload struct {
	ID           string        `json:"id"`   // unique per event; the same on every retry
	Type         string        `json:"type"` // one of the Type* constants
	Time         time.Time     `json:"time"` // when the server saw the event (RFC 3339, UTC)
	Session      string        `json:"session"`
	Version      uint64        `json:"version"`         // the session version after the change
	Actor        string        `json:"actor,omitempty"` // participant id of who asked; "" for an integration or a timer
	Participant  *Participant  `json:"participant,omitempty"`
	Participants []Participant `json:"participants,omitempty"`
	Rooms        []Room        `json:"rooms,omitempty"`
	Room         string        `json:"room,omitempty"`     // alert: the room of who raised it ("main" or a breakout id)
	FromRoom     string        `json:"fromRoom,omitempty"` // participant.moved
	Action       string        `json:"action,omitempty"`   // moderation
	Reason       string        `json:"reason,omitempty"`   // moderation removed; session.ended "idle"
	Message      string        `json:"message,omitempty"`  // alert
	Stats        *SessionStats `json:"stats,omitempty"`    // session.ended
}

// Participant is a participant as a delivery shows it.
type Participant struct {
	ID    string `json:"id"`
	Alias string `json:"alias"`
	Role  string `json:"role"`
	Room  string `json:"room"`
	Muted bool   `json:"muted,omitempty"`
}

// Room is a breakout room as a delivery shows it.
type Room struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Capacity int    `json:"capacity,omitempty"`
	// EndsAt is when the room's timer closes it, Unix milliseconds; 0: no
	// timer.
	EndsAt int64 `json:"endsAt,omitempty"`
}

// SessionStats are a session's statistics at its end.
type SessionStats struct {
	Created          time.Time `json:"created"`
	Ended            time.Time `json:"ended"`
	PeakParticipants int       `json:"peakParticipants"`
	TotalJoins       int       `json:"totalJoins"`
	BreakoutsCreated int       `json:"breakoutsCreated"`
	Moves            int       `json:"moves"`
	Removals         int       `json:"removals"`
}

func toParticipant(p rooms.Participant) Participant {
	return Participant{ID: p.ID, Alias: p.Alias, Role: string(p.Role), Room: p.Room, Muted: p.Muted}
}

func toParticipants(ps []rooms.Participant) []Participant {
	out := make([]Participant, len(ps))
	for i, p := range ps {
		out[i] = toParticipant(p)
	}
	return out
}

func toRooms(rs []rooms.Room) []Room {
	out := make([]Room, len(rs))
	for i, r := range rs {
		out[i] = Room{ID: r.ID, Name: r.Name, Capacity: r.Capacity}
		if !r.EndsAt.IsZero() {
			out[i].EndsAt = r.EndsAt.UnixMilli()
		}
	}
	return out
}

// payloads maps one session event to the deliveries it makes, in order
// (none for the events the host application is not told about: state
// changes, hands, chat, broadcasts, timers' warnings). ID and Time are
// left to the caller.
func payloads(ev rooms.Event) []Payload {
	var out []Payload
	if ev.Version == 1 {
		out = append(out, Payload{Type: TypeSessionStarted, Session: ev.Session, Version: ev.Version})
	}
	p := Payload{Session: ev.Session, Version: ev.Version, Actor: ev.Actor}
	who := toParticipant(ev.Participant)
	switch ev.Kind {
	case rooms.EventJoined:
		p.Type, p.Participant = TypeParticipantJoined, &who
	case rooms.EventLeft:
		p.Type, p.Participant = TypeParticipantLeft, &who
	case rooms.EventMoved:
		p.Type, p.Participant, p.FromRoom = TypeParticipantMoved, &who, ev.FromRoom
	case rooms.EventBreakoutsCreated:
		p.Type, p.Rooms = TypeBreakoutsOpened, toRooms(ev.Rooms)
	case rooms.EventAssigned:
		p.Type, p.Participants = TypeBreakoutsAssigned, toParticipants(ev.Moves)
	case rooms.EventRoomsClosed:
		p.Type, p.Rooms, p.Participants = TypeBreakoutsClosed, toRooms(ev.Rooms), toParticipants(ev.Moves)
	case rooms.EventSessionEnded:
		p.Type = TypeSessionEnded // Stats filled in later, outside the session's lock
	case rooms.EventAlert:
		p.Type, p.Participant, p.Room, p.Message = TypeAlert, &who, ev.Room, ev.Message
	case rooms.EventRemoved:
		p.Type, p.Participant, p.Action, p.Reason = TypeModeration, &who, ActionRemoved, ev.Reason
	case rooms.EventUnmuteRequested:
		p.Type, p.Participant, p.Action = TypeModeration, &who, ActionUnmuteRequested
	case rooms.EventUpdated:
		switch {
		case ev.Change == rooms.ChangeMuted && ev.Actor != ev.Participant.ID:
			p.Action = ActionUnmuted
			if ev.Participant.Muted {
				p.Action = ActionMuted
			}
		case ev.Change == rooms.ChangeRole:
			p.Action = ActionRoleChanged
		default:
			return out
		}
		p.Type, p.Participant = TypeModeration, &who
	default:
		return out
	}
	return append(out, p)
}
