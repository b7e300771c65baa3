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
	TypeJoin       = "join"        // authenticate and join a session; must be first
	TypeAnswer     = "answer"      // SDP answer to the server's offer
	TypeCandidate  = "candidate"   // trickle ICE candidate (both directions)
	TypePing       = "ping"        // liveness probe; answered by pong
	TypeLeave      = "leave"       // leave the session and close
	TypeSnapshot   = "snapshot"    // ask for the session snapshot (both directions)
	TypeICERestart = "ice.restart" // ask for an ICE restart offer on the one PeerConnection
)

// Commands, client to server: each is one atomic change of the session
// state, answered by ok (with the new version) or error. The same commands
// are served over REST (see rest.go); commands.go holds their handlers.
const (
	CmdCreateBreakouts = "breakouts.create"
	CmdAssign          = "breakouts.assign"
	CmdSelfSelect      = "breakouts.selfselect"
	CmdCloseBreakouts  = "breakouts.close"
	CmdCancelClose     = "breakouts.close.cancel" // cancel a breakouts.close with delaySec
	CmdMove            = "move"
	CmdBroadcast       = "broadcast"
	CmdMute            = "mute"
	CmdRequestUnmute   = "unmute.request"
	CmdRemove          = "remove"
	CmdSetRole         = "role"
	CmdHand            = "hand"
	CmdDeafen          = "deafen"
	CmdAlert           = "alert"
	CmdEndSession      = "session.end"
	CmdReact           = "react" // ephemeral: not versioned, answered by ok without version
)

// Chat requests, client to server (chat.go). Chat is not session state: it
// has a sequence number per stream instead of the session version.
const (
	CmdChatSend    = "chat.send"    // post a message; answered by ok with its stream and seq
	CmdChatDelete  = "chat.delete"  // delete a message (hosts, moderators); answered by ok
	CmdChatHistory = "chat.history" // the kept messages of a stream; answered by chat.history
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
	TypeOK       = "ok"       // a request succeeded; commands carry the new version
	TypeReaction = "reaction" // an ephemeral emoji reaction from someone in the room
	TypeRemoved  = "removed"  // a moderator removed this participant; the socket closes
	TypeBatch    = "batch"    // several messages in one frame, to clients that asked for it
	TypeRedirect = "redirect" // another node owns the session: join there (url); the socket closes

	TypeChat        = "chat"         // a chat message, to every socket reading its stream
	TypeChatDeleted = "chat.deleted" // a moderator deleted a chat message
	TypeChatReplay  = "chat.replay"  // after join: the chat missed since the join's chatSince
	TypeChatHistory = "chat.history" // answer to chat.history
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
	CodeICEFailed       = "ice_failed"                // the media path failed; ask ice.restart (or reconnect) to resume
	CodeNotNegotiated   = "not_negotiated"            // ice.restart before the first answer
	CodeConnectTimeout  = "connect_timeout"           // the PeerConnection did not connect in time after join
	CodeForbidden       = "forbidden"                 // the role may not do this; the message names the action
	CodeNotFound        = "not_found"                 // no such participant or room
	CodeRoomFull        = "room_full"                 // the breakout room is at capacity
	CodeInvalid         = "invalid"                   // a field's value is not acceptable
	CodeRemoved         = "removed"                   // this user was removed from the session
	CodeSessionEnded    = "session_ended"             // the host ended the session
	CodeSessionFull     = "session_full"              // (join) the session has its maximum of participants
	CodeServerFull      = "server_full"               // (join) the server has its maximum of participants or sessions
	CodeSessionMoving   = "session_moving"            // (join) the session's node died and its lease has not expired: reconnect in a moment
)

