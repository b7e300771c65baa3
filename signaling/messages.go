package signaling

import (
	"encoding/json"

	"github.com/pion/webrtc/v4"
)

// ProtocolVersion is the version of the websocket protocol described in
// PROTOCOL.md. It is sent in every welcome.
const ProtocolVersion = 1

// Message types, client to server.
const (
	TypeJoin      = "join"      // authenticate and join a session; must be first
	TypeAnswer    = "answer"    // SDP answer to the server's offer
	TypeCandidate = "candidate" // trickle ICE candidate (both directions)
	TypePing      = "ping"      // liveness probe; answered by pong
	TypeLeave     = "leave"     // leave the session and close
	TypeSnapshot  = "snapshot"  // ask for the session snapshot (both directions)
)

// Message types, server to client.
const (
	TypeWelcome  = "welcome"  // answer to join
	TypeOffer    = "offer"    // the one SDP offer, sent right after welcome
	TypePong     = "pong"     // answer to ping
	TypeEvent    = "event"    // a versioned change of the session state
	TypeSlots    = "slots"    // which participant each downstream slot carries
	TypeError    = "error"    // a request failed; see the Code* constants
	TypeReplaced = "replaced" // the same user joined on another connection
	TypeOK       = "ok"       // a request without a result succeeded
)

// Error codes. They are stable: clients switch on them.
const (
	CodeBadMessage      = "bad_message"               // not JSON, or fields of the wrong type
	CodeUnknownType     = "unknown_type"              // a type this server does not know
	CodeTooLarge        = "message_too_large"         // over MaxMessageBytes; the message was discarded
	CodeRateLimited     = "rate_limited"              // over the per-connection message rate; dropped
	CodeAuthRequired    = "auth_required"             // the first message was not a join
	CodeAuthTimeout     = "auth_timeout"              // no join within AuthTimeout; the socket closes
	CodeTokenInvalid    = "token_invalid"             // bad signature, algorithm or claims
	CodeTokenExpired    = "token_expired"             // exp in the past (beyond the leeway)
	CodeWrongSession    = "wrong_session"             // the token is scoped to another session
	CodeAlreadyJoined   = "already_joined"            // a second join on the same socket
	CodeBadSDP          = "bad_sdp"                   // the answer or candidate was rejected
	CodeInternal        = "internal"                  // a server fault; logged with the request id
	CodeShuttingDown    = "shutting_down"             // the server is stopping
	CodeSessionNotFound = "session_not_found"         // no such session
	CodeRenegotiation   = "renegotiation_unsupported" // a second answer; the first stands
	CodeICEFailed       = "ice_failed"                // the media path failed; reconnect to resume
)

// Envelope is the part every message has. Requests carry an ID; the answer
// (or error) echoes it.
type Envelope struct {
	Type string `json:"type"`
	ID   string `json:"id,omitempty"`
}

// Join is the first message on a socket: it authenticates and joins.
type Join struct {
	Envelope
	Token   string `json:"token"`
	Session string `json:"session,omitempty"` // needed when the token names no session
	Alias   string `json:"alias,omitempty"`   // overrides the token's alias when set
}

// Welcome answers Join.
type Welcome struct {
	Envelope
	Protocol      int      `json:"protocol"`
	ParticipantID string   `json:"participantId"`
	Slots         int      `json:"slots"` // K: downstream audio slots in the offer
	Snapshot      Snapshot `json:"snapshot"`
}

// SDP carries an offer (server to client) or an answer (client to server).
type SDP struct {
	Envelope
	SDP string `json:"sdp"`
	// SlotMids lists, in slot order, the mid of each downstream slot's
	// m-line. Offer only.
	SlotMids []string `json:"slotMids,omitempty"`
	// UpstreamMid is the mid of the m-line the client sends its microphone
	// on. Offer only.
	UpstreamMid string `json:"upstreamMid,omitempty"`
}

// Candidate is one trickled ICE candidate. A nil Candidate means the sender
// has gathered all of its candidates.
type Candidate struct {
	Envelope
	Candidate *webrtc.ICECandidateInit `json:"candidate"`
}

// Event is a versioned change of the session state.
type Event struct {
	Envelope
	Event       string       `json:"event"` // see Event* constants
	Version     uint64       `json:"version"`
	Participant *Participant `json:"participant,omitempty"`
}

// Event names carried by Event.Event.
const (
	EventParticipantJoined  = "participant.joined"
	EventParticipantLeft    = "participant.left"
	EventParticipantUpdated = "participant.updated"
)

// Slots tells a client which participant each of its downstream slots
// carries: Slots[i] is slot i's participant id, "" when the slot is silent.
type Slots struct {
	Envelope
	Slots []string `json:"slots"`
}

// Error reports a failed request. ID echoes the request's id when known.
type Error struct {
	Envelope
	Code    string `json:"code"`
	Message string `json:"message"`
}

// SnapshotMessage carries the whole session state, on request.
type SnapshotMessage struct {
	Envelope
	Snapshot Snapshot `json:"snapshot"`
}

// Snapshot is the session state at one version.
type Snapshot struct {
	Session      string        `json:"session"`
	Version      uint64        `json:"version"`
	Participants []Participant `json:"participants"`
}

// Participant is one participant as clients see it.
type Participant struct {
	ID    string `json:"id"`
	Alias string `json:"alias"`
	Role  string `json:"role"`
	Room  string `json:"room"`
	State string `json:"state"`
}

// Replaced tells a connection that the same user joined on another one; the
// server closes this connection right after.
type Replaced struct {
	Envelope
	Message string `json:"message"`
}

// encode marshals a server message. The types above marshal without error,
// so a failure here is a programming error and is reported as such.
func encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("signaling: unencodable message: " + err.Error())
	}
	return b
}