// Error codes of the HTTP APIs (REST and the Agora token endpoint), in the
// body `{"code": …, "message": …}`; the codes above are shared with them.
const (
	CodeUnauthorized       = "unauthorized"         // 401: no Authorization: Bearer header
	CodeNotAMember         = "not_a_member"         // 403: the user has no record in the session
	CodeBadRequest         = "bad_request"          // 400: the body is not the JSON expected, or no session is named
	CodeRequestTooLarge    = "request_too_large"    // 413: the body is over the endpoint's limit (REST 64 KiB, Agora 4 KiB)
	CodeMethodNotAllowed   = "method_not_allowed"   // 405: the path is served for other methods (see Allow)
	CodeAgoraNotConfigured = "agora_not_configured" // 503: the server has no Agora credentials
	CodeOriginNotAllowed   = "origin_not_allowed"   // 403: a browser page of another origin opened the websocket
	CodeTooManyConnections = "too_many_connections" // 429: this address has too many websockets open, or opens them too fast
	CodeAdminDisabled      = "admin_disabled"       // 404: the operator's API, on a server without -admin-token
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
	// Batch asks the server to send several messages in one batch frame
	// when they are waiting together (see Batch).
	Batch bool `json:"batch,omitempty"`
	// Resume, from a client whose websocket dropped while its
	// PeerConnection lives on, asks to keep that PeerConnection and to get
	// only the events after the version it saw.
	Resume *Resume `json:"resume,omitempty"`
	// ClientID and Attempt order the joins of one client (a page, a bot):
	// a random id per client and a number that grows with each of its
	// sockets. A join older than one of the same client already taken (a
	// late join from a socket the client gave up) is answered `replaced`
	// and takes nothing over.
	ClientID string `json:"clientId,omitempty"`
	Attempt  uint64 `json:"attempt,omitempty"`
	// ChatSince is, per chat stream, the last seq the client saw; after the
	// welcome the server sends every kept message after it (chat.replay).
	ChatSince map[string]uint64 `json:"chatSince,omitempty"`
}

// Resume is what a client resuming on a new socket knows of its last one.
type Resume struct {
	Key     string `json:"key"`     // the resumeKey of the welcome that negotiated the PeerConnection
	Version uint64 `json:"version"` // the newest session version the client applied
}

// Batch is several server messages in one frame, in order, each as it would
// have been sent alone. Sent only to clients that joined with batch: true,
// and only when more than one message is waiting. Built by nextFrame from
// the messages' encodings; this type documents the shape.
type Batch struct {
	Envelope
	Messages []json.RawMessage `json:"messages"`
}

// Welcome answers Join.
type Welcome struct {
	Envelope
	Protocol      int       `json:"protocol"`
	ParticipantID string    `json:"participantId"`
	Slots         int       `json:"slots"`              // K: downstream audio slots in the offer
	Snapshot      *Snapshot `json:"snapshot,omitempty"` // absent on a resume that is sent the missed events instead
	// ResumeKey lets this client resume on a new socket with the
	// PeerConnection negotiated now (Join.Resume.Key). It changes only
	// with a new PeerConnection.
	ResumeKey string `json:"resumeKey"`
	// Resumed says the join kept the client's PeerConnection: no offer
	// follows, and the events after Resume.Version follow instead of a
	// snapshot (unless Snapshot is set: those events were no longer kept).
	Resumed bool `json:"resumed,omitempty"`
	// ICEServers are the STUN and TURN servers to give the PeerConnection
	// (RTCConfiguration.iceServers), with credentials of this participant
	// that expire; absent when the server has none.
	ICEServers []ICEServer `json:"iceServers,omitempty"`
}

// ICEServer is one entry of RTCConfiguration.iceServers.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
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
	// ICERestart marks an offer that restarts ICE on the negotiated
	// PeerConnection (the answer to ice.restart): same m-lines, new ICE
	// credentials. Offer only.
	ICERestart bool `json:"iceRestart,omitempty"`
}

// Candidate is one trickled ICE candidate. A nil Candidate means the sender
// has gathered all of its candidates.
type Candidate struct {
	Envelope
	Candidate *webrtc.ICECandidateInit `json:"candidate"`
}

// Event is a versioned change of the session state. Which fields are set
// depends on Event; see PROTOCOL.md.
type Event struct {
	Envelope
	Event       string        `json:"event"` // see Event* constants
	Version     uint64        `json:"version"`
	Participant *Participant  `json:"participant,omitempty"`
	Actor       string        `json:"actor,omitempty"`  // participant id of who did it; "" for the server or an integration
	Change      string        `json:"change,omitempty"` // participant.updated: what changed
	FromRoom    string        `json:"fromRoom,omitempty"`
	Room        string        `json:"room,omitempty"`
	Rooms       []Room        `json:"rooms,omitempty"`
	Moves       []Participant `json:"moves,omitempty"`
	Message     string        `json:"message,omitempty"`
	Reason      string        `json:"reason,omitempty"`
	SelfSelect  *bool         `json:"selfSelect,omitempty"`
	ClosingAt   int64         `json:"closingAt,omitempty"` // breakouts.closing: unix milliseconds
}

// Command is every client-to-server command after join; each command uses
// the fields it needs (see PROTOCOL.md).
type Command struct {
	Envelope
	Rooms         []RoomSpec        `json:"rooms,omitempty"`        // breakouts.create
	Count         int               `json:"count,omitempty"`        // breakouts.create: N rooms named "Room 1".."Room N"
	Capacity      int               `json:"capacity,omitempty"`     // breakouts.create with count
	DurationSec   int               `json:"durationSec,omitempty"`  // breakouts.create with count
	Mode          string            `json:"mode,omitempty"`         // breakouts.assign
	Assignments   map[string]string `json:"assignments,omitempty"`  // breakouts.assign manual: participant id → room id
	Groups        [][]string        `json:"groups,omitempty"`       // breakouts.assign groups
	RoomIDs       []string          `json:"roomIds,omitempty"`      // breakouts.assign: target rooms
	IncludeStaff  bool              `json:"includeStaff,omitempty"` // breakouts.assign
	Enabled       *bool             `json:"enabled,omitempty"`      // breakouts.selfselect, mute, hand, deafen
	Room          string            `json:"room,omitempty"`         // move, breakouts.close (empty: all)
	DelaySec      int               `json:"delaySec,omitempty"`     // breakouts.close of all rooms: close after this many seconds, 0..3600
	ParticipantID string            `json:"participantId,omitempty"`
	Message       string            `json:"message,omitempty"` // broadcast, alert
	Reason        string            `json:"reason,omitempty"`  // remove
	Role          string            `json:"role,omitempty"`    // role
	Emoji         string            `json:"emoji,omitempty"`   // react
}

// RoomSpec asks for one breakout room.
type RoomSpec struct {
	Name        string `json:"name,omitempty"`
	Capacity    int    `json:"capacity,omitempty"`
	DurationSec int    `json:"durationSec,omitempty"`
	// Members are participant ids to move into the room as it opens (needs
	// the right to assign); the rooms open only if all of them can move.
	Members []string `json:"members,omitempty"`
}

// Room is one open breakout room.
type Room struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	Capacity     int    `json:"capacity,omitempty"`
	EndsAt       int64  `json:"endsAt,omitempty"` // unix milliseconds; absent: no timer
	WarnAt       int64  `json:"warnAt,omitempty"` // unix milliseconds
	AgoraChannel string `json:"agoraChannel"`
}

// OK answers a request that succeeded. Version is the session version
// after a command (absent for requests that change no state).
type OK struct {
	Envelope
	Version uint64 `json:"version,omitempty"`
}

// Reaction is an ephemeral emoji, sent to the members of the sender's room.
type Reaction struct {
	Envelope
	ParticipantID string `json:"participantId"`
	Emoji         string `json:"emoji"`
}

// Removed tells a participant that a moderator removed it; the socket
// closes next and the same user cannot join this session again.
type Removed struct {
	Envelope
	Reason string `json:"reason"`
}

// ChatCommand is chat.send, chat.delete and chat.history; each uses the
// fields it needs.
type ChatCommand struct {
	Envelope
	ClientMsgID string `json:"clientMsgId,omitempty"` // chat.send: the client's id for the message, for retries
	Text        string `json:"text,omitempty"`        // chat.send
	To          string `json:"to,omitempty"`          // chat.send: room (default), all, staff or staff:<participant id>
	Stream      string `json:"stream,omitempty"`      // chat.delete, chat.history
	Seq         uint64 `json:"seq,omitempty"`         // chat.delete
	After       uint64 `json:"after,omitempty"`       // chat.history: only messages with a greater seq
}

// ChatEntry is one chat message as clients see it. Text is plain text,
// never markup: clients must render it as text.
type ChatEntry struct {
	Stream      string `json:"stream"`
	Seq         uint64 `json:"seq"`
	Version     uint64 `json:"version"` // the session version it was posted at: it went live to who read its stream then
	ClientMsgID string `json:"clientMsgId"`
	From        string `json:"from"` // the sender's participant id
	Alias       string `json:"alias"`
	Text        string `json:"text"`              // "" when deleted
	At          int64  `json:"at"`                // unix milliseconds
	Deleted     bool   `json:"deleted,omitempty"` // replays and histories: a moderator deleted it
}

// Chat delivers one chat message.
type Chat struct {
	Envelope
	ChatEntry
}

// ChatRef names one chat message.
type ChatRef struct {
	Stream string `json:"stream"`
	Seq    uint64 `json:"seq"`
}

// ChatDeleted tells the readers of a stream that a message was deleted.
type ChatDeleted struct {
	Envelope
	ChatRef
}

// ChatSent answers chat.send (type ok), and chat.delete: the message's
// stream and seq. A retried chat.send gets the same answer.
type ChatSent struct {
	Envelope
	ChatRef
}

// ChatHistory answers chat.history.
type ChatHistory struct {
	Envelope
	Stream   string      `json:"stream"`
	Messages []ChatEntry `json:"messages"`
}

// ChatReplay carries, after a join, the chat the client missed: the kept
// messages after its chatSince, and the deletions of kept messages at or
// below it. A long replay comes in several chat.replay messages, in order;
// nothing missed, none.
type ChatReplay struct {
	Envelope
	Messages []ChatEntry `json:"messages"`
	Deleted  []ChatRef   `json:"deleted,omitempty"`
}

// Event names carried by Event.Event. They are the rooms package's event
// kinds, passed through unchanged.
const (
	EventParticipantJoined  = "participant.joined"
	EventParticipantLeft    = "participant.left"
	EventParticipantUpdated = "participant.updated"
	EventParticipantMoved   = "participant.moved"
	EventParticipantRemoved = "participant.removed"
	EventBreakoutsCreated   = "breakouts.created"
	EventBreakoutsAssigned  = "breakouts.assigned"
	EventBreakoutsClosed    = "breakouts.closed"
	EventBreakoutsWarning   = "breakouts.warning"
	EventBreakoutsClosing   = "breakouts.closing"
	EventClosingCancelled   = "breakouts.closing.cancelled"
	EventSelfSelect         = "breakouts.selfselect"
	EventBroadcast          = "broadcast"
	EventUnmuteRequested    = "unmute.requested"
	EventAlert              = "alert"
	EventSessionEnded       = "session.ended"
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
	Rooms        []Room        `json:"rooms"`           // open breakout rooms
	SelfSelect   bool          `json:"selfSelect"`      // participants may choose a room
	Hands        []string      `json:"hands"`           // raised hands, in the order raised
	Ended        bool          `json:"ended,omitempty"` // the host ended the session
	ClosingAt    int64         `json:"closingAt"`       // unix milliseconds when every breakout room closes; 0: not scheduled
	MainChannel  string        `json:"agoraChannel"`    // the main room's Agora channel
}

// Participant is one participant as clients see it.
type Participant struct {
	ID           string `json:"id"`
	Alias        string `json:"alias"`
	Role         string `json:"role"`
	Room         string `json:"room"`
	State        string `json:"state"`
	Muted        bool   `json:"muted,omitempty"`    // muted by a moderator: nobody hears them
	Deafened     bool   `json:"deafened,omitempty"` // hears nobody, by their own choice
	HandRaised   bool   `json:"handRaised,omitempty"`
	AgoraChannel string `json:"agoraChannel"` // the Agora channel of their room
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

// Redirect answers a join that landed on a node that does not own the
// session (several nodes on Redis): URL is the owner's websocket URL. The
// socket closes after it; the client joins there, with the same join.
type Redirect struct {
	Envelope
	URL string `json:"url"`
}
